"""The account pages (docs/account.md), part 2: who has access to the account — signed-in browsers,
apps holding refresh tokens, connected OAuth apps (consents), and API keys.

As in account_pages.py: a browser session only, forms CSRF-checked (SEC-13), the same services as
the JSON routes (sessions.py, tokens.py, oauth_consents.py, api_keys.py), and everything scoped to
the caller: an id of another user's session, family, consent or key is simply not found (SEC-56).
Ids travel in hidden form fields, never in the path, so no id needs URL-escaping.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from ostiary.authn.api_keys import IssuedKey, key_json
from ostiary.authn.principals import Authenticated
from ostiary.core.errors import NotFound, ValidationFailed
from ostiary.storage.interfaces.api_keys import ApiKeyKind
from ostiary.web.account_page import Posted, Problem, back_to, handle, render_account, signed_in, to_login
from ostiary.web.deps import services_of
from ostiary.web.meta import request_meta
from ostiary.web.policy_marks import policy
from ostiary.web.routes.sessions import handle_of

router = APIRouter(include_in_schema=False)
SESSIONS_PATH = "/account/sessions"
APPS_PATH = "/account/apps"
KEYS_PATH = "/account/api-keys"
DAY = 86400
LIFETIMES = ((7 * DAY, "7 days"), (30 * DAY, "30 days"), (90 * DAY, "90 days"), (365 * DAY, "1 year"))
KINDS: dict[str, ApiKeyKind] = {"stateful": "stateful", "stateless": "stateless"}


def _required(got: Posted, name: str) -> str:
    value = got.get(name)
    if not value:
        raise ValidationFailed(f"The field '{name}' is required.", field=name, code="missing_field")
    return value


# --- sessions and token families -----------------------------------------------------------------


async def show_sessions(request: Request, auth: Authenticated, problem: Problem | None = None) -> Response:
    services = services_of(request)
    records = await services.sessions.list_user(auth.user.id)
    families = await services.tokens.refresh.families(auth.user.id)
    names: dict[str, str] = {}
    if services.oauth is not None:
        for client_id in {f.client_id for f in families}:
            client = await services.oauth.clients.get(client_id)
            if client is not None and client.name:
                names[client_id] = client.name
    return render_account(
        request,
        auth,
        "account_sessions.html",
        section="sessions",
        problem=problem,
        sessions=[(handle_of(r), r) for r in records],
        current=auth.session,
        families=families,
        client_names=names,
    )


@router.get(SESSIONS_PATH)
@policy("page")
async def sessions_page(request: Request) -> Response:
    auth = await signed_in(request)
    return to_login(SESSIONS_PATH) if auth is None else await show_sessions(request, auth)


@router.post(f"{SESSIONS_PATH}/revoke")
@policy("page")
async def revoke_session(request: Request) -> Response:
    async def revoke(got: Posted) -> Response:
        services = services_of(request)
        handle = _required(got, "session")
        for record in await services.sessions.list_user(got.auth.user.id):  # the caller's own only
            if handle_of(record) == handle:
                await services.sessions.revoke(record.digest)
                await services.auditor.record(
                    "session.revoke", request_meta(request), actor=got.auth.user.id, subject=got.auth.user.id
                )
                current = got.auth.session is not None and record.digest == got.auth.session.digest
                return to_login(SESSIONS_PATH) if current else back_to(SESSIONS_PATH, "session_revoked")
        raise NotFound("No such session: it may have ended already.")

    return await handle(request, SESSIONS_PATH, revoke, show_sessions)


@router.post(f"{SESSIONS_PATH}/revoke-others")
@policy("page")
async def revoke_other_sessions(request: Request) -> Response:
    async def revoke(got: Posted) -> Response:
        services = services_of(request)
        keep = got.auth.session.digest if got.auth.session else None
        count = await services.sessions.revoke_user(got.auth.user.id, keep=keep)
        await services.auditor.record(
            "session.revoke_others",
            request_meta(request),
            actor=got.auth.user.id,
            subject=got.auth.user.id,
            count=count,
        )
        return back_to(SESSIONS_PATH, "sessions_revoked")

    return await handle(request, SESSIONS_PATH, revoke, show_sessions)


@router.post(f"{SESSIONS_PATH}/tokens/revoke")
@policy("page")
async def revoke_family(request: Request) -> Response:
    async def revoke(got: Posted) -> Response:
        services = services_of(request)
        family = _required(got, "family")
        user_id = got.auth.user.id
        if not await services.tokens.refresh.revoke_family(family, reason="user", user_id=user_id):
            raise NotFound("No such app sign-in: it may have ended already.")
        await services.auditor.record(
            "token.family_revoke", request_meta(request), actor=user_id, subject=user_id, family=family
        )
        return back_to(SESSIONS_PATH, "family_revoked")

    return await handle(request, SESSIONS_PATH, revoke, show_sessions)


# --- connected apps (OAuth consents, SEC-41) -----------------------------------------------------


async def show_apps(request: Request, auth: Authenticated, problem: Problem | None = None) -> Response:
    wiring = services_of(request).oauth
    consents = []
    if wiring is not None:
        for consent in await wiring.consents.list_for_user(auth.user.id):
            client = await wiring.clients.get(consent.client_id)
            consents.append(
                {
                    "client_id": consent.client_id,
                    "client_name": client.name if client is not None else None,
                    "scopes": sorted(consent.scopes),
                    "granted_at": consent.granted_at,
                }
            )
    return render_account(
        request, auth, "account_apps.html", section="apps", problem=problem, consents=consents
    )


@router.get(APPS_PATH)
@policy("page")
async def apps_page(request: Request) -> Response:
    auth = await signed_in(request)
    return to_login(APPS_PATH) if auth is None else await show_apps(request, auth)


@router.post(f"{APPS_PATH}/revoke")
@policy("page")
async def revoke_app(request: Request) -> Response:
    """As DELETE /auth/consents/{client_id}: the consent goes, and with it the app's token families."""

    async def revoke(got: Posted) -> Response:
        services = services_of(request)
        client_id = _required(got, "client_id")
        user_id = got.auth.user.id
        if services.oauth is None or not await services.oauth.revoke_consent(user_id, client_id):
            raise NotFound("This app has no access to your account.")
        await services.auditor.record(
            "oauth.consent_revoked",
            request_meta(request),
            actor=user_id,
            subject=user_id,
            client_id=client_id,
        )
        return back_to(APPS_PATH, "app_revoked")

    return await handle(request, APPS_PATH, revoke, show_apps)


