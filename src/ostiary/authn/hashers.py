"""Password hashers: an ordered list identified by prefix, the first preferred (as Django's).

New hashes are always argon2id (RFC 9106, OWASP parameters by default). The other hashers exist
only to verify hashes imported from other systems (bcrypt, Django PBKDF2) and report that they need
rehashing, so a user is moved to argon2id on their next successful login (SEC-05).

`identifies()` is stricter than a prefix test: it also checks that the encoding is well formed and
that its cost parameters are within caps, so an imported hash that would cost minutes (or GiBs) to
verify is refused up front rather than becoming a denial-of-service lever (cf. CVE-2013-1443).

Passwords are NFC-normalised before hashing (NIST SP 800-63B-4 §3.1.1.2), so the same password
typed as composed or decomposed Unicode verifies the same. Hashes made by systems that did not
normalise are still verified against the raw input as a fallback, and are then rehashed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError

from ostiary.core.secrets import constant_time_equals, random_token

# Defence in depth behind PasswordPolicy.check_length_only: no password above this reaches a KDF.
MAX_PASSWORD_BYTES = 16 * 1024


class PasswordHasher(Protocol):
    def identifies(self, encoded: str) -> bool:
        """True if `encoded` is a well-formed hash this hasher can verify at an acceptable cost."""
        ...

    def hash(self, password: str) -> str: ...

    def verify(self, password: str, encoded: str) -> bool:
        """Never raises for a bad password or encoding: a failure is simply False."""
        ...

    def needs_rehash(self, encoded: str) -> bool: ...


class Argon2idHasher:
    """argon2id with stored parameters (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), 16-byte salt."""

    # argon2i/argon2d hashes (older imports) verify too, and always need rehashing to argon2id.
    PREFIXES = ("$argon2id$", "$argon2i$", "$argon2d$")
    # Caps for imported hashes; the configured parameters are always allowed even if above them.
    MAX_MEMORY_KIB = 256 * 1024
    MAX_TIME_COST = 16
    MAX_PARALLELISM = 16

    def __init__(self, time_cost: int = 2, memory_kib: int = 19456, parallelism: int = 1) -> None:
        self._ph = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        self._max_memory = max(memory_kib, self.MAX_MEMORY_KIB)
        self._max_time = max(time_cost, self.MAX_TIME_COST)
        self._max_parallelism = max(parallelism, self.MAX_PARALLELISM)

    def identifies(self, encoded: str) -> bool:
        if not encoded.startswith(self.PREFIXES):
            return False
        try:
            params = argon2.extract_parameters(encoded)
        except (InvalidHashError, ValueError):
            return False
        return (
            params.memory_cost <= self._max_memory
            and params.time_cost <= self._max_time
            and params.parallelism <= self._max_parallelism
            and params.salt_len >= 8
        )

    def hash(self, password: str) -> str:
        return self._ph.hash(password)

    def verify(self, password: str, encoded: str) -> bool:
        if not self.identifies(encoded):
            return False
        try:
            return self._ph.verify(encoded, password)
        except (VerificationError, InvalidHashError):  # VerifyMismatchError is a VerificationError
            return False

    def needs_rehash(self, encoded: str) -> bool:
        try:
            return self._ph.check_needs_rehash(encoded)
        except (InvalidHashError, ValueError):
            return True


class BcryptHasher:
    """Verify-only, for imported `$2a$`/`$2b$`/`$2y$` hashes; always needs rehashing.

    bcrypt only ever looked at the first 72 bytes of a password, and bcrypt >= 5 raises ValueError
    beyond that. The legacy system that made the hash truncated, so we compare on the first 72
    bytes as it did (otherwise its users with long passwords could never log in), then rehash to
    argon2id, which has no such truncation, so the full password counts from then on.
    """

    _FORMAT = re.compile(r"\A\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}\Z")
    MAX_LOG_ROUNDS = 16  # cost 16 is already seconds per verify; above that is an import mistake

    def identifies(self, encoded: str) -> bool:
        match = self._FORMAT.match(encoded)
        return match is not None and 4 <= int(match.group(1)) <= self.MAX_LOG_ROUNDS

    def hash(self, password: str) -> str:
        raise NotImplementedError("bcrypt is verify-only: new hashes are argon2id")

    def verify(self, password: str, encoded: str) -> bool:
        if not self.identifies(encoded):
            return False
        try:
            return bcrypt.checkpw(password.encode("utf-8")[:72], encoded.encode("ascii"))
        except ValueError:
            return False

    def needs_rehash(self, encoded: str) -> bool:
        return True


class DjangoPbkdf2Hasher:
    """Verify-only, for Django's `pbkdf2_sha256$<iterations>$<salt>$<b64>` and `pbkdf2_sha1$…`."""

    _DIGESTS: ClassVar[Mapping[str, str]] = {"pbkdf2_sha256": "sha256", "pbkdf2_sha1": "sha1"}
    MAX_ITERATIONS = 2_000_000  # Django 5.x uses ~1M; more is a DoS lever, not security

    def _parse(self, encoded: str) -> tuple[str, int, str, bytes] | None:
        parts = encoded.split("$")
        if len(parts) != 4 or parts[0] not in self._DIGESTS:
            return None
        algorithm, iterations, salt, b64 = parts
        if not iterations.isascii() or not iterations.isdigit() or not salt:
            return None
        try:
            expected = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            return None
        digest = self._DIGESTS[algorithm]
        if len(expected) != hashlib.new(digest).digest_size:
            return None
        rounds = int(iterations)
        if not 1 <= rounds <= self.MAX_ITERATIONS:
            return None
        return digest, rounds, salt, expected

    def identifies(self, encoded: str) -> bool:
        return self._parse(encoded) is not None

    def hash(self, password: str) -> str:
        raise NotImplementedError("Django PBKDF2 is verify-only: new hashes are argon2id")

    def verify(self, password: str, encoded: str) -> bool:
        parsed = self._parse(encoded)
        if parsed is None:
            return False
        digest, rounds, salt, expected = parsed
        actual = hashlib.pbkdf2_hmac(digest, password.encode("utf-8"), salt.encode("utf-8"), rounds)
        return constant_time_equals(actual, expected)

    def needs_rehash(self, encoded: str) -> bool:
        return True


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    needs_rehash: bool = False


