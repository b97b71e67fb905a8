"""Fixtures of the SDK and `ostiary login` end-to-end tests: one real `ostiary serve --demo` per module,
tokens from its first-party `POST /auth/token` (docs/tokens.md), its JWKS fetched over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sdk_helpers import GENEROUS_LIMITS, CountingClient, fetch_token
from serving import Server, serve


@pytest.fixture(scope="module")
def issuer_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(Path(tmp_path_factory.mktemp("issuer")), **GENEROUS_LIMITS) as server:
        yield server


@pytest.fixture
def token_for(issuer_server: Server) -> Callable[..., str]:
    """`token_for("carol")` or `token_for("bob", scope="items:read")`: a fresh real access token."""
    return lambda username, scope=None: fetch_token(issuer_server, username, scope)


@pytest.fixture
async def http() -> AsyncIterator[CountingClient]:
    async with CountingClient() as client:
        yield client
