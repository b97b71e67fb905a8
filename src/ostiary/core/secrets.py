"""Random identifiers and digests of secrets. Secrets at rest are stored only as digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def random_token(num_bytes: int = 32) -> str:
    """URL-safe random string with `num_bytes` bytes (8*num_bytes bits) of CSPRNG entropy."""
    return _secrets.token_urlsafe(num_bytes)


def sha256_hex(value: str) -> str:
    """Digest for high-entropy secrets (session ids, tokens): a KDF would add nothing but cost."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def hmac_sha256_hex(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    if isinstance(a, str):
        a = a.encode("utf-8")
    if isinstance(b, str):
        b = b.encode("utf-8")
    return hmac.compare_digest(a, b)


class InstanceSecret:
    """The instance's root secret; every purpose gets its own HKDF-derived subkey."""

    MIN_BYTES = 32

    def __init__(self, root: bytes) -> None:
        if len(root) < self.MIN_BYTES:
            raise ValueError("the instance secret must have at least 32 bytes")
        self._root = root
        self._derived: dict[str, bytes] = {}

    def derive(self, purpose: str, length: int = 32) -> bytes:
        key = f"{purpose}:{length}"
        if key not in self._derived:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode())
            self._derived[key] = hkdf.derive(self._root)
        return self._derived[key]

    @staticmethod
    def generate() -> bytes:
        return _secrets.token_bytes(32)
