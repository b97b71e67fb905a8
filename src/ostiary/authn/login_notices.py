"""The "new sign-in to your account" mail: sent when a login comes from a device and network pair
the account has not used before.

A device is the pair (network prefix, browser family): the IPv4 /24 or IPv6 /48 of the client, and
the User-Agent with its version numbers removed, so a browser update or a new address from the same
provider does not count as new. The pair is stored only as an HMAC under an instance-derived key
(storage/interfaces/known_devices.py), the most recent `keep` per user. The account's first login
sets the baseline silently. The work runs in the mailer's background: a login does not wait for it.
"""

from __future__ import annotations

import ipaddress
import re

from ostiary.authn.account_mail import when
from ostiary.authn.mailer import Mailer
from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta
from ostiary.core.secrets import hmac_sha256_hex
from ostiary.storage.interfaces.known_devices import KnownDeviceStore
from ostiary.storage.interfaces.users import UserRecord

_VERSION = re.compile(r"\d+")
METHODS = {
    "password": "your password",
    "email_link": "a sign-in link sent by email",
    "passkey": "a passkey",
}


def network_of(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def browser_family(user_agent: str) -> str:
    return _VERSION.sub("", user_agent[:256]).strip()


class LoginNotices:
    def __init__(
        self, store: KnownDeviceStore, key: bytes, mailer: Mailer, clock: Clock, *, keep: int = 20
    ) -> None:
        self._store = store
        self._key = key
        self._mailer = mailer
        self._clock = clock
        self._keep = keep

    def fingerprint(self, meta: RequestMeta) -> str:
        return hmac_sha256_hex(self._key, f"{network_of(meta.ip)}\n{browser_family(meta.user_agent)}")

    def login_seen(self, user: UserRecord, meta: RequestMeta, *, method: str) -> None:
        """Called once a first factor succeeded (`method`: "password" or "email_link")."""
        self._mailer.submit(lambda: self._check(user, meta, method), meta, what="new_device")

    async def _check(self, user: UserRecord, meta: RequestMeta, method: str) -> None:
        sighting = await self._store.remember(
            user.id, self.fingerprint(meta), now=self._clock.now(), keep=self._keep
        )
        if not sighting.new or sighting.known_before == 0 or not user.email:
            return
        await self._mailer.deliver(
            user.email,
            "new_device",
            meta,
            user_id=user.id,
            username=user.username,
            when=when(self._clock.now()),
            ip=meta.ip or "unknown",
            browser=meta.user_agent[:120] or "unknown",
            method=METHODS.get(method, method),
        )
