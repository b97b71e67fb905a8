"""`PATCH /auth/me`: a user edits their own profile — and only the fields a user may edit (SEC-57).

Only `username` and `email` are accepted. Privileged fields (`roles`, `is_admin`, `email_verified`,
`mfa_enabled`, `tenant_id`, …) answer 400 naming the field, as does any unknown field, and nothing is
written: a refused request changes nothing. Changing the email needs a recent authentication
(SEC-14: 401 `reauth_required` otherwise), clears `email_verified`, mails a notice to the old address
and a verification link to the new one (`AccountMail.email_changed`). The user is always the caller:
there is no user id in the path to point at someone else (SEC-56). The account page
(web/routes/account_pages.py) applies its form through `update_profile` too.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request

from ostiary.authn.accounts import validate_username
from ostiary.authn.mfa import require_recent_auth
from ostiary.authn.principals import Authenticated
from ostiary.core.errors import NotFound, ValidationFailed
from ostiary.storage.interfaces.users import UserRecord
from ostiary.web.deps import require_user_csrf, services_of
from ostiary.web.meta import request_meta
from ostiary.web.policy_marks import policy
from ostiary.web.routes.auth import user_json

router = APIRouter(prefix="/auth", tags=["auth"])
EDITABLE = frozenset({"username", "email"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def profile_changes(body: object) -> dict[str, Any]:
    """The validated fields of a profile edit (JSON object or form fields); 400 for anything else."""
    if not isinstance(body, dict) or not body:
        raise ValidationFailed("Send a JSON object with the fields to change.")
    for key in sorted(body):
        if key not in EDITABLE:
            raise ValidationFailed(
                f"{key}: this field cannot be changed here.", field=str(key), code="forbidden_field"
            )
    changes: dict[str, Any] = {}
    if "username" in body:
        value = body["username"]
        if not isinstance(value, str):
            raise ValidationFailed("username: a string", field="username")
        changes["username"] = validate_username(value)
    if "email" in body:
        value = body["email"]
        if value is not None and (not isinstance(value, str) or len(value) > 320 or not _EMAIL.match(value)):
            raise ValidationFailed("email: not an email address", field="email")
        changes["email"] = value
    return changes


async def update_profile(request: Request, auth: Authenticated, changes: dict[str, Any]) -> UserRecord:
    """Apply `profile_changes(…)` to the caller's own account; returns the account as stored."""
    services = services_of(request)
    meta = request_meta(request)
    user = await services.users.get(auth.user.id)
    if user is None:
        raise NotFound("No such user.")
    email_changed = "email" in changes and changes["email"] != user.email
    if email_changed:
        require_recent_auth(auth.principal, services.clock.now(), services.settings.reauth_window_seconds)
        changes["email_verified"] = False
    # updated_at is not passed: SqlUserStore.update refuses it today (tests/helpers.UPDATED_AT_BUG).
    await services.users.update(user.id, **changes)
    await services.auditor.record(
        "profile.update", meta, actor=user.id, subject=user.id, fields=sorted(changes)
    )
    if email_changed:  # a notice to the old address, a verification link to the new one
        services.email.account_mail.email_changed(user.id, user.email, meta)
    updated = await services.users.get(user.id)
    assert updated is not None
    return updated


@router.patch("/me")
@policy("authenticated")
async def update_me(request: Request, auth: Authenticated = Depends(require_user_csrf)) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ValidationFailed("The body is not JSON.") from None
    return user_json(await update_profile(request, auth, profile_changes(body)))
