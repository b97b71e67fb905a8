"""A user's own passkeys: register (W3C WebAuthn L2 §7.1), list, rename, remove (SEC-14, SEC-51).

Registering starts only within a recent authentication (`require_recent_auth`, as for TOTP); its
challenge then lives a few minutes and belongs to that user. A passkey (the default) is a
discoverable credential with user verification required, usable for a passwordless login; a
"security key" registration (`passwordless=False`) asks for neither and serves only as the second
step after a password. The credential id must be new to the whole server: one already registered, to
this user or another, is refused.

The first passkey turns on two-step login (`users.mfa_enabled`) in the same transaction, with ten
fresh recovery codes shown once — as turning on TOTP does (authn/mfa.py). Removing a passkey needs a
recent login that used a second factor, like disabling TOTP; removing the last second factor turns
two-step login off again. Every change is audited (`passkey.*`) and announced by mail.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webauthn import generate_registration_options, verify_registration_response
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ostiary.authn.account_mail import AccountMail
from ostiary.authn.audit import Auditor
from ostiary.authn.mfa import require_recent_auth, require_second_factor
from ostiary.authn.passkeys_ceremony import (
    REGISTER_KEY,
    REGISTER_PASSKEY,
    REGISTER_PURPOSES,
    PasskeyChallenges,
    PasskeyConfig,
    PasskeyInvalid,
    credential_key,
    descriptor,
    options_json,
    parse_attestation,
)
from ostiary.authn.recovery_codes import RecoveryCodes
from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta
from ostiary.core.errors import Conflict, NotFound, ValidationFailed
from ostiary.core.principal import Principal
from ostiary.core.secrets import InstanceSecret, hmac_sha256_hex
from ostiary.storage.interfaces.passkeys import AddOutcome, PasskeyRecord, PasskeyRepository, RemoveOutcome
from ostiary.storage.interfaces.users import UserRecord

MAX_NAME_LENGTH = 64
DEFAULT_NAMES = {REGISTER_PASSKEY: "Passkey", REGISTER_KEY: "Security key"}


@dataclass(frozen=True)
class Registered:
    passkey: PasskeyRecord
    mfa_turned_on: bool  # the first second factor of the account
    recovery_codes: list[str] | None  # shown once, with the first second factor only


def clean_name(value: str | None) -> str | None:
    """The trimmed label, None when blank; ValidationFailed when too long or not printable."""
    if value is None or not value.strip():
        return None
    name = " ".join(value.split())
    if len(name) > MAX_NAME_LENGTH or any(unicodedata.category(c).startswith("C") for c in name):
        raise ValidationFailed(
            f"A passkey name is at most {MAX_NAME_LENGTH} printable characters.", field="name"
        )
    return name


class PasskeyManager:
    def __init__(
        self,
        config: PasskeyConfig,
        store: PasskeyRepository,
        challenges: PasskeyChallenges,
        recovery: RecoveryCodes,
        secret: InstanceSecret,
        auditor: Auditor,
        clock: Clock,
        *,
        reauth_window_seconds: int = 600,
        mail: AccountMail | None = None,
    ) -> None:
        self.config = config
        self._store = store
        self._challenges = challenges
        self._recovery = recovery
        self._handle_key = secret.derive("webauthn-user-handle")
        self._audit = auditor
        self._clock = clock
        self.reauth_window_seconds = reauth_window_seconds
        self._mail = mail

    def user_handle(self, user_id: str) -> bytes:
        """WebAuthn's user.id: stable per user (an authenticator keeps one passkey per account and
        rp_id) and opaque (no user id or name inside, as §14.6.1 asks)."""
        return bytes.fromhex(hmac_sha256_hex(self._handle_key, user_id))

    async def list(self, user_id: str) -> list[PasskeyRecord]:
        return await self._store.list_user(user_id)

    async def registration_options(
        self, user: UserRecord, principal: Principal, meta: RequestMeta, *, passwordless: bool = True
    ) -> dict[str, Any]:
        require_recent_auth(principal, self._clock.now(), self.reauth_window_seconds)
        existing = await self._store.list_user(user.id)
        if len(existing) >= self.config.max_per_user:
            raise Conflict(
                f"An account can have at most {self.config.max_per_user} passkeys. Remove one first.",
                code="too_many_passkeys",
            )
        purpose = REGISTER_PASSKEY if passwordless else REGISTER_KEY
        challenge = await self._challenges.issue(purpose, user_id=user.id, binding=None)
        selection = AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED
            if passwordless
            else ResidentKeyRequirement.DISCOURAGED,
            user_verification=(
                UserVerificationRequirement.REQUIRED
                if passwordless
                else UserVerificationRequirement.PREFERRED
            ),
        )
        options = generate_registration_options(
            rp_id=self.config.rp_id,
            rp_name=self.config.rp_name,
            user_name=user.username,
            user_id=self.user_handle(user.id),
            user_display_name=user.username,
            challenge=challenge,
            timeout=self.config.timeout_ms,
            attestation=AttestationConveyancePreference.NONE,  # no authenticator allowlist: nothing to attest
            authenticator_selection=selection,
            exclude_credentials=[descriptor(r) for r in existing],  # no second credential on one device
        )
        await self._audit.record(
            "passkey.register_started", meta, actor=user.id, subject=user.id, purpose=purpose
        )
        return options_json(options)

    async def register(
        self,
        user: UserRecord,
        credential: Mapping[str, Any] | None,
        meta: RequestMeta,
        *,
        name: str | None = None,
    ) -> Registered:
        label = clean_name(name)
        parsed = parse_attestation(credential)
        challenge, found = await self._challenges.take(
            parsed.response.client_data_json, purposes=REGISTER_PURPOSES, user_id=user.id, binding=None
        )
        passwordless = found.purpose == REGISTER_PASSKEY
        try:
            verified = verify_registration_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self.config.rp_id,
                expected_origin=self.config.origin,
                require_user_verification=passwordless,
            )
        except Exception as exc:  # any failed check of the attestation, malformed CBOR included
            await self._failed(user, meta, "attestation_invalid", detail=str(exc)[:200])
            raise PasskeyInvalid() from None
        now = self._clock.now()
        record = PasskeyRecord(
            id=str(uuid.uuid4()),
            user_id=user.id,
            credential_key=credential_key(verified.credential_id),
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            user_handle=self.user_handle(user.id),
            name=label or DEFAULT_NAMES[found.purpose],
            discoverable=passwordless,
            transports=tuple(t.value for t in parsed.response.transports or ()),
            aaguid=verified.aaguid,
            backed_up=verified.credential_backed_up,
            created_at=now,
        )
        codes, digests = self._recovery.new_set(user.id)
        outcome = await self._store.add(record, recovery_digests=digests)
        if outcome is AddOutcome.DUPLICATE:
            await self._failed(user, meta, "duplicate_credential")
            raise Conflict("This passkey is already registered.", code="passkey_exists")
        first = outcome is AddOutcome.ADDED_FIRST_FACTOR
        await self._audit.record(
            "passkey.registered",
            meta,
            actor=user.id,
            subject=user.id,
            passkey=record.id,
            discoverable=passwordless,
            mfa_turned_on=first,
        )
        self._notify(user.id, meta, f"A passkey ({record.name}) was added")
        return Registered(record, first, codes if first else None)

    async def rename(self, user: UserRecord, passkey_id: str, name: str | None, meta: RequestMeta) -> None:
        label = clean_name(name)
        if label is None:
            raise ValidationFailed("Give the passkey a name.", field="name", code="missing_field")
        if not await self._store.rename(user.id, passkey_id[:64], label):
            raise NotFound("No such passkey.")
        await self._audit.record("passkey.renamed", meta, actor=user.id, subject=user.id, passkey=passkey_id)

    async def remove(
        self, user: UserRecord, principal: Principal, passkey_id: str, meta: RequestMeta
    ) -> RemoveOutcome:
        require_recent_auth(principal, self._clock.now(), self.reauth_window_seconds)
        # As for disabling TOTP: a password-only login cannot take a second factor away.
        require_second_factor(principal)
        outcome = await self._store.remove(user.id, passkey_id[:64])
        if not outcome.removed:
            raise NotFound("No such passkey.")
        await self._audit.record(
            "passkey.removed",
            meta,
            actor=user.id,
            subject=user.id,
            passkey=passkey_id,
            mfa_turned_off=outcome.mfa_turned_off,
        )
        change = "A passkey was removed"
        if outcome.mfa_turned_off:
            change += " and two-step verification turned off"
        self._notify(user.id, meta, change)
        return outcome

    def _notify(self, user_id: str, meta: RequestMeta, change: str) -> None:
        if self._mail is not None:
            self._mail.mfa_changed(user_id, meta, change=change)

    async def _failed(self, user: UserRecord, meta: RequestMeta, reason: str, **details: Any) -> None:
        await self._audit.record(
            "passkey.register_failed",
            meta,
            outcome="failure",
            actor=user.id,
            subject=user.id,
            reason=reason,
            **details,
        )
