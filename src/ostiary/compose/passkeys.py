"""Wiring of passkeys (docs/passkeys.md): the WebAuthn relying party, its stores, and the passkey as a
method of the MFA step. None — no handler, no route — when switched off or when the issuer's host is
an IP address, which browsers refuse as an rp_id."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ostiary.authn.account_mail import AccountMail
from ostiary.authn.audit import Auditor
from ostiary.authn.passkeys import PasskeyAuthenticator
from ostiary.authn.passkeys_ceremony import PasskeyChallenges, PasskeyConfig
from ostiary.authn.passkeys_manage import PasskeyManager
from ostiary.compose.mfa import MfaWiring
from ostiary.core.clock import Clock
from ostiary.core.secrets import InstanceSecret
from ostiary.core.settings import Settings
from ostiary.storage.interfaces.users import UserStore
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.passkeys import SqlPasskeyChallengeStore, SqlPasskeyStore

log = logging.getLogger("ostiary")


@dataclass
class PasskeyWiring:
    config: PasskeyConfig
    authenticator: PasskeyAuthenticator  # second factor and passwordless login
    manage: PasskeyManager  # a user's own passkeys: register, list, rename, remove


def build_passkeys(
    settings: Settings,
    db: Database,
    clock: Clock,
    secret: InstanceSecret,
    users: UserStore,
    auditor: Auditor,
    mfa: MfaWiring,
    mail: AccountMail | None,
) -> PasskeyWiring | None:
    if not settings.passkeys_enabled:
        return None
    try:
        config = PasskeyConfig.for_issuer(
            settings.issuer, settings.webauthn_rp_name, settings.webauthn_challenge_seconds
        )
    except ValueError as exc:
        log.warning("passkeys are off: %s (use a host name such as http://localhost:8000)", exc)
        return None
    store = SqlPasskeyStore(db)
    challenges = PasskeyChallenges(SqlPasskeyChallengeStore(db), clock, config.challenge_seconds)
    authenticator = PasskeyAuthenticator(config, store, challenges, users, auditor, clock)
    manage = PasskeyManager(
        config,
        store,
        challenges,
        mfa.recovery,
        secret,
        auditor,
        clock,
        reauth_window_seconds=settings.reauth_window_seconds,
        mail=mail,
    )
    mfa.login.passkeys = authenticator  # "webauthn" becomes a method of the MFA step
    return PasskeyWiring(config, authenticator, manage)
