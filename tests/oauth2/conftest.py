from __future__ import annotations

import pytest

from ostiary.core.clock import FrozenClock
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.codes import AuthorizationCodeIssuer
from ostiary.oauth2.endpoints.token import TokenEndpoint
from ostiary.oauth2.grants import AuthorizationCodeGrant, ClientCredentialsGrant
from ostiary.storage.memory.oauth_clients import MemoryClientStore
from ostiary.storage.memory.oauth_codes import MemoryAuthorizationCodeStore

from ._support import HASHER, MemoryTokenService, native_client, service_client, web_client


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def clients() -> MemoryClientStore:
    return MemoryClientStore([web_client(), native_client(), service_client()])


@pytest.fixture
def code_store(clock: FrozenClock) -> MemoryAuthorizationCodeStore:
    return MemoryAuthorizationCodeStore(clock)


@pytest.fixture
def code_issuer(code_store: MemoryAuthorizationCodeStore, clock: FrozenClock) -> AuthorizationCodeIssuer:
    return AuthorizationCodeIssuer(code_store, clock)


@pytest.fixture
def tokens() -> MemoryTokenService:
    return MemoryTokenService()


@pytest.fixture
def endpoint(
    clients: MemoryClientStore,
    code_store: MemoryAuthorizationCodeStore,
    tokens: MemoryTokenService,
    clock: FrozenClock,
) -> TokenEndpoint:
    return TokenEndpoint(
        ClientAuthenticator(clients, HASHER),
        [AuthorizationCodeGrant(code_store, tokens, tokens, clock), ClientCredentialsGrant(tokens)],
    )
