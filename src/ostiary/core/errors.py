"""Errors of the domain layers. The web layer maps each to a status; none carries a secret."""

from __future__ import annotations


class OstiaryError(Exception):
    """Base of every expected error. `code` is machine-readable, `message` safe to show."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        self.message = message or self.default_message()
        if code is not None:
            self.code = code
        super().__init__(self.message)

    def default_message(self) -> str:
        return "The request could not be processed."


class ValidationFailed(OstiaryError):
    status = 400
    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        self.field = field
        super().__init__(message, code=code)


class InvalidCredentials(OstiaryError):
    """One generic answer for unknown user, wrong password, disabled or locked account."""

    status = 401
    code = "invalid_credentials"

    def default_message(self) -> str:
        return "Invalid username or password."


class NotAuthenticated(OstiaryError):
    status = 401
    code = "not_authenticated"

    def default_message(self) -> str:
        return "Authentication required."


class ReauthRequired(OstiaryError):
    status = 401
    code = "reauth_required"

    def default_message(self) -> str:
        return "Please authenticate again to do this."


class Forbidden(OstiaryError):
    status = 403
    code = "forbidden"

    def default_message(self) -> str:
        return "You are not allowed to do this."


class NotFound(OstiaryError):
    status = 404
    code = "not_found"

    def default_message(self) -> str:
        return "Not found."


class Conflict(OstiaryError):
    status = 409
    code = "conflict"


class RateLimited(OstiaryError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message)

    def default_message(self) -> str:
        return "Too many attempts. Try again later."


class Overloaded(OstiaryError):
    """A bounded resource (the password-hashing pool) is full: answer fast instead of queueing."""

    status = 503
    code = "overloaded"

    def __init__(self, retry_after: int = 1, message: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message)

    def default_message(self) -> str:
        return "The server is busy. Try again shortly."


class StoreUnavailable(OstiaryError):
    """A backing store could not be reached: fail closed (SEC-77, SEC-78)."""

    status = 503
    code = "unavailable"

    def default_message(self) -> str:
        return "A backing service is unavailable. Try again shortly."


class InsufficientScope(Forbidden):
    """RFC 6750 §3.1: the token is valid but was not granted what this request needs."""

    code = "insufficient_scope"

    def default_message(self) -> str:
        return "The access token does not grant this."
