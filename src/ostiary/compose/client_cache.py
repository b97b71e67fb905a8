"""A read-through cache in front of the client store: client authentication is a hot path.

Every `/token`, `/introspect` and `/revoke` call authenticates a client, and `/authorize` looks one
up; a SQL read each time costs more than the rest of a client_credentials grant (DESIGN.md, hot
paths). Entries live `ttl` seconds (1 s by default), so a client disabled, edited or given a new
secret by another process is seen within that bound everywhere; writes through this object and
`forget` (the registry's disable hook) are seen at once in this process. Unknown ids are cached
too (the same short time), so a flood of made-up client ids costs one read per id per second.
"""

from __future__ import annotations

from ostiary.core.clock import Clock
from ostiary.storage.interfaces.oauth_clients import Client, ClientStore


class CachedClientStore:
    """Implements `ClientStore` over another `ClientStore`."""

    def __init__(self, store: ClientStore, clock: Clock, *, ttl: float = 1.0, size: int = 4096) -> None:
        if ttl < 0 or size < 1:
            raise ValueError("ttl must be ≥ 0 and size ≥ 1")
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[Client | None, float]] = {}

    async def get(self, client_id: str) -> Client | None:
        now = self._clock.now()
        entry = self._entries.get(client_id)
        if entry is not None and now - entry[1] < self._ttl:
            return entry[0]
        client = await self._store.get(client_id)
        self._remember(client_id, client, now)
        return client

    async def add(self, client: Client) -> None:
        await self._store.add(client)
        self.forget(client.client_id)

    async def update(self, client: Client) -> None:
        await self._store.update(client)
        self.forget(client.client_id)

    async def list(self) -> list[Client]:
        return await self._store.list()

    def forget(self, client_id: str) -> None:
        self._entries.pop(client_id, None)

    def _remember(self, client_id: str, client: Client | None, now: float) -> None:
        self._entries.pop(client_id, None)
        if len(self._entries) >= self._size:
            self._entries.pop(next(iter(self._entries)))  # the oldest insertion
        self._entries[client_id] = (client, now)
