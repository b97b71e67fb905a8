"""Stateless keys (authn/api_keys_stateless.py): verified from memory with no database read, revoked by
`jti` through a revocation list that follows the authorization version, refused when forged, retyped
or expired, and failing closed when the list is due and the store is down (SEC-15, SEC-52, SEC-54,
SEC-78)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import jwt
import pytest
from api_keys_unit_support import META, Keys, sql_statements
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update

from helpers import PASSWORD
from ostiary.authn.api_keys_auth import InvalidApiKey
from ostiary.authn.api_keys_stateless import KID, StatelessKeys
from ostiary.core.errors import StoreUnavailable
from ostiary.core.secrets import InstanceSecret
from ostiary.storage.sqlalchemy import tables as t


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decoded(key: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = key.removeprefix("oskj_").split(".")
    pad: Callable[[str], str] = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def assembled(header: dict[str, Any], payload: dict[str, Any], signature: str) -> str:
    return f"oskj_{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{signature}"


@asynccontextmanager
async def database_gone(keys: Keys, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Any use of the database inside the block raises, as an outage would."""
    db = keys.h.services.db

    def gone(*_args: object, **_kwargs: object) -> Any:
        raise StoreUnavailable()

    with monkeypatch.context() as patch:
        patch.setattr(db, "read", gone)
        patch.setattr(db, "write", gone)
        yield


async def refused(keys: Keys, key: str) -> str:
    with pytest.raises(InvalidApiKey) as refusal:
        await keys.use(key)
    return refusal.value.reason


@pytest.mark.sec("SEC-54")
async def test_a_stateless_key_is_verified_without_the_database(
    keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    warm = await keys.issue(kind="stateless", scopes=("docs:read",))
    await keys.use(warm.key)  # loads the revocation list and the owner's principal once
    fresh = await keys.issue(kind="stateless", scopes=("docs:read", "users:manage"))
    with sql_statements(keys.h.services.db) as statements:
        async with database_gone(keys, monkeypatch):
            for _ in range(3):
                found = await keys.use(fresh.key)
                assert found.principal.permissions == {"docs:read", "users:manage"}
                assert (found.key_id, found.key_kind) == (fresh.record.id, "stateless")
    assert statements == []


@pytest.mark.sec("SEC-54")
async def test_revocation_is_seen_at_once_in_this_worker(keys: Keys) -> None:
    issued = await keys.issue(kind="stateless")
    await keys.use(issued.key)
    await keys.manager.revoke(await keys.session_of(keys.alice), issued.record.id, meta=META)
    assert await refused(keys, issued.key) == "revoked"


@pytest.mark.sec("SEC-54")
async def test_a_revocation_made_around_ostiary_is_seen_within_the_recheck_bound(keys: Keys) -> None:
    issued = await keys.issue(kind="stateless")
    await keys.use(issued.key)
    async with keys.h.services.db.write() as conn:
        await conn.execute(
            update(t.api_keys).where(t.api_keys.c.id == issued.record.id).values(revoked_at=keys.clock.now())
        )
    keys.clock.advance(keys.h.services.api_keys.revocations.max_age - 1)
    await keys.use(issued.key)  # the documented staleness of the list
    keys.clock.advance(1)
    assert await refused(keys, issued.key) == "revoked"


@pytest.mark.sec("SEC-78")
async def test_a_due_revocation_list_with_the_store_down_fails_closed(
    keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = await keys.issue(kind="stateless")
    await keys.use(issued.key)
    keys.clock.advance(keys.h.services.api_keys.revocations.max_age)
    async with database_gone(keys, monkeypatch):
        with pytest.raises(StoreUnavailable):
            await keys.use(issued.key)


@pytest.mark.sec("SEC-54")
async def test_an_expired_stateless_key_is_refused(keys: Keys) -> None:
    issued = await keys.issue(kind="stateless", expires_in=60)
    await keys.use(issued.key)
    keys.clock.advance(59)
    await keys.use(issued.key)  # cached, and re-checked for expiry on every use
    keys.clock.advance(1)
    assert await refused(keys, issued.key) == "expired"


@pytest.mark.sec("SEC-15")
async def test_forged_and_edited_keys_are_refused(keys: Keys) -> None:
    issued = await keys.issue(kind="stateless", scopes=("docs:read",))
    header, payload, signature = decoded(issued.key)
    assert header == {"alg": "EdDSA", "kid": KID, "typ": "osk+jwt"}
    assert set(payload) == {"iss", "aud", "sub", "scope", "iat", "exp", "jti"}
    forgeries = {
        "scope edited": assembled(header, {**payload, "scope": "docs:read users:manage"}, signature),
        "subject edited": assembled(header, {**payload, "sub": keys.bob.id}, signature),
        "signature stripped": assembled(header, payload, ""),
        **{f"alg {alg}": assembled({**header, "alg": alg}, payload, "") for alg in ("none", "None", "nOnE")},
        "alg HS256": assembled({**header, "alg": "HS256"}, payload, signature),
        "typ at+jwt": assembled({**header, "typ": "at+jwt"}, payload, signature),
        "unknown kid": assembled({**header, "kid": "osk-ed25519-2"}, payload, signature),
        "embedded jwk": assembled({**header, "jwk": {"kty": "OKP"}}, payload, signature),
    }
    # A key signed like ours, but by another installation (another instance secret).
    other = StatelessKeys(
        InstanceSecret(InstanceSecret.generate()), keys.h.services.settings.issuer, keys.clock
    )
    forgeries["another instance"] = other.sign(issued.record)
    # A key signed with a fresh Ed25519 key under our kid.
    rogue = Ed25519PrivateKey.generate()
    forgeries["rogue key"] = "oskj_" + jwt.encode(
        payload, rogue, algorithm="EdDSA", headers={"kid": KID, "typ": "osk+jwt"}
    )
    for name, forged in forgeries.items():
        with pytest.raises(InvalidApiKey):
            await keys.use(forged)
        assert forged != issued.key, name
    await keys.use(issued.key)


@pytest.mark.sec("SEC-15")
async def test_an_access_token_is_not_a_stateless_key(keys: Keys) -> None:
    response = await keys.h.http.post("/auth/token", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert await refused(keys, "oskj_" + response.json()["access_token"]) in {"wrong_typ", "unknown_kid"}


async def test_the_signing_key_is_the_same_in_every_worker_and_not_a_ring_key(keys: Keys) -> None:
    services = keys.h.services
    issued = await keys.issue(kind="stateless")
    twin = StatelessKeys(services.secret, services.settings.issuer, keys.clock)  # another worker
    assert twin.verify(issued.key).jti == issued.record.id
    assert KID not in services.tokens.keys.ring().verification_keys()
    assert KID not in {k["kid"] for k in services.tokens.keys.ring().jwks()["keys"]}


async def test_concurrent_requests_finding_the_list_stale_reload_it_once(keys: Keys) -> None:
    issued = await keys.issue(kind="stateless")
    await keys.use(issued.key)
    keys.clock.advance(keys.h.services.api_keys.revocations.max_age)
    with sql_statements(keys.h.services.db) as statements:
        found = await asyncio.gather(*(keys.use(issued.key) for _ in range(20)))
    assert {f.key_id for f in found} == {issued.record.id}
    assert sum("FROM api_keys" in s for s in statements) == 1
