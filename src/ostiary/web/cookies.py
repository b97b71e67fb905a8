"""Cookie names and attributes (SEC-09): `__Host-` + Secure over HTTPS, HttpOnly, SameSite=Lax, Path=/.

Over plain-HTTP development (loopback issuer only) browsers refuse Secure and `__Host-` cookies, so
both are dropped there and the server logs a warning at start.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response


@dataclass(frozen=True)
class CookiePolicy:
    secure: bool

    @property
    def session_name(self) -> str:
        return "__Host-ostiary_session" if self.secure else "ostiary_session"

    # Readable by scripts on purpose: SPAs copy it into the X-CSRF-Token header.
    csrf_name: str = "csrftoken"

    def set_session(self, response: Response, session_id: str) -> None:
        # No Max-Age: a browser-session cookie; the server enforces idle and absolute expiry.
        response.set_cookie(
            self.session_name, session_id, path="/", secure=self.secure, httponly=True, samesite="lax"
        )

    def set_csrf(self, response: Response, token: str) -> None:
        response.set_cookie(
            self.csrf_name, token, path="/", secure=self.secure, httponly=False, samesite="lax"
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(self.session_name, path="/", secure=self.secure, httponly=True, samesite="lax")
        response.delete_cookie(self.csrf_name, path="/", secure=self.secure, httponly=False, samesite="lax")
