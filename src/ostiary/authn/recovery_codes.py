"""Recovery codes: ten single-use look-up secrets (NIST SP 800-63B §5.1.2) for a lost authenticator.

Each code is 12 characters of Crockford base32 (60 bits, SEC-50 asks for ≥ 50), shown once, grouped
as `xxxx-xxxx-xxxx`. Input is forgiving: case, spaces and hyphens do not matter, and the letters
people confuse with digits (o, i, l) read as 0 and 1. At rest each code is an HMAC-SHA256 digest
under an instance-secret subkey, bound to its user; a used code's row is deleted by one DELETE
whose row count decides, so a code works once even when sent twice at the same moment.
"""

from __future__ import annotations

import secrets

from ostiary.core.clock import Clock
from ostiary.core.secrets import InstanceSecret, hmac_sha256_hex
from ostiary.storage.interfaces.mfa import RecoveryCodeStore

COUNT = 10
LENGTH = 12
GROUP = 4
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford: no i, l, o, u
DIGEST_PURPOSE = "recovery-code"
_CONFUSABLE = str.maketrans({"o": "0", "i": "1", "l": "1"})


def normalize(value: str | None) -> str | None:
    """The canonical 12 characters of a typed code, or None if it cannot be one."""
    if value is None or len(value) > 64:
        return None
    compact = "".join(value.split()).replace("-", "").lower().translate(_CONFUSABLE)
    if len(compact) != LENGTH or any(c not in ALPHABET for c in compact):
        return None
    return compact


def generate_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


class RecoveryCodes:
    def __init__(self, store: RecoveryCodeStore, secret: InstanceSecret, clock: Clock) -> None:
        self._store = store
        self._key = secret.derive(DIGEST_PURPOSE)
        self._clock = clock

    def digest(self, user_id: str, normalized: str) -> str:
        return hmac_sha256_hex(self._key, f"{user_id}:{normalized}")

    def new_set(self, user_id: str) -> tuple[list[str], list[str]]:
        """(codes to show once, digests to store). Duplicates are drawn again (60 bits: never, really)."""
        codes: list[str] = []
        while len(codes) < COUNT:
            code = generate_code()
            if code not in codes:
                codes.append(code)
        return codes, [self.digest(user_id, normalize(c) or "") for c in codes]

    async def regenerate(self, user_id: str) -> list[str]:
        """A fresh set; every earlier code stops working in the same unit of work."""
        codes, digests = self.new_set(user_id)
        await self._store.replace(user_id, digests, now=self._clock.now())
        return codes

    async def consume(self, user_id: str, presented: str | None) -> bool:
        normalized = normalize(presented)
        if normalized is None:
            return False
        return await self._store.consume(user_id, self.digest(user_id, normalized))

    async def remaining(self, user_id: str) -> int:
        return await self._store.count(user_id)
