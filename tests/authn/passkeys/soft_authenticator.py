"""A WebAuthn client and authenticator in software, for tests without a browser.

It does what a browser plus a CTAP2 authenticator do (W3C WebAuthn L2 §6.1, §6.3, §5.8.1): ES256 key
pairs, "none" attestation, authenticator data with rpIdHash, flags and a signature counter, and
clientDataJSON — and answers in the browser's JSON form that the server reads. Every field can be
bent (origin, type, rpId, flags, counter, signature, user handle) so that each check of SEC-51 can be
shown to refuse. The browser tests use Chromium's own virtual authenticator instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    resident: bool
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    origin: str
    rp_id: str
    counter_step: int = 1  # 0: an authenticator without a counter (as synced passkeys are)
    synced: bool = False  # sets the backup-eligible and backed-up flags
    credentials: list[SoftCredential] = field(default_factory=list)

    # --- navigator.credentials.create() -------------------------------------------------------------

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        ceremony: str = "webauthn.create",
        user_present: bool = True,
        user_verified: bool = True,
        credential_id: bytes | None = None,
        challenge: bytes | None = None,
    ) -> dict[str, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        cred_id = credential_id or secrets.token_bytes(32)
        resident = options.get("authenticatorSelection", {}).get("residentKey") == "required"
        credential = SoftCredential(
            cred_id, key, rp_id or options["rp"]["id"], unb64url(options["user"]["id"]), resident
        )
        self.credentials.append(credential)
        numbers = key.public_key().public_numbers()
        cose_key = cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )
        attested = bytes(16) + struct.pack(">H", len(cred_id)) + cred_id + cose_key
        flags = self._flags(user_present, user_verified) | AT
        auth_data = self._auth_data(credential.rp_id, flags, credential.sign_count) + attested
        client_data = self._client_data(ceremony, challenge or unb64url(options["challenge"]), origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(cred_id),
            "rawId": b64url(cred_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
        }

    # --- navigator.credentials.get() ----------------------------------------------------------------

    def get(
        self,
        options: dict[str, Any],
        *,
        credential: SoftCredential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        ceremony: str = "webauthn.get",
        user_present: bool = True,
        user_verified: bool = True,
        sign_count: int | None = None,
        user_handle: bytes | None = None,
        break_signature: bool = False,
    ) -> dict[str, Any]:
        chosen = credential or self.pick(options)
        if sign_count is None:
            chosen.sign_count += self.counter_step
            sign_count = chosen.sign_count
        flags = self._flags(user_present, user_verified)
        auth_data = self._auth_data(rp_id or chosen.rp_id, flags, sign_count)
        client_data = self._client_data(ceremony, unb64url(options["challenge"]), origin)
        signature = chosen.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        if break_signature:
            signature = chosen.key.sign(b"something else", ec.ECDSA(hashes.SHA256()))
        response: dict[str, Any] = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        handle = user_handle if user_handle is not None else chosen.user_handle if chosen.resident else None
        if handle is not None:
            response["userHandle"] = b64url(handle)
        return {
            "id": b64url(chosen.credential_id),
            "rawId": b64url(chosen.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        }

    def pick(self, options: dict[str, Any]) -> SoftCredential:
        """The credential a user would pick: from allowCredentials, else a discoverable one."""
        allowed = {unb64url(c["id"]) for c in options.get("allowCredentials") or []}
        for credential in reversed(self.credentials):
            if (credential.credential_id in allowed) if allowed else credential.resident:
                return credential
        raise LookupError("no credential of this authenticator fits the options")

    # --- parts --------------------------------------------------------------------------------------

    def _flags(self, user_present: bool, user_verified: bool) -> int:
        flags = (UP if user_present else 0) | (UV if user_verified else 0)
        return flags | (BE | BS if self.synced else 0)

    @staticmethod
    def _auth_data(rp_id: str, flags: int, sign_count: int) -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)

    def _client_data(self, ceremony: str, challenge: bytes, origin: str | None) -> bytes:
        data = {
            "type": ceremony,
            "challenge": b64url(challenge),
            "origin": origin or self.origin,
            "crossOrigin": False,
        }
        return json.dumps(data).encode()
