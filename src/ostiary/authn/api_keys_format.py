"""The shape of an API key (SEC-52): a typed prefix secret scanners can match, and ≥ 128 random bits.

    osk_<8-char lookup prefix>_<32-char secret>     stateful: checked against the stored digest
    oskj_<compact JWS>                              stateless: a signed JWT (api_keys_stateless.py)

Both random parts are base62 drawn from `secrets`: the secret carries 32·log2(62) ≈ 190 bits; the
lookup prefix (≈ 47 bits) is public — it is stored in clear and shown in listings so that a row can
be found without scanning digests — and is not counted as secret. The whole key is digested with
SHA-256: at this entropy a password KDF would add cost and nothing else (DESIGN.md).
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Literal

from ostiary.core.secrets import sha256_hex

STATEFUL_PREFIX = "osk_"
STATELESS_PREFIX = "oskj_"
LOOKUP_CHARS = 8
SECRET_CHARS = 32
MAX_KEY_CHARS = 4096  # a stateless key with many scopes is a few hundred characters
_ALPHABET = string.ascii_letters + string.digits
_STATEFUL = re.compile(rf"osk_([A-Za-z0-9]{{{LOOKUP_CHARS}}})_[A-Za-z0-9]{{{SECRET_CHARS}}}")
_LOOKUP = re.compile(rf"osk_([A-Za-z0-9]{{{LOOKUP_CHARS}}})_")


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_lookup_prefix() -> str:
    return _random(LOOKUP_CHARS)


def stateful_key(lookup_prefix: str) -> str:
    """A new stateful key with this lookup prefix; its secret part is fresh CSPRNG output."""
    return f"{STATEFUL_PREFIX}{lookup_prefix}_{_random(SECRET_CHARS)}"


def key_digest(key: str) -> str:
    return sha256_hex(key)


def lookup_prefix_of(value: str) -> str | None:
    """The lookup prefix of a well-formed stateful key, else None."""
    match = _STATEFUL.fullmatch(value)
    return match.group(1) if match else None


def claimed_prefix(value: str) -> str | None:
    """The lookup prefix a presented value claims, even if the rest is malformed (for throttling and
    audit; it is 8 base62 characters, never part of the secret)."""
    match = _LOOKUP.match(value)
    return match.group(1) if match else None


def kind_of(value: str) -> Literal["stateful", "stateless"] | None:
    """Which kind of key a value claims to be by its typed prefix (None: not an API key)."""
    if value.startswith(STATELESS_PREFIX):
        return "stateless"
    if value.startswith(STATEFUL_PREFIX):
        return "stateful"
    return None


def display_prefix(lookup_prefix: str | None) -> str:
    """What a listing shows of a key: enough to recognise it, nothing of the secret."""
    return f"{STATEFUL_PREFIX}{lookup_prefix}_…" if lookup_prefix else f"{STATELESS_PREFIX}…"
