"""Signing in with a passkey (W3C WebAuthn L2 §7.2, "Verifying an authentication assertion"; SEC-51):
as the second step after a password, and as a passwordless login.

py_webauthn checks the ceremony type (`webauthn.get`), the origin, the rpIdHash, the UP flag, the UV
flag when required, and the signature. Around it this module checks what only the server knows: the
challenge (single use, purpose, user, binding — authn/passkeys_ceremony.py), that the credential is
registered (a removed one is simply unknown) and belongs to the right user and user handle, and the
signature counter: it must grow, unless it is 0 before and after (authenticators without a counter,
such as synced passkeys). A counter that does not grow on a valid signature means a cloned
authenticator: refused and audited as `passkey.sign_count_regression`.

`amr` (RFC 8176) of a passkey: `hwk` for a device-bound key, `swk` for a synced one (the backup-state
flag: its private key leaves the device), plus `user` when the authenticator verified the user (PIN
or biometrics; RFC 8176 has no modality-free value for it). Passwordless requires UV, so a
passwordless login is `["hwk", "user"]` (or `["swk", "user"]`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webauthn import generate_authentication_options, verify_authentication_response
from webauthn.helpers.structs import AuthenticationCredential, UserVerificationRequirement

from ostiary.authn.audit import Auditor
from ostiary.authn.passkeys_ceremony import (
    PASSWORDLESS,
    SECOND_FACTOR,
    PasskeyChallengeInvalid,
    PasskeyChallenges,
    PasskeyConfig,
    PasskeyRejected,
    credential_key,
    descriptor,
    digest_of,
    options_json,
    parse_assertion,
)
from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta
from ostiary.core.errors import NotFound
from ostiary.core.secrets import constant_time_equals
from ostiary.storage.interfaces.passkeys import PasskeyRecord, PasskeyStore
from ostiary.storage.interfaces.users import UserRecord, UserStore


@dataclass(frozen=True)
class PasskeyUse:
    record: PasskeyRecord
    amr: tuple[str, ...]  # ("hwk" | "swk", ["user"])


@dataclass(frozen=True)
class PasskeyLogin:
    user: UserRecord
    amr: tuple[str, ...]


def counter_advances(stored: int, presented: int) -> bool:
    return presented > stored or presented == stored == 0


def amr_of(backed_up: bool, user_verified: bool) -> tuple[str, ...]:
    return ("swk" if backed_up else "hwk", *(("user",) if user_verified else ()))


class PasskeyAuthenticator:
    def __init__(
        self,
        config: PasskeyConfig,
        store: PasskeyStore,
        challenges: PasskeyChallenges,
        users: UserStore,
        auditor: Auditor,
        clock: Clock,
    ) -> None:
        self.config = config
        self._store = store
        self._challenges = challenges
        self._users = users
        self._audit = auditor
        self._clock = clock

    async def has_passkeys(self, user_id: str) -> bool:
        return bool(await self._store.list_user(user_id))

    # --- the second step after a password (authn/mfa_login.py) --------------------------------------

    async def second_factor_options(self, user_id: str, binding: str) -> dict[str, Any]:
        """Options for `navigator.credentials.get()` listing the user's credentials; `binding` is the
        digest of the pending MFA login, so the answer finishes that login and no other."""
        records = await self._store.list_user(user_id)
        if not records:
            raise NotFound("No passkey is registered for this account.", code="no_passkey")
        challenge = await self._challenges.issue(SECOND_FACTOR, user_id=user_id, binding=binding)
        options = generate_authentication_options(
            rp_id=self.config.rp_id,
            challenge=challenge,
            timeout=self.config.timeout_ms,
            allow_credentials=[descriptor(r) for r in records],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return options_json(options)

    async def verify_second_factor(
        self, user_id: str, binding: str, credential: Mapping[str, Any] | None, meta: RequestMeta
    ) -> tuple[str, ...] | None:
        """The passkey's `amr` values if the assertion verifies for this user and MFA login; None
        otherwise (MfaLogin counts and audits the failure)."""
        try:
            parsed = parse_assertion(credential)
            challenge, _ = await self._challenges.take(
                parsed.response.client_data_json, purposes={SECOND_FACTOR}, user_id=user_id, binding=binding
            )
            record = await self._registered(parsed, meta, user_id=user_id)
            use = await self._verify(parsed, record, challenge, meta, require_uv=False)
        except (PasskeyRejected, PasskeyChallengeInvalid):
            return None  # a store outage is not a wrong passkey: it propagates (fail closed)
        return use.amr

    # --- passwordless -------------------------------------------------------------------------------

    async def passwordless_options(self, browser_nonce: str) -> dict[str, Any]:
        """Options for a discoverable-credential login: no allowCredentials (the authenticator offers
        the passkeys it holds for this rp_id), user verification required."""
        challenge = await self._challenges.issue(
            PASSWORDLESS, user_id=None, binding=digest_of(browser_nonce.encode())
        )
        options = generate_authentication_options(
            rp_id=self.config.rp_id,
            challenge=challenge,
            timeout=self.config.timeout_ms,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return options_json(options)

    async def verify_passwordless(
        self, credential: Mapping[str, Any] | None, browser_nonce: str | None, meta: RequestMeta
    ) -> PasskeyLogin:
        parsed = parse_assertion(credential)
        binding = digest_of(browser_nonce.encode()) if browser_nonce else ""
        challenge, _ = await self._challenges.take(
            parsed.response.client_data_json, purposes={PASSWORDLESS}, user_id=None, binding=binding
        )
        record = await self._registered(parsed, meta, user_id=None)
        use = await self._verify(parsed, record, challenge, meta, require_uv=True)
        user = await self._users.get(record.user_id)
        if user is None or user.disabled:
            await self._failed(meta, "user_disabled", subject=record.user_id)
            raise PasskeyRejected()
        await self._audit.record(
            "login.success", meta, actor=user.id, subject=user.id, factor="passkey", amr=list(use.amr)
        )
        return PasskeyLogin(user, use.amr)

    # --- shared steps -------------------------------------------------------------------------------

    async def _registered(
        self, parsed: AuthenticationCredential, meta: RequestMeta, *, user_id: str | None
    ) -> PasskeyRecord:
        """The stored credential: of `user_id` when the user is known, discoverable otherwise, and
        (when the authenticator names one) with the user handle it was registered under."""
        record = await self._store.get(credential_key(parsed.raw_id))
        handle = parsed.response.user_handle
        if record is None or (user_id is not None and record.user_id != user_id):
            await self._failed(meta, "unknown_credential", subject=user_id)
            raise PasskeyRejected()
        if user_id is None and (not record.discoverable or handle is None):
            await self._failed(meta, "not_discoverable", subject=record.user_id)
            raise PasskeyRejected()
        if handle is not None and not constant_time_equals(handle, record.user_handle):
            await self._failed(meta, "user_handle_mismatch", subject=record.user_id)
            raise PasskeyRejected()
        return record

    async def _verify(
        self,
        parsed: AuthenticationCredential,
        record: PasskeyRecord,
        challenge: bytes,
        meta: RequestMeta,
        *,
        require_uv: bool,
    ) -> PasskeyUse:
        try:
            # The counter is checked below, after the signature, so that only a genuinely signed
            # non-increasing counter is reported as a clone: hence a current count of 0 here.
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self.config.rp_id,
                expected_origin=self.config.origin,
                credential_public_key=record.public_key,
                credential_current_sign_count=0,
                require_user_verification=require_uv,
            )
        except Exception as exc:  # any failure of a pure check (malformed CBOR too) is a rejection
            await self._failed(meta, "assertion_invalid", subject=record.user_id, detail=str(exc)[:200])
            raise PasskeyRejected() from None
        presented = verified.new_sign_count
        advanced = counter_advances(record.sign_count, presented) and await self._store.record_use(
            record.credential_key, presented, backed_up=verified.credential_backed_up, now=self._clock.now()
        )
        if not advanced:
            await self._audit.record(
                "passkey.sign_count_regression",
                meta,
                outcome="failure",
                subject=record.user_id,
                passkey=record.id,
                stored=record.sign_count,
                presented=presented,
            )
            raise PasskeyRejected()
        return PasskeyUse(record, amr_of(verified.credential_backed_up, verified.user_verified))

    async def _failed(self, meta: RequestMeta, reason: str, *, subject: str | None, **details: Any) -> None:
        await self._audit.record(
            "passkey.assertion_failed", meta, outcome="failure", subject=subject, reason=reason, **details
        )
