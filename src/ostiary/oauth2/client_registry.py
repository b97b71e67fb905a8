"""RFC 7591 §2-§3 (as an administrative API): registering and managing OAuth clients.

`ClientRegistry` is what the admin API, the CLI and the realm importer call. Every write is checked
by `client_metadata.check_spec` (SEC-25) and stores a whole, valid `Client`. A generated secret has
256 bits, is returned exactly once (by `create`, `rotate_secret`, or `update` when a public client
becomes confidential) and only its HMAC digest is stored; nothing returns it again.

Disabling a client or rotating its secret also sets its `tokens_not_before` to now, in the same
write: introspection refuses the client's access tokens issued earlier, so enabling the client again
does not revive them (SEC-12), and tokens minted with a leaked secret end with the rotation. Nothing
else changes that timestamp: updates and realm imports keep it.

Read-modify-write steps (update, rotate, disable) are serialised by one lock per registry, and an
update keeps the secret, the disabled flag and the not-before it finds under that lock, so within a process a
rotation or a disable cannot be undone by a concurrent update built from an older read. Build one
registry per process (compose/clients.py) for that to hold; across processes the store has no
compare-and-set, and the last write of such a race wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Literal

from ostiary.core.clock import Clock
from ostiary.core.errors import Conflict, NotFound, ValidationFailed
from ostiary.oauth2.client_metadata import (
    ClientSpec,
    InvalidClientMetadata,
    Problem,
    build_client,
    check_spec,
    spec_of,
)
from ostiary.oauth2.clients import ClientSecretHasher
from ostiary.storage.interfaces.oauth_clients import Client, ClientStore

__all__ = ["ClientRegistry", "ClientSpec", "InvalidClientMetadata", "PlannedClient", "spec_of"]

Outcome = Literal["created", "updated", "unchanged"]
OnDisabled = Callable[[Client], Awaitable[object]]


@dataclass(frozen=True)
class PlannedClient:
    """A checked upsert (realm import): the client to store and what is stored now."""

    client: Client
    existing: Client | None

    @property
    def outcome(self) -> Outcome:
        if self.existing is None:
            return "created"
        return "unchanged" if self.existing == self.client else "updated"


class ClientRegistry:
    def __init__(
        self,
        store: ClientStore,
        hasher: ClientSecretHasher,
        clock: Clock,
        *,
        on_disabled: OnDisabled | None = None,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._clock = clock
        self._on_disabled = on_disabled  # e.g. revoke the client's grants (called after the write)
        self._lock = asyncio.Lock()

    async def find(self, client_id: str) -> Client | None:
        return await self._store.get(client_id)

    async def get(self, client_id: str) -> Client:
        client = await self._store.get(client_id)
        if client is None:
            raise NotFound("No such client.")
        return client

    async def list(self) -> list[Client]:
        return await self._store.list()

    async def create(self, spec: ClientSpec) -> tuple[Client, str | None]:
        """Register a new client. Returns it and its generated secret — shown once — or None for a
        public client and for one whose secret the spec supplied."""
        _raise(check_spec(spec))
        generated: str | None = None
        digest: str | None = None
        if spec.client_secret is not None:
            digest = self._hasher.digest(spec.client_secret)
        elif not spec.is_public:
            generated, digest = self._hasher.generate()
        client = build_client(spec, secret_digest=digest, created_at=self._clock.now())
        if await self._store.get(spec.client_id) is not None:
            raise Conflict("A client with this client_id already exists.")
        await self._store.add(client)
        return client, generated

    async def update(self, spec: ClientSpec) -> tuple[Client, str | None]:
        """Replace the metadata of an existing client; its secret and its disabled flag stay, read
        under the lock, so an update built from a stale read cannot undo a rotation or a disable.
        A public client made confidential gets a new secret (returned once); a confidential one
        made public loses its."""
        if spec.client_secret is not None:
            _raise([("client_secret", "secrets are not set by an update: use rotate-secret")])
        _raise(check_spec(spec))
        async with self._lock:
            existing = await self.get(spec.client_id)
            generated: str | None = None
            digest = existing.secret_digest
            if not spec.is_public and digest is None:
                generated, digest = self._hasher.generate()
            kept = replace(spec, disabled=existing.disabled)  # set_disabled changes it, not this
            client = build_client(kept, secret_digest=digest, created_at=existing.created_at)
            client = replace(client, tokens_not_before=existing.tokens_not_before)
            await self._store.update(client)
        return client, generated

    async def rotate_secret(self, client_id: str) -> tuple[Client, str]:
        """A new secret (returned once); the old one stops working at once, and so do the access
        tokens issued before now (a rotation answers a leaked secret: whatever was minted with it
        ends; refresh tokens stay, since redeeming one takes the new secret)."""
        async with self._lock:
            existing = await self.get(client_id)
            if not existing.is_confidential:
                raise ValidationFailed(
                    "A public client has no secret; make it confidential first.",
                    field="token_endpoint_auth_method",
                    code="public_client",
                )
            secret, digest = self._hasher.generate()
            client = replace(existing, secret_digest=digest, tokens_not_before=self._clock.now())
            await self._store.update(client)
        return client, secret

    async def set_disabled(self, client_id: str, disabled: bool) -> Client:
        """A disabled client fails client authentication and every authorization request, and its
        access tokens issued until now stay refused after it is enabled again."""
        async with self._lock:
            existing = await self.get(client_id)
            client = replace(existing, disabled=disabled)
            if disabled and not existing.disabled:
                client = replace(client, tokens_not_before=self._clock.now())
            if client != existing:
                await self._store.update(client)
        await self._notify(existing, client)
        return client

    async def disable(self, client_id: str) -> Client:
        return await self.set_disabled(client_id, True)

    async def enable(self, client_id: str) -> Client:
        return await self.set_disabled(client_id, False)

    async def plan_put(self, spec: ClientSpec) -> PlannedClient:
        """Check an upsert without writing (realm import checks every entry before it writes).

        The secret: a supplied one is stored by digest; without one, a confidential client keeps
        the secret it has, and a new (or so far public) confidential client is refused, since an
        upsert has no one to show a generated secret to.
        """
        _raise(check_spec(spec))
        existing = await self._store.get(spec.client_id)
        digest = existing.secret_digest if existing is not None else None
        if spec.client_secret is not None:
            digest = self._hasher.digest(spec.client_secret)
        elif not spec.is_public and digest is None:
            _raise([("client_secret", "a new confidential client needs its secret here")])
        created_at = existing.created_at if existing is not None else self._clock.now()
        client = build_client(spec, secret_digest=digest, created_at=created_at)
        if existing is not None:
            disabling = client.disabled and not existing.disabled
            not_before = self._clock.now() if disabling else existing.tokens_not_before
            client = replace(client, tokens_not_before=not_before)
        return PlannedClient(client, existing)

    async def apply(self, planned: PlannedClient) -> Outcome:
        """Write a planned upsert; an unchanged client is not written."""
        outcome = planned.outcome
        if outcome == "created":
            await self._store.add(planned.client)
        elif outcome == "updated":
            async with self._lock:
                await self._store.update(planned.client)
        if planned.existing is not None:
            await self._notify(planned.existing, planned.client)
        return outcome

    async def put(self, spec: ClientSpec) -> Outcome:
        return await self.apply(await self.plan_put(spec))

    async def _notify(self, before: Client, after: Client) -> None:
        if after.disabled and not before.disabled and self._on_disabled is not None:
            await self._on_disabled(after)


def _raise(problems: list[Problem]) -> None:
    if problems:
        raise InvalidClientMetadata(problems)
