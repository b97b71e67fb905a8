"""In-memory OAuth client store for unit tests and single-process embedding."""

from __future__ import annotations

from ostiary.core.errors import Conflict, NotFound
from ostiary.storage.interfaces.oauth_clients import Client


class MemoryClientStore:
    """Implements ClientStore. No method awaits, so each runs atomically on the event loop."""

    def __init__(self, clients: list[Client] | None = None) -> None:
        self._by_id: dict[str, Client] = {c.client_id: c for c in clients or ()}

    async def get(self, client_id: str) -> Client | None:
        return self._by_id.get(client_id)

    async def add(self, client: Client) -> None:
        if client.client_id in self._by_id:
            raise Conflict("A client with this client_id already exists.")
        self._by_id[client.client_id] = client

    async def update(self, client: Client) -> None:
        if client.client_id not in self._by_id:
            raise NotFound("No such client.")
        self._by_id[client.client_id] = client

    async def list(self) -> list[Client]:
        return [self._by_id[k] for k in sorted(self._by_id)]
