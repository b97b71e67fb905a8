"""RFC 6749 §3.3: the `scope` parameter — a space-delimited, case-sensitive set of NQCHAR tokens."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ostiary.oauth2.errors import InvalidScope

# scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
MAX_SCOPES = 64
# OpenID Connect scopes name no permission and mean nothing without a user (OIDC Core §5.4, §11).
USER_ONLY_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access"})


def parse_scope(value: str | None) -> tuple[str, ...]:
    """The distinct scope tokens of `value`, in first-seen order; malformed → `invalid_scope`."""
    if value is None:
        return ()
    tokens: list[str] = []
    for token in value.split(" "):
        if token == "":
            continue  # tolerate doubled spaces; they carry no meaning
        if not _SCOPE_TOKEN.fullmatch(token):
            raise InvalidScope("The scope parameter is malformed.")
        if token not in tokens:
            tokens.append(token)
    if len(tokens) > MAX_SCOPES:
        raise InvalidScope("Too many scopes requested.")
    return tuple(tokens)


def format_scope(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


def intersect(requested: Iterable[str], allowed: Iterable[str]) -> tuple[str, ...]:
    """`requested ∩ allowed`, keeping the requested order."""
    allowed_set = frozenset(allowed)
    return tuple(s for s in requested if s in allowed_set)
