"""RFC 6238 TOTP as a second factor: enrollment, activation by a correct code, one use per step.

- The seed is 160 random bits (RFC 4226 §4 R6; SEC-50), shown once as base32, as an `otpauth://` URI
  and as a QR code drawn here (segno, SVG) so that it never passes through a third party.
- At rest the seed is AES-256-GCM ciphertext under `InstanceSecret.derive("totp-seed")`, with the
  user id as associated data: a ciphertext copied onto another user's row does not open.
- A code is checked against the steps t-1, t and t+1 (RFC 6238 §5.2: one step of drift each way) of
  the server's clock; the caller can send no time. The accepted step is recorded with a conditional
  UPDATE (`last_used_step < :step`), so a code — and any older one — works once, even when the same
  code arrives twice at the same moment (SEC-47).
"""

from __future__ import annotations

import base64
import hmac
import io
import secrets
from dataclasses import dataclass

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ostiary.core.clock import Clock
from ostiary.core.errors import Conflict
from ostiary.core.secrets import InstanceSecret
from ostiary.storage.interfaces.mfa import TotpCredential, TotpStore

SEED_BYTES = 20  # 160 bits
DIGITS = 6
PERIOD = 30
DRIFT_STEPS = 1
SEED_PURPOSE = "totp-seed"
_BLOB_VERSION = b"\x01"
_NONCE_BYTES = 12


class SeedDecryptionError(Exception):
    """A stored seed could not be opened: another instance secret, another user's row, or tampering."""


@dataclass(frozen=True)
class TotpConfig:
    issuer_name: str = "ostiary"  # the label authenticator apps show
    enrollment_seconds: int = 600  # how long a started enrollment waits for its first code


@dataclass(frozen=True)
class TotpEnrollment:
    secret: str  # base32 manual-entry key; shown once, never stored in the clear
    uri: str  # otpauth://totp/…
    qr_svg: str
    expires_at: float


class SeedCipher:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, user_id: str, seed: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _BLOB_VERSION + nonce + self._aead.encrypt(nonce, seed, user_id.encode())

    def open(self, user_id: str, blob: bytes) -> bytes:
        if len(blob) <= 1 + _NONCE_BYTES or blob[:1] != _BLOB_VERSION:
            raise SeedDecryptionError("unknown seed format")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, user_id.encode())
        except InvalidTag:
            raise SeedDecryptionError("the seed does not open with this key for this user") from None


def base32_of(seed: bytes) -> str:
    return base64.b32encode(seed).decode("ascii").rstrip("=")


def code_at(seed: bytes, step: int) -> str:
    return pyotp.TOTP(base32_of(seed), digits=DIGITS, interval=PERIOD).generate_otp(step)


def step_at(now: float) -> int:
    return int(now // PERIOD)


def normalize_code(value: str | None) -> str | None:
    """Six ASCII digits (spaces allowed, as apps show "123 456"); anything else is no code."""
    if value is None or len(value) > 32:
        return None
    digits = "".join(value.split())
    return digits if len(digits) == DIGITS and digits.isascii() and digits.isdigit() else None


def matching_step(seed: bytes, code: str, now: float, *, after: int) -> int | None:
    """The newest step within ±DRIFT_STEPS whose code equals `code` and is newer than `after`.

    Every candidate is computed and compared in constant time, matched or not.
    """
    found = None
    current = step_at(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at(seed, step), code) and step > after:
            found = step
    return found


def qr_svg(uri: str) -> str:
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", xmldecl=False, scale=4, border=2, title="TOTP QR code")
    return out.getvalue().decode("utf-8")


class TotpAuthenticator:
    def __init__(self, store: TotpStore, secret: InstanceSecret, clock: Clock, config: TotpConfig) -> None:
        self._store = store
        self._cipher = SeedCipher(secret.derive(SEED_PURPOSE))
        self._clock = clock
        self.config = config

    async def credential(self, user_id: str) -> TotpCredential | None:
        return await self._store.get(user_id)

    async def begin(self, user_id: str, account_name: str) -> TotpEnrollment:
        """A new pending seed (replacing any earlier pending one). Conflict when TOTP is already on."""
        seed = secrets.token_bytes(SEED_BYTES)
        now = self._clock.now()
        if not await self._store.save_pending(user_id, self._cipher.seal(user_id, seed), now=now):
            raise Conflict("Two-step verification is already on. Turn it off first to set up a new app.")
        secret = base32_of(seed)
        uri = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(
            name=account_name, issuer_name=self.config.issuer_name
        )
        return TotpEnrollment(secret, uri, qr_svg(uri), now + self.config.enrollment_seconds)

    async def activate(self, user_id: str, code: str | None, recovery_digests: list[str]) -> bool:
        """Turn the pending seed on if `code` is correct for it (and mark the user `mfa_enabled`)."""
        credential = await self._store.get(user_id)
        normalized = normalize_code(code)
        now = self._clock.now()
        if credential is None or credential.active or normalized is None:
            return False
        if now > credential.created_at + self.config.enrollment_seconds:
            return False
        seed = self._cipher.open(user_id, credential.encrypted_seed)
        step = matching_step(seed, normalized, now, after=credential.last_used_step)
        if step is None:
            return False
        return await self._store.activate(
            user_id, credential.encrypted_seed, step=step, recovery_digests=recovery_digests, now=now
        )

    async def verify(self, user_id: str, code: str | None) -> bool:
        """True once per accepted time step: a replay, even a concurrent one, is False (SEC-47)."""
        normalized = normalize_code(code)
        credential = await self._store.get(user_id)
        if normalized is None or credential is None or not credential.active:
            return False
        seed = self._cipher.open(user_id, credential.encrypted_seed)
        step = matching_step(seed, normalized, self._clock.now(), after=credential.last_used_step)
        return step is not None and await self._store.use_step(user_id, step)

    async def remove(self, user_id: str) -> bool:
        return await self._store.remove(user_id)