def _candidates(password: str) -> tuple[str, ...]:
    """Inputs to try: the NFC form, then the raw form if it differs. () if it can never match."""
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates: cannot be hashed, cannot match
        return ()
    if size > MAX_PASSWORD_BYTES:
        return ()
    normalized = unicodedata.normalize("NFC", password)
    return (normalized,) if normalized == password else (normalized, password)


class PasswordHashers:
    """The ordered hasher list: hash with the first, verify with whichever identifies the hash."""

    def __init__(self, hashers: Sequence[PasswordHasher]) -> None:
        if not hashers:
            raise ValueError("at least one password hasher is required")
        self._hashers = tuple(hashers)
        self._preferred = self._hashers[0]
        # Made once with the configured parameters, so that verifying an unknown user costs the
        # same as verifying a known one (SEC-64). This also fails fast if the first hasher
        # is verify-only.
        self._dummy = self._preferred.hash(random_token())

    @property
    def preferred(self) -> PasswordHasher:
        return self._preferred

    def hash(self, password: str) -> str:
        candidates = _candidates(password)
        if not candidates:
            raise ValueError("password is too long or not valid Unicode")
        return self._preferred.hash(candidates[0])

    def verify(self, password: str, encoded: str) -> VerifyResult:
        hasher = self._find(encoded)
        if hasher is None:
            return VerifyResult(ok=False)
        for index, candidate in enumerate(_candidates(password)):
            if self._safe_verify(hasher, candidate, encoded):
                # A match on the raw (un-normalised) input is rehashed on the NFC form.
                rehash = index > 0 or hasher is not self._preferred or self._safe_rehash(encoded)
                return VerifyResult(ok=True, needs_rehash=rehash)
        return VerifyResult(ok=False)

    def dummy_verify(self, password: str) -> bool:
        """Burn the cost of a failed verify for a user that does not exist. Always False."""
        for candidate in _candidates(password):
            self._safe_verify(self._preferred, candidate, self._dummy)
        return False

    def is_valid_encoding(self, encoded: str) -> bool:
        """For importers: is this a hash some configured hasher can verify?"""
        return self._find(encoded) is not None

    def _find(self, encoded: str) -> PasswordHasher | None:
        for hasher in self._hashers:
            try:
                if hasher.identifies(encoded):
                    return hasher
            except Exception:  # noqa: S112 - a faulty hasher must not break the others
                continue
        return None

    @staticmethod
    def _safe_verify(hasher: PasswordHasher, password: str, encoded: str) -> bool:
        try:
            return hasher.verify(password, encoded)
        except Exception:  # fail closed: an error in a hasher is a failed verify, never a 500
            return False

    def _safe_rehash(self, encoded: str) -> bool:
        try:
            return self._preferred.needs_rehash(encoded)
        except Exception:
            return True


def build_hashers(time_cost: int = 2, memory_kib: int = 19456, parallelism: int = 1) -> PasswordHashers:
    """argon2id preferred; bcrypt and Django PBKDF2 accepted for imports and upgraded on login."""
    return PasswordHashers(
        [Argon2idHasher(time_cost, memory_kib, parallelism), BcryptHasher(), DjangoPbkdf2Hasher()]
    )
