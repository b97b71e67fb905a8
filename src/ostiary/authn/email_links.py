"""Single-use links sent by email (SEC-06, SEC-75): 256-bit tokens, digests at rest, one purpose each.

A link carries `?token=<43 url-safe characters>` (256 CSPRNG bits); the store keeps the SHA-256 digest,
its purpose, the address it went to and its expiry. Opening a link only *peeks* (to show a page with a
button: mail scanners that prefetch GET requests consume nothing); the POST behind the button
*consumes*, and of concurrent consumes exactly one wins. A link whose address is no longer the
account's address is void. Magic links are also bound to the browser that asked (`binding`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from ostiary.authn.mail import valid_address
from ostiary.core.clock import Clock
from ostiary.core.errors import OstiaryError, ValidationFailed
from ostiary.core.secrets import random_token, sha256_hex
from ostiary.storage.interfaces.email_tokens import EmailToken, EmailTokenPurpose, EmailTokenStore
from ostiary.storage.interfaces.users import UserRecord

MAX_TOKEN_LENGTH = 128
# Where each link points (the web layer serves these pages; authn only builds the URLs).
LINK_PATHS: dict[EmailTokenPurpose, str] = {
    "verify_email": "/email/verify",
    "reset_password": "/password-reset/confirm",
    "magic_link": "/magic-link/confirm",
}


class LinkInvalid(OstiaryError):
    status = 400
    code = "link_invalid"

    def default_message(self) -> str:
        return "This link has expired or has already been used. Request a new one."


class LinkFromOtherBrowser(OstiaryError):
    status = 400
    code = "link_other_browser"

    def default_message(self) -> str:
        return (
            "This sign-in link was requested from another browser. Open it in the browser where you "
            "asked for it, or request a new link in this one."
        )


@dataclass(frozen=True)
class IssuedLink:
    url: str  # holds the token: goes into the mail and nowhere else
    expires_at: float
    ttl_seconds: int


def requested_address(value: str | None) -> str:
    """The address typed into a "send me a link" form; 400 for anything that is not one address.
    Only the shape is judged, so the answer reveals nothing about accounts."""
    address = (value or "").strip()
    if not valid_address(address):
        raise ValidationFailed("Enter an email address.", field="email", code="invalid_email")
    return address


def same_address(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return a.strip().casefold() == b.strip().casefold()


class EmailLinks:
    def __init__(
        self, store: EmailTokenStore, clock: Clock, *, issuer: str, ttl_seconds: dict[EmailTokenPurpose, int]
    ) -> None:
        self._store = store
        self._clock = clock
        self._issuer = issuer.rstrip("/")
        self._ttl = ttl_seconds

    def ttl(self, purpose: EmailTokenPurpose) -> int:
        return self._ttl[purpose]

    async def issue(
        self, user: UserRecord, purpose: EmailTokenPurpose, *, binding: str | None = None
    ) -> IssuedLink:
        """A new link for the user's current address. `binding` is a browser nonce (magic links)."""
        if not user.email:
            raise ValueError("the user has no email address")
        now = self._clock.now()
        token = random_token(32)
        ttl = self._ttl[purpose]
        await self._store.create(
            EmailToken(
                digest=sha256_hex(token),
                purpose=purpose,
                user_id=user.id,
                email=user.email,
                created_at=now,
                expires_at=now + ttl,
                binding=sha256_hex(binding) if binding else None,
            )
        )
        await self._store.purge_expired(now=now)
        url = f"{self._issuer}{LINK_PATHS[purpose]}?{urlencode({'token': token})}"
        return IssuedLink(url, now + ttl, ttl)

    async def peek(self, token: str | None, purpose: EmailTokenPurpose) -> EmailToken:
        """The live entry behind a link, not consumed; LinkInvalid otherwise."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise LinkInvalid()
        found = await self._store.get(sha256_hex(token), purpose, now=self._clock.now())
        if found is None:
            raise LinkInvalid()
        return found

    def bound_to(self, entry: EmailToken, browser_nonce: str | None) -> bool:
        return entry.binding is None or (
            bool(browser_nonce) and entry.binding == sha256_hex(browser_nonce or "")
        )

    async def consume(
        self, token: str | None, purpose: EmailTokenPurpose, *, browser_nonce: str | None = None
    ) -> EmailToken:
        """Use the link up (exactly one of concurrent callers gets it); LinkInvalid or
        LinkFromOtherBrowser otherwise. A link opened in the wrong browser stays usable in the right one."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise LinkInvalid()
        digest = sha256_hex(token)
        binding = sha256_hex(browser_nonce) if browser_nonce else None
        used = await self._store.consume(digest, purpose, now=self._clock.now(), binding=binding)
        if used is not None:
            return used
        still_there = await self._store.get(digest, purpose, now=self._clock.now())
        if still_there is not None and still_there.binding is not None:
            raise LinkFromOtherBrowser()
        raise LinkInvalid()

    async def void(self, user_id: str, *purposes: EmailTokenPurpose) -> int:
        return await self._store.delete_for_user(user_id, purposes)
