"""RFC 7517 / RFC 7638 / OIDC Core §10.1.1: signing keys, JWKS, keys at rest, rotation (SEC-22, SEC-23)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from ostiary.core.clock import FrozenClock
from ostiary.core.errors import Conflict, NotFound
from ostiary.core.jwt_verify import InvalidToken, JwtVerifier
from ostiary.core.secrets import InstanceSecret
from ostiary.storage.memory.signing_keys import MemorySigningKeyStore
from ostiary.tokens import key_manager as key_manager_module
from ostiary.tokens import key_material
from ostiary.tokens.key_manager import KeyConfig, KeyManager
from ostiary.tokens.key_material import (
    KeyDecryptionError,
    decrypt_private_key,
    encrypt_private_key,
    generate_private_key,
    jwk_thumbprint,
)
from ostiary.tokens.keys import KeyRing

ISS = "https://as.example"
NOW = 1_800_000_000.0
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def secret() -> InstanceSecret:
    return InstanceSecret(b"s" * 32)


@pytest.fixture
def store() -> MemorySigningKeyStore:
    return MemorySigningKeyStore()


def manager(store: Any, secret: InstanceSecret, clock: FrozenClock, **config: Any) -> KeyManager:
    """A manager; RS256 (slow to generate) only where a test asks for the default algorithms."""
    config.setdefault("required_algs", ("ES256",))
    return KeyManager(store, secret, clock, KeyConfig(**config))


def b64int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def sign_with(ring: KeyRing, kid: str, exp: float) -> str:
    key = next(k for k in ring.keys if k.kid == kid)
    body = {"iss": ISS, "sub": "u", "aud": "api", "iat": int(NOW), "exp": int(exp)}
    return jwt.encode(body, key.private_key, algorithm=key.alg, headers={"typ": "at+jwt", "kid": kid})


def verifier_for(mgr: KeyManager, clock: FrozenClock) -> JwtVerifier:
    return JwtVerifier(ISS, "api", lambda: mgr.ring().verification_keys(), clock=clock)


# --------------------------------------------------------------------------------------- key material


def test_rfc7638_thumbprint_example() -> None:
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZ"
        "CiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJ"
        "ZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xB"
        "niIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    public_key = RSAAlgorithm.from_jwk({"kty": "RSA", "n": n, "e": "AQAB"})
    assert jwk_thumbprint(public_key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA", "HS256", "none"])
def test_generation_is_limited_to_asymmetric_algorithms(alg: str) -> None:
    if alg in {"HS256", "none"}:
        with pytest.raises(ValueError):
            generate_private_key(alg)
    else:
        assert generate_private_key(alg).public_key()


def test_private_key_at_rest_is_sealed_and_bound_to_its_kid(secret: InstanceSecret) -> None:
    private_key = generate_private_key("ES256")
    kid = jwk_thumbprint(private_key.public_key())
    pkcs8 = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    blob = encrypt_private_key(private_key, kid=kid, alg="ES256", secret=secret)
    assert pkcs8 not in blob
    assert pkcs8[-32:] not in blob
    assert blob != encrypt_private_key(private_key, kid=kid, alg="ES256", secret=secret)  # fresh nonce
    opened = decrypt_private_key(blob, kid=kid, alg="ES256", secret=secret)
    assert jwk_thumbprint(opened.public_key()) == kid

    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(blob, kid=kid, alg="ES256", secret=InstanceSecret(b"t" * 32))
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(blob, kid="another-kid", alg="ES256", secret=secret)
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(blob, kid=kid, alg="EdDSA", secret=secret)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(tampered, kid=kid, alg="ES256", secret=secret)


async def test_stored_records_hold_no_plaintext_private_key(
    store: MemorySigningKeyStore, secret: InstanceSecret, clock: FrozenClock
) -> None:
    mgr = manager(store, secret, clock)
    ring = await mgr.load()
    for record in await store.list_all():
        key = next(k for k in ring.keys if k.kid == record.kid)
        pkcs8 = key.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        assert pkcs8 not in record.encrypted_private_key
        assert PRIVATE_MEMBERS.isdisjoint(json.loads(record.public_jwk))
        assert repr(key).count("private_key") == 0


async def test_a_second_process_with_the_wrong_secret_cannot_load(
    store: MemorySigningKeyStore, secret: InstanceSecret, clock: FrozenClock
) -> None:
    first = await manager(store, secret, clock).load()
    again = await manager(store, InstanceSecret(b"s" * 32), clock).load()
    assert [k.kid for k in again.keys] == [k.kid for k in first.keys]
    with pytest.raises(KeyDecryptionError):
        await manager(store, InstanceSecret(b"x" * 32), clock).load()


async def test_keys_are_decrypted_once(
    store: MemorySigningKeyStore, secret: InstanceSecret, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await manager(store, secret, clock).load()
    stored_kids = sorted(k.kid for k in await store.list_all())
    opened: list[str] = []
    real = key_material.decrypt_private_key

    def counting(blob: bytes, *, kid: str, alg: str, secret: InstanceSecret) -> Any:
        opened.append(kid)
        return real(blob, kid=kid, alg=alg, secret=secret)

    monkeypatch.setattr(key_manager_module, "decrypt_private_key", counting)
    mgr = manager(store, secret, clock)
    await mgr.load()
    for _ in range(3):
        await mgr.load()
        await mgr.promote_due()
        mgr.ring()
    await mgr.rotate("ES256")  # a key this process made is never decrypted again
    await mgr.load()
    assert sorted(opened) == stored_kids


# ---------------------------------------------------------------------------------------- SEC-22: JWKS


@pytest.mark.sec("SEC-22")
async def test_first_start_creates_es256_and_rs256_and_publishes_only_public_members(
    store: MemorySigningKeyStore, secret: InstanceSecret, clock: FrozenClock
) -> None:
    mgr = KeyManager(store, secret, clock)  # default config: ES256 and RS256
    ring = await mgr.load()
    await mgr.rotate("EdDSA")
    jwks = mgr.ring().jwks()
    assert ring.signing_key_for("ES256").alg == "ES256"
    assert ring.signing_key_for("RS256").alg == "RS256"
    kids = [jwk["kid"] for jwk in jwks["keys"]]
    assert len(kids) == len(set(kids)) == 3
    by_alg = {jwk["alg"]: jwk for jwk in jwks["keys"]}
    assert set(by_alg) == {"ES256", "RS256", "EdDSA"}
    for jwk in jwks["keys"]:
        assert PRIVATE_MEMBERS.isdisjoint(jwk)
        assert jwk["use"] == "sig"
    assert set(by_alg["ES256"]) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert (by_alg["ES256"]["kty"], by_alg["ES256"]["crv"]) == ("EC", "P-256")
    assert set(by_alg["RS256"]) == {"kty", "n", "e", "kid", "alg", "use"}
    assert b64int(by_alg["RS256"]["n"]).bit_length() == 3072
    assert (by_alg["EdDSA"]["kty"], by_alg["EdDSA"]["crv"]) == ("OKP", "Ed25519")
    for key in mgr.ring().keys:  # kid is the RFC 7638 thumbprint of the published key
        assert key.kid == jwk_thumbprint(key.public_key)
    json.dumps(jwks)  # serialisable as is


@pytest.mark.sec("SEC-22")
async def test_jwks_is_a_copy(
    store: MemorySigningKeyStore, secret: InstanceSecret, clock: FrozenClock
) -> None:
    ring = await manager(store, secret, clock).load()
    ring.jwks()["keys"][0]["d"] = "leak"
    assert "d" not in ring.jwks()["keys"][0]


async def test_load_is_idempotent(
    store: MemorySigningKeyStore, secret: InstanceSecret, clock: FrozenClock
) -> None:
    mgr = KeyManager(store, secret, clock)
    first = await mgr.load()
    second = await mgr.load()
    assert {k.kid for k in first.keys} == {k.kid for k in second.keys}
    assert sorted(k.alg for k in await store.list_all()) == ["ES256", "RS256"]


# ------------------------------------------------------------------------------------ SEC-23: rotation


@pytest.mark.sec("SEC-23")
async def test_rotation_publishes_before_signing_and_old_tokens_verify_through_the_grace(
    store: MemorySigningKeyStore, secret: InstanceSecret, clock: FrozenClock
) -> None:
    mgr = manager(store, secret, clock, publish_delay=300, max_token_lifetime=600, clock_leeway=60)
    verify = verifier_for(mgr, clock).verify
    k1 = (await mgr.load()).signing_key_for("ES256")
    long_lived = sign_with(mgr.ring(), k1.kid, exp=NOW + 10 * 86_400)  # outlives the grace on purpose

    k2 = await mgr.rotate("ES256")
    assert k2.state == "next"
    assert k2.kid in {jwk["kid"] for jwk in mgr.ring().jwks()["keys"]}  # published …
    assert mgr.ring().signing_key_for("ES256").kid == k1.kid  # … but not signing yet

    clock.advance(299)
    await mgr.promote_due()
    assert mgr.ring().signing_key_for("ES256").kid == k1.kid
    clock.advance(1)
    await mgr.promote_due()
    assert mgr.ring().signing_key_for("ES256").kid == k2.kid
    retired_at = clock.now()
    assert [k.state for k in mgr.ring().keys if k.kid == k1.kid] == ["retired"]
    assert k1.kid in {jwk["kid"] for jwk in mgr.ring().jwks()["keys"]}
    assert verify(long_lived)["sub"] == "u"
    assert verify(sign_with(mgr.ring(), k2.kid, exp=clock.now() + 600))

    clock.set(retired_at + 660 - 1)  # grace = longest lifetime + leeway
    assert verify(long_lived)
    clock.set(retired_at + 660)
    with pytest.raises(InvalidToken) as caught:
        verify(long_lived)  # the ring re-filters itself, no reload needed
    assert caught.value.reason == "unknown_kid"
    assert k1.kid not in {jwk["kid"] for jwk in mgr.ring().jwks()["keys"]}
    assert k1.kid in {k.kid for k in await store.list_all()}
    await mgr.promote_due()  # housekeeping deletes it for good
    assert k1.kid not in {k.kid for k in await store.list_all()}


@pytest.mark.sec("SEC-23")
async def test_retiring_the_active_key_keeps_signing_possible(
    store: MemorySigningKeyStore, secret: InstanceSecret, clock: FrozenClock
) -> None:
    mgr = manager(store, secret, clock)
    k1 = (await mgr.load()).signing_key_for("ES256")
    token = sign_with(mgr.ring(), k1.kid, exp=NOW + 600)
    ring = await mgr.retire(k1.kid)
    assert ring.signing_key_for("ES256").kid != k1.kid
    assert verifier_for(mgr, clock).verify(token)  # still within the grace


@pytest.mark.sec("SEC-23")
async def test_retiring_prefers_a_published_next_key(
    store: MemorySigningKeyStore, secret: InstanceSecret, clock: FrozenClock
) -> None:
    mgr = manager(store, secret, clock, publish_delay=3600)
    k1 = (await mgr.load()).signing_key_for("ES256")
    k2 = await mgr.rotate("ES256")
    assert (await mgr.retire(k1.kid)).signing_key_for("ES256").kid == k2.kid


@pytest.mark.sec("SEC-23")
async def test_purging_a_compromised_key_rejects_its_tokens_at_once(
    store: MemorySigningKeyStore, secret: InstanceSecret, clock: FrozenClock
) -> None:
    mgr = manager(store, secret, clock)
    k1 = (await mgr.load()).signing_key_for("ES256")
    token = sign_with(mgr.ring(), k1.kid, exp=NOW + 600)
    await mgr.retire(k1.kid, purge=True)
    with pytest.raises(InvalidToken):
        verifier_for(mgr, clock).verify(token)
    with pytest.raises(NotFound):
        await mgr.retire("no-such-kid")


@pytest.mark.sec("SEC-23")
async def test_two_nodes_promoting_at_once_leave_one_active_key(
    store: MemorySigningKeyStore, secret: InstanceSecret, clock: FrozenClock
) -> None:
    node_a, node_b = manager(store, secret, clock), manager(store, secret, clock)
    await node_a.load()
    await node_b.load()
    await node_a.rotate("ES256")
    await asyncio.gather(node_a.promote_due(), node_b.promote_due())
    active = [k for k in await store.list_all() if k.alg == "ES256" and k.state == "active"]
    assert len(active) == 1
    await node_b.load()
    assert node_a.ring().signing_key_for("ES256").kid == node_b.ring().signing_key_for("ES256").kid


def test_a_ring_without_a_key_for_an_algorithm_says_so() -> None:
    with pytest.raises(LookupError):
        KeyRing([], now=NOW, grace=60).signing_key_for("ES256")


def test_ring_before_load_is_an_error(store: MemorySigningKeyStore, secret: InstanceSecret) -> None:
    with pytest.raises(RuntimeError):
        KeyManager(store, secret, FrozenClock(NOW)).ring()


# ------------------------------------------------------------------------------------- memory store


async def test_memory_store_contract(store: MemorySigningKeyStore, secret: InstanceSecret) -> None:
    await manager(store, secret, FrozenClock(NOW)).load()
    record = (await store.list_all())[0]
    with pytest.raises(Conflict):
        await store.add(record)
    assert not await store.transition(record.kid, "next", "active", NOW)  # it is active: CAS fails
    assert await store.transition(record.kid, "active", "retired", NOW + 5)
    assert [r.retired_at for r in await store.list_all() if r.kid == record.kid] == [NOW + 5]
    assert await store.delete(record.kid)
    assert not await store.delete(record.kid)
    assert not await store.transition(record.kid, "retired", "active", NOW)
