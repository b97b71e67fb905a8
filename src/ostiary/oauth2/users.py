"""The user behind a grant, re-checked at issue time (SEC-12, SEC-37), and the request's origin.

A grant that acts for a user — refresh, password, device code — must not trust what was true when
the user signed in or approved: the account may have been disabled since, or lost the permission a
scope stands for. `GrantUsers` is the one question the grants ask; the wiring layer answers it
from the user store and the policy engine.
"""

from __future__ import annotations

from typing import Protocol

from ostiary.core.context import RequestMeta
from ostiary.oauth2.requests import OAuthRequest

MAX_USER_AGENT = 256


class GrantUsers(Protocol):
    async def grantable_scopes(self, user_id: str, requested: tuple[str, ...]) -> tuple[str, ...] | None:
        """The subset of `requested` that `user_id` may be granted now, in the requested order.

        None when the user is unknown or disabled: the grant must then issue nothing (SEC-12).
        Protocol scopes (openid, profile, email, offline_access, …) are always grantable to a live
        user; every other scope names a permission and is grantable only if the policy engine says
        the user holds it. Implementations fail closed: an error is raised, never a wider answer.
        """
        ...


def request_meta(request: OAuthRequest) -> RequestMeta:
    """Where a token request comes from, for authn's audit records and throttles.

    No request id: the one the web layer assigns is not part of `OAuthRequest`, and a client-sent
    header must not be written into the audit log as if it were ours.
    """
    return RequestMeta(ip=request.client_ip, user_agent=(request.header("user-agent") or "")[:MAX_USER_AGENT])