# --- API keys (docs/api_keys.md) -----------------------------------------------------------------


async def show_keys(
    request: Request,
    auth: Authenticated,
    problem: Problem | None = None,
    *,
    issued: IssuedKey | None = None,
    form_name: str | None = None,
    form_scopes: frozenset[str] = frozenset(),
) -> Response:
    services = services_of(request)
    manager = services.api_keys.manager
    now = services.clock.now()
    records = sorted(await manager.list_keys(auth.user.id), key=lambda r: r.created_at, reverse=True)
    lifetimes = [(s, label) for s, label in LIFETIMES if s <= manager.config.max_ttl]
    default = manager.config.default_ttl
    if default not in {s for s, _ in lifetimes}:
        lifetimes = sorted([*lifetimes, (default, f"{default // DAY} days")])
    return render_account(
        request,
        auth,
        "account_api_keys.html",
        section="api-keys",
        problem=problem,
        notice="The key was created." if issued else None,
        issued=issued,
        keys=[key_json(r, now) for r in records],
        permissions=sorted(auth.principal.permissions),
        lifetimes=lifetimes,
        default_lifetime=default,
        form_name=form_name,
        form_scopes=form_scopes,
    )


@router.get(KEYS_PATH)
@policy("page")
async def keys_page(request: Request) -> Response:
    auth = await signed_in(request)
    return to_login(KEYS_PATH) if auth is None else await show_keys(request, auth)


@dataclass
class _KeyForm:
    name: str = ""
    scopes: frozenset[str] = frozenset()


def _lifetime(got: Posted) -> int | None:
    value = got.get("expires_in")
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise ValidationFailed("Choose how long the key lives.", field="expires_in")
    return int(value)


@router.post(KEYS_PATH)
@policy("page")
async def create_key(request: Request) -> Response:
    """The new key is rendered into this answer only (no-store): it is never shown again."""
    typed = _KeyForm()

    async def create(got: Posted) -> Response:
        scopes = got.all("scope")
        typed.name, typed.scopes = got.get("name") or "", frozenset(scopes)
        if not scopes:
            raise ValidationFailed("Choose at least one thing the key may do.", field="scopes")
        kind = KINDS.get(got.get("kind") or "stateful")
        if kind is None:
            raise ValidationFailed("Choose a standard or a signed key.", field="kind")
        issued = await services_of(request).api_keys.manager.create(
            got.auth.principal,
            name=got.get("name") or "",
            scopes=scopes,
            kind=kind,
            expires_in=_lifetime(got),
            meta=request_meta(request),
        )
        return await show_keys(request, got.auth, issued=issued)

    async def again(request: Request, auth: Authenticated, problem: Problem | None) -> Response:
        # The form again with what was typed and ticked (never a secret: a key has none yet).
        return await show_keys(request, auth, problem, form_name=typed.name, form_scopes=typed.scopes)

    return await handle(request, KEYS_PATH, create, again)


@router.post(f"{KEYS_PATH}/revoke")
@policy("page")
async def revoke_key(request: Request) -> Response:
    async def revoke(got: Posted) -> Response:
        await services_of(request).api_keys.manager.revoke(
            got.auth.principal, _required(got, "key_id"), meta=request_meta(request)
        )
        return back_to(KEYS_PATH, "key_revoked")

    return await handle(request, KEYS_PATH, revoke, show_keys)
