"""Wires the OAuth client registry: the SQL client store and the HMAC key for client secrets.

The key is derived for the purpose "oauth2.client-secret"; whatever authenticates clients at the
token endpoint must use a `ClientSecretHasher` on the same key (`client_secret_hasher`), or no
secret registered here will verify there.

Disabling a client (admin API, CLI, realm import) ends its tokens for good (SEC-12): the registry
sets the client's not-before in the same write (introspection and UserInfo refuse its access tokens
issued earlier, JWT or opaque, also once it is enabled again; compose/not_before.py), and the hook
here revokes its refresh-token families and opaque access tokens.
"""

from __future__ import annotations

import logging

from ostiary.compose.oauth import OAuthWiring
from ostiary.compose.services import Services
from ostiary.oauth2.client_registry import ClientRegistry, OnDisabled
from ostiary.oauth2.clients import CLIENT_SECRET_PURPOSE, ClientSecretHasher
from ostiary.storage.interfaces.oauth_clients import Client
from ostiary.storage.sqlalchemy.oauth_clients import SqlClientStore

log = logging.getLogger("ostiary.oauth2")


def client_secret_hasher(services: Services) -> ClientSecretHasher:
    """The token endpoint's own hasher when the provider is on; the same key either way."""
    if services.oauth is not None:
        return services.oauth.client_secrets
    return ClientSecretHasher(services.secret.derive(CLIENT_SECRET_PURPOSE))


def revoke_tokens_on_disable(oauth: OAuthWiring) -> OnDisabled:
    """The registry's `on_disabled`: revoke what the client holds, and stop this process's
    introspection from answering from its cache (other workers follow within its TTL)."""

    async def client_disabled(client: Client) -> None:
        oauth.clients.forget(client.client_id)  # the cache introspection's client check reads too
        families, opaque = await oauth.revoker.revoke_client(client.client_id)
        log.info(
            "client %s disabled: %d refresh-token families and %d opaque tokens revoked",
            client.client_id,
            families,
            opaque,
        )

    return client_disabled


def build_client_registry(services: Services, *, on_disabled: OnDisabled | None = None) -> ClientRegistry:
    """A registry on the services' database. Build one per process: its lock serialises updates.
    With the OAuth provider on, disabling a client revokes its tokens unless `on_disabled` says
    otherwise."""
    if on_disabled is None and services.oauth is not None:
        on_disabled = revoke_tokens_on_disable(services.oauth)
    # With the provider on, write through its client cache so this process sees a change at once.
    store = (
        services.oauth.clients if services.oauth is not None else SqlClientStore(services.db, services.clock)
    )
    return ClientRegistry(
        store,
        client_secret_hasher(services),
        services.clock,
        on_disabled=on_disabled,
    )
