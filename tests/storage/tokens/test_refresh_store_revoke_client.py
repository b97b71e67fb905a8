"""Contract of `RefreshFamilyIndex.revoke_client` on memory, SQLite and PostgreSQL (SEC-12): a
disabled client's families end with all their tokens, and nobody else's do."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_refresh_store_contract import NOW, family, store, token

__all__ = ["store"]  # the parametrized fixture, shared with the main contract


@pytest.mark.sec("SEC-12")
async def test_revoke_client_ends_the_live_families_of_that_client_only(store: Any) -> None:
    await store.create_family(family("f1", client_id="app"), token("a" * 64, "f1"))
    await store.rotate(
        "a" * 64, token("b" * 64, "f1", parent_digest="a" * 64, replay=b"s"), at=NOW, access_expires_at=NOW
    )
    await store.create_family(family("f2", user="u2", client_id="app"), token("c" * 64, "f2"))
    await store.create_family(family("f3", client_id="other"), token("d" * 64, "f3"))
    await store.create_family(family("f4", client_id="app"), token("e" * 64, "f4"))
    assert await store.revoke_family("f4", at=NOW, reason="logout")

    assert await store.revoke_client("app", at=NOW + 1, reason="client_disabled") == 2
    for digest, family_id in (("a" * 64, "f1"), ("b" * 64, "f1"), ("c" * 64, "f2")):
        tok, fam = await store.get(digest)
        assert (tok.state, tok.replay, fam.id) == ("revoked", None, family_id)
        assert (fam.revoked_at, fam.revoke_reason) == (NOW + 1, "client_disabled")
    # Already revoked: keeps its own time and reason. Another client's: untouched.
    _, earlier = await store.get("e" * 64)
    assert (earlier.revoked_at, earlier.revoke_reason) == (NOW, "logout")
    tok, other = await store.get("d" * 64)
    assert tok.state == "active" and other.revoked_at is None
    assert not await store.rotate("b" * 64, token("x" * 64, "f1"), at=NOW + 2, access_expires_at=NOW)
    assert await store.revoke_client("app", at=NOW + 3, reason="again") == 0


@pytest.mark.sec("SEC-12")
async def test_concurrent_revoke_client_counts_each_family_once(store: Any) -> None:
    for i in range(5):
        await store.create_family(family(f"f{i}", client_id="app"), token(f"{i:064d}", f"f{i}"))
    counts = await asyncio.gather(
        *(store.revoke_client("app", at=NOW, reason="client_disabled") for _ in range(4))
    )
    assert sum(counts) == 5
