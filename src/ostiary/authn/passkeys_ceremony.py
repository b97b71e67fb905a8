"""What every WebAuthn ceremony shares (W3C WebAuthn L2 §7.1, §7.2; SEC-51): the relying party, the
single-use challenges, parsing what the browser sent, and the errors.

The relying party is the issuer: `rp_id` is its host and the only accepted origin is its origin, so
a page on any other origin (a phishing look-alike, a subdomain) cannot use a passkey made here.
Browsers accept no IP address as an rp_id, so an issuer on an IP has no passkeys.

A challenge is 32 random bytes. The server keeps only their SHA-256, with the ceremony's purpose, the
user it belongs to (none for a passwordless login, where the user is not known yet) and a binding: the
pending MFA login it serves, or the SHA-256 of a nonce that only the asking browser holds. The
challenge is read back from `clientDataJSON` and consumed (DELETE … RETURNING) before anything else is
checked, so a challenge is used at most once, whatever the outcome, and never after its short life.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import options_to_json
from webauthn.helpers import base64url_to_bytes, parse_authentication_credential_json
from webauthn.helpers import parse_registration_credential_json as parse_registration
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorTransport,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialRequestOptions,
    RegistrationCredential,
)

from ostiary.core.clock import Clock
from ostiary.core.errors import NotAuthenticated, ValidationFailed
from ostiary.core.secrets import constant_time_equals
from ostiary.storage.interfaces.passkeys import PasskeyChallenge, PasskeyChallengeStore, PasskeyRecord

CHALLENGE_BYTES = 32  # SEC-51 asks for at least 16
REGISTER_PASSKEY = "register_passkey"  # discoverable, user verification required: passwordless-capable
REGISTER_KEY = "register_key"  # a security key for the second step only
SECOND_FACTOR = "second_factor"
PASSWORDLESS = "passwordless"
REGISTER_PURPOSES = frozenset({REGISTER_PASSKEY, REGISTER_KEY})


class PasskeyRejected(NotAuthenticated):
    """One answer for every failed assertion: unknown or removed credential, bad signature, wrong
    origin or rpId, missing user presence or verification, a counter that went back."""

    code = "passkey_rejected"

    def default_message(self) -> str:
        return "The passkey could not be verified. Try again."


class PasskeyChallengeInvalid(NotAuthenticated):
    code = "passkey_challenge_invalid"

    def default_message(self) -> str:
        return "This passkey request expired or was already used. Start again."


class PasskeyInvalid(ValidationFailed):
    """A registration that does not verify."""

    def __init__(self, message: str = "The new passkey could not be verified. Try again.") -> None:
        super().__init__(message, field="credential", code="passkey_invalid")


@dataclass(frozen=True)
class PasskeyConfig:
    rp_id: str
    rp_name: str
    origin: str
    challenge_seconds: int = 300  # W3C L3 recommends a 300 s ceremony timeout when UV is wanted
    max_per_user: int = 20

    @classmethod
    def for_issuer(cls, issuer: str, rp_name: str, challenge_seconds: int = 300) -> PasskeyConfig:
        """rp_id = the issuer's host, origin = its scheme://host[:port]; ValueError for an IP host."""
        parts = urlsplit(issuer)
        host = (parts.hostname or "").lower()
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            raise ValueError(f"WebAuthn needs a domain name as rp_id; the issuer's host is {host!r}")
        if not host or parts.scheme not in ("https", "http"):
            raise ValueError(f"no WebAuthn relying party for issuer {issuer!r}")
        return cls(host, rp_name, f"{parts.scheme}://{parts.netloc.lower()}", challenge_seconds)

    @property
    def timeout_ms(self) -> int:
        return self.challenge_seconds * 1000


def digest_of(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


def credential_key(credential_id: bytes) -> str:
    return digest_of(credential_id)


def options_json(
    options: PublicKeyCredentialCreationOptions | PublicKeyCredentialRequestOptions,
) -> dict[str, Any]:
    """The options as the browser's JSON form (base64url for binary fields)."""
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def descriptor(record: PasskeyRecord) -> PublicKeyCredentialDescriptor:
    known = {t.value for t in AuthenticatorTransport}
    transports = [AuthenticatorTransport(t) for t in record.transports if t in known]
    return PublicKeyCredentialDescriptor(id=record.credential_id, transports=transports or None)


def parse_assertion(data: Mapping[str, Any] | None) -> AuthenticationCredential:
    if not isinstance(data, Mapping):
        raise PasskeyRejected()
    try:
        return parse_authentication_credential_json(dict(data))
    except Exception:  # the parser raises several kinds (JSON, base64, type): all mean "malformed"
        raise PasskeyRejected() from None


def parse_attestation(data: Mapping[str, Any] | None) -> RegistrationCredential:
    if not isinstance(data, Mapping):
        raise PasskeyInvalid()
    try:
        return parse_registration(dict(data))
    except Exception:
        raise PasskeyInvalid() from None


def challenge_in(client_data_json: bytes) -> bytes | None:
    """The challenge the browser says it signed, or None if clientDataJSON is not a client data map."""
    try:
        data = json.loads(client_data_json)
        value = data.get("challenge") if isinstance(data, dict) else None
        return base64url_to_bytes(value) if isinstance(value, str) and len(value) <= 128 else None
    except (ValueError, TypeError):
        return None


class PasskeyChallenges:
    def __init__(self, store: PasskeyChallengeStore, clock: Clock, seconds: int) -> None:
        self._store = store
        self._clock = clock
        self.seconds = seconds

    async def issue(self, purpose: str, *, user_id: str | None, binding: str | None) -> bytes:
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        now = self._clock.now()
        await self._store.create(
            PasskeyChallenge(digest_of(challenge), purpose, user_id, binding, now + self.seconds, now)
        )
        await self._store.purge_expired(now=now)
        return challenge

    async def take(
        self,
        client_data_json: bytes,
        *,
        purposes: Collection[str],
        user_id: str | None,
        binding: str | None,
    ) -> tuple[bytes, PasskeyChallenge]:
        """Consume the challenge named in `clientDataJSON`; it must be live and issued for this
        purpose, this user and this binding. Consumed even when a later check fails: one try each."""
        challenge = challenge_in(client_data_json)
        if challenge is None or len(challenge) != CHALLENGE_BYTES:
            raise PasskeyChallengeInvalid()
        found = await self._store.consume(digest_of(challenge), now=self._clock.now())
        if (
            found is None
            or found.purpose not in purposes
            or found.user_id != user_id
            or (found.binding is None) != (binding is None)
            or not constant_time_equals(found.binding or "", binding or "")
        ):
            raise PasskeyChallengeInvalid()
        return challenge, found
