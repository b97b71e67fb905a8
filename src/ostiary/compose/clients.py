"""Wires the OAuth client registry: the SQL client store and the HMAC key for client secrets.

The key is derived for the purpose "oauth2.client-secret"; whatever authenticates clients at the
token endpoint must use a `ClientSecretHasher` on the same key (`client_secret_hasher`), or no
secret registered here will verify there.
"""

from __future__ import annotations

from ostiary.compose.services import Services
from ostiary.oauth2.client_registry import ClientRegistry, OnDisabled
from ostiary.oauth2.clients import ClientSecretHasher
from ostiary.storage.sqlalchemy.oauth_clients import SqlClientStore

CLIENT_SECRET_PURPOSE = "oauth2.client-secret"


def client_secret_hasher(services: Services) -> ClientSecretHasher:
    return ClientSecretHasher(services.secret.derive(CLIENT_SECRET_PURPOSE))


def build_client_registry(services: Services, *, on_disabled: OnDisabled | None = None) -> ClientRegistry:
    """A registry on the services' database. Build one per process: its lock serialises updates."""
    return ClientRegistry(
        SqlClientStore(services.db, services.clock),
        client_secret_hasher(services),
        services.clock,
        on_disabled=on_disabled,
    )
