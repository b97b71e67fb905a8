"""Where to send a browser after login or logout (SEC-70): same-origin relative paths only."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

DEFAULT_AFTER_LOGIN = "/"


def safe_next(value: str | None, default: str = DEFAULT_AFTER_LOGIN) -> str:
    if not value or len(value) > 2000:
        return default
    decoded = unquote(value)
    # Refuse anything a browser could read as another origin: //host, /\host, scheme:, control chars.
    for candidate in (value, decoded):
        if not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
            return default
        if "\\" in candidate or any(ord(c) < 0x20 or ord(c) == 0x7F for c in candidate):
            return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
