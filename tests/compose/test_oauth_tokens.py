"""The OAuth token minter, grant revoker and token inspector over real stores (SEC-29, SEC-32, SEC-40,
SEC-43, SEC-44), including the race of a code replay against its first redemption."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import jwt
import pytest

from oauth2._support import (
    HASHER,
    WEB_SECRET,
    basic,
    code_request,
    form_request,
    issue_code,
    service_client,
    web_client,
)
from oauth_world import AUDIENCE, ISSUER, World, build_world, client_context, user, user_context, yield_times
from ostiary.compose.oauth_tokens import (
    GRANT_ID_CLAIM,
    OPAQUE_TOKEN_PREFIX,
    OAuthTokenMinter,
    new_opaque_token,
    opaque_digest,
)
from ostiary.compose.token_inspector import TokenInspector
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta
from ostiary.core.errors import StoreUnavailable
from ostiary.core.jwt_verify import JwtVerifier
from ostiary.oauth2.codes import AuthorizationCodeIssuer
from ostiary.oauth2.endpoints.introspection import IntrospectionEndpoint
from ostiary.oauth2.endpoints.token import TokenEndpoint
from ostiary.oauth2.errors import InvalidGrant, ServerError
from ostiary.oauth2.grants import AuthorizationCodeGrant, ClientCredentialsGrant
from ostiary.oauth2.minting import TokenSet
from ostiary.oidc.id_tokens import IdTokenSigner, token_hash
from ostiary.storage.interfaces.oauth_clients import ClientLifetimes
from ostiary.storage.memory.oauth_codes import MemoryAuthorizationCodeStore
from ostiary.tokens.keys import KeyRing
from ostiary.tokens.refresh import InvalidGrant as RefreshInvalidGrant
from ostiary.tokens.verified_cache import VerifiedTokenCache

NOW = 1_800_000_000.0
META = RequestMeta(ip="192.0.2.1", user_agent="test")
FORMATS = ["jwt", "opaque"]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def clients() -> list[Any]:
    lifetimes = ClientLifetimes(access_token=300, id_token=120)
    return [
        web_client(lifetimes=lifetimes),
        web_client(client_id="web-opaque", access_token_format="opaque", lifetimes=lifetimes),
        web_client(client_id="web-es", id_token_signed_response_alg="ES256"),
        web_client(client_id="web-ed", id_token_signed_response_alg="EdDSA"),
        service_client(grant_types=("client_credentials", "refresh_token")),
        service_client(client_id="svc-opaque", access_token_format="opaque"),
    ]


@pytest.fixture
async def world(clock: FrozenClock) -> World:
    return await build_world(clock, clients())


async def client(world: World, client_id: str) -> Any:
    found = await world.clients.get(client_id)
    assert found is not None
    return found


def web_id(fmt: str) -> str:
    return "web-app" if fmt == "jwt" else "web-opaque"


async def mint(world: World, client_id: str = "web-app", grant_id: str = "g-1", **changes: Any) -> TokenSet:
    return await world.minter.mint(user_context(await client(world, client_id), grant_id, **changes))


async def live(world: World, tokens: TokenSet, client_id: str) -> list[str]:
    """Which of the tokens still work: introspection for both, a refresh for the refresh token."""
    alive = []
    if await world.inspector.inspect(tokens.access_token) is not None:
        alive.append("access")
    if tokens.refresh_token is not None:
        if await world.inspector.inspect(tokens.refresh_token) is not None:
            alive.append("refresh (introspection)")
        try:
            await world.refresh.redeem(tokens.refresh_token, client_id=client_id, meta=META)
            alive.append("refresh (redeem)")
        except RefreshInvalidGrant:
            pass
    return alive


def _inner(store: Any) -> Any:
    return getattr(store, "_inner", store)


def stored_opaque(world: World, grant_id: str | None = None) -> list[Any]:
    """Every opaque token the memory store holds (of one grant): what a failed mint must not leave."""
    tokens = _inner(world.opaque)._tokens.values()
    return [t for t in tokens if grant_id is None or t.grant_id == grant_id]


def stored_families(world: World) -> dict[str, Any]:
    return dict(_inner(world.refresh_store)._families)


# ------------------------------------------------------------------------------ what gets minted


@pytest.mark.sec("SEC-43")
@pytest.mark.rfc("RFC 9068 §2.2, OIDC Core §2")
async def test_jwt_client_gets_a_jwt_access_token_a_refresh_token_and_an_id_token(world: World) -> None:
    tokens = await mint(world)
    assert tokens.expires_in == 300 and tokens.scope == ("openid", "profile", "offline_access", "items:read")
    claims = world.verifier.verify(tokens.access_token)
    assert claims["sub"] == "u1" and claims["aud"] == AUDIENCE and claims["client_id"] == "web-app"
    assert claims["scope"] == "openid profile offline_access items:read"
    assert claims[GRANT_ID_CLAIM] == "g-1"
    assert claims["exp"] - claims["iat"] == 300
    assert (claims["auth_time"], claims["acr"], claims["amr"]) == (
        1_799_999_900,
        "urn:ostiary:mfa",
        ["pwd", "otp"],
    )
    assert "sid" not in claims  # the browser session id is for ID tokens and logout, not for APIs
    assert tokens.refresh_token is not None and tokens.refresh_token.startswith("ort_")
    assert tokens.id_token is not None
    id_claims = jwt.decode(tokens.id_token, options={"verify_signature": False})
    assert jwt.get_unverified_header(tokens.id_token)["alg"] == "RS256"
    assert id_claims["aud"] == "web-app" and id_claims["sub"] == "u1"
    assert id_claims["exp"] - id_claims["iat"] == 120  # the client's ID-token lifetime
    assert id_claims["nonce"] == "n-0S6_WzA2Mj"
    assert id_claims["at_hash"] == token_hash(tokens.access_token, "RS256")
    assert (id_claims["auth_time"], id_claims["amr"], id_claims["acr"], id_claims["sid"]) == (
        1_799_999_900,
        ["pwd", "otp"],
        "urn:ostiary:mfa",
        "sess-1",
    )
    body = tokens.to_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token", "id_token"}


@pytest.mark.sec("SEC-43")
@pytest.mark.parametrize(("client_id", "alg"), [("web-es", "ES256"), ("web-ed", "EdDSA")])
async def test_id_tokens_use_the_clients_registered_alg(world: World, client_id: str, alg: str) -> None:
    tokens = await mint(world, client_id)
    assert tokens.id_token is not None
    header = jwt.get_unverified_header(tokens.id_token)
    assert header["alg"] == alg and header["kid"] == world.keys.ring().signing_key_for(alg).kid
    key = world.keys.ring().verification_keys()[header["kid"]]
    claims = jwt.decode(
        tokens.id_token,
        key.public_key,
        algorithms=[alg],
        audience=client_id,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},  # the test clock is in the future
    )
    assert claims["at_hash"] == token_hash(tokens.access_token, alg)


@pytest.mark.sec("SEC-43")
@pytest.mark.rfc("OIDC Core §3.1.2.1")
async def test_the_code_flow_works_without_a_nonce(world: World) -> None:
    tokens = await mint(world, nonce=None)
    assert tokens.id_token is not None
    assert "nonce" not in jwt.decode(tokens.id_token, options={"verify_signature": False})


async def test_no_id_token_without_openid(world: World) -> None:
    tokens = await mint(world, scope=("items:read",))
    assert tokens.id_token is None and tokens.refresh_token is not None


@pytest.mark.rfc("OIDC Core §11")
@pytest.mark.parametrize(
    ("scope", "allowed", "expect_refresh"),
    [
        (("openid", "offline_access"), True, True),
        (("openid", "profile"), True, False),  # an OpenID request without offline_access
        (("items:read",), True, True),  # plain OAuth: the client's refresh_token grant decides
        (("openid", "offline_access"), False, False),  # the client may not refresh at all
    ],
)
async def test_refresh_tokens_follow_offline_access_for_openid_requests(
    world: World, scope: tuple[str, ...], allowed: bool, expect_refresh: bool
) -> None:
    tokens = await mint(world, scope=scope, refresh_token_allowed=allowed)
    assert (tokens.refresh_token is not None) is expect_refresh


@pytest.mark.sec("SEC-32")
@pytest.mark.rfc("RFC 6749 §4.4.3")
@pytest.mark.parametrize("client_id", ["svc", "svc-opaque"])
async def test_client_credentials_never_get_a_refresh_or_id_token(world: World, client_id: str) -> None:
    svc = await client(world, client_id)
    # Even if a grant wrongly allowed one, and even with openid in the scope.
    ctx = client_context(svc, refresh_token_allowed=True, scope=("openid", "items:read", "offline_access"))
    tokens = await world.minter.mint(ctx)
    assert tokens.refresh_token is None and tokens.id_token is None
    view = await world.inspector.inspect(tokens.access_token)
    assert view is not None and view.subject == "client:" + client_id and view.user_id is None


@pytest.mark.sec("SEC-40")
async def test_opaque_tokens_are_random_recognisable_and_stored_by_digest_only(world: World) -> None:
    tokens = await mint(world, "web-opaque")
    value = tokens.access_token
    assert value.startswith(OPAQUE_TOKEN_PREFIX)
    assert len(base64.urlsafe_b64decode(value[len(OPAQUE_TOKEN_PREFIX) :] + "=")) * 8 == 256
    assert tokens.expires_in == 300
    record = await world.opaque.get(opaque_digest(value))
    assert record is not None and record.grant_id == "g-1" and record.expires_at == NOW + 300
    assert value not in repr(record)
    assert jwt.decode(tokens.id_token or "", options={"verify_signature": False})["at_hash"] == token_hash(
        value, "RS256"
    )
    samples = {new_opaque_token() for _ in range(10_000)}
    assert len(samples) == 10_000


async def test_a_rotated_refresh_token_is_handed_back_not_replaced(world: World) -> None:
    first = await mint(world, scope=("items:read",))
    assert first.refresh_token is not None
    rotation = await world.refresh.redeem(first.refresh_token, client_id="web-app", meta=META)
    again = await mint(world, scope=("items:read",), rotated_refresh_token=rotation.refresh_token)
    assert again.refresh_token == rotation.refresh_token
    assert len(stored_families(world)) == 1


async def test_a_missing_signing_key_is_a_server_error_and_nothing_is_kept(world: World) -> None:
    ring = world.keys.ring()
    missing = KeyRing([k for k in ring.keys if k.alg != "RS256"], now=NOW, grace=60)
    minter = OAuthTokenMinter(
        access_tokens=world.access_tokens,
        audience=AUDIENCE,
        id_tokens=IdTokenSigner(ISSUER, lambda: missing, world.clock),
        refresh=world.refresh,
        opaque=world.opaque,
        revoked=world.revoked,
        users=world.users,
        clock=world.clock,
    )
    with pytest.raises(ServerError):
        await minter.mint(user_context(await client(world, "web-opaque")))
    assert stored_opaque(world) == [] and stored_families(world) == {}


async def test_a_store_failure_after_persisting_undoes_what_was_persisted(world: World) -> None:
    async def down(*_: Any, **__: Any) -> None:
        raise StoreUnavailable()

    world.refresh_store.create_family = down  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        await mint(world, "web-opaque")
    assert stored_opaque(world) == []


# ------------------------------------------------------------------------------ SEC-29: revocation


@pytest.mark.sec("SEC-29")
@pytest.mark.parametrize("fmt", FORMATS)
async def test_revoking_a_grant_kills_every_token_it_produced(world: World, fmt: str) -> None:
    tokens = await mint(world, web_id(fmt))
    other = await mint(world, web_id(fmt), grant_id="g-2")
    assert await world.inspector.inspect(tokens.access_token) is not None
    await world.revoker.revoke_grant("g-1")
    assert await world.inspector.inspect(tokens.access_token) is None
    assert tokens.refresh_token is not None
    assert await world.inspector.inspect(tokens.refresh_token) is None
    with pytest.raises(RefreshInvalidGrant):
        await world.refresh.redeem(tokens.refresh_token, client_id=web_id(fmt), meta=META)
    # Another grant of the same user and client is untouched.
    assert await world.inspector.inspect(other.access_token) is not None
    assert other.refresh_token is not None and await world.inspector.inspect(other.refresh_token) is not None


@pytest.mark.sec("SEC-29")
@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_revoked_grant_cannot_mint_and_leaves_nothing_behind(world: World, fmt: str) -> None:
    await world.revoker.revoke_grant("g-1")
    with pytest.raises(InvalidGrant):
        await mint(world, web_id(fmt))
    assert stored_opaque(world) == [] and stored_families(world) == {}


@pytest.mark.sec("SEC-29")
@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_revocation_racing_a_mint_never_leaves_a_live_token(clock: FrozenClock, fmt: str) -> None:
    """Place the revocation at every await point of the mint (stores yield around each call)."""
    world = await build_world(clock, clients(), yielding=True)
    outcomes = set()
    for delay in range(16):
        grant_id = f"race-{delay}"

        async def revoke_later(delay: int = delay, grant_id: str = grant_id) -> None:
            await yield_times(delay)
            await world.revoker.revoke_grant(grant_id)

        minted, _ = await asyncio.gather(
            mint(world, web_id(fmt), grant_id), revoke_later(), return_exceptions=True
        )
        if isinstance(minted, BaseException):
            assert isinstance(minted, InvalidGrant), minted
            outcomes.add("refused")
        else:
            assert await live(world, minted, web_id(fmt)) == [], delay
            outcomes.add("minted, then revoked")
        assert stored_opaque(world, grant_id) == []
        family = stored_families(world).get(grant_id)
        assert family is None or family.revoked_at is not None
    # Both sides of the race were really exercised.
    assert outcomes == {"refused", "minted, then revoked"}


@pytest.mark.sec("SEC-29")
@pytest.mark.rfc("RFC 6749 §4.1.2")
async def test_a_replayed_code_makes_the_first_redemptions_tokens_introspect_inactive(
    world: World, clock: FrozenClock
) -> None:
    """The whole path: code grant → this minter; replay → this revoker; introspection → inactive."""
    codes = MemoryAuthorizationCodeStore(clock)
    endpoint = TokenEndpoint(
        world.authenticator(HASHER),
        [
            AuthorizationCodeGrant(codes, world.minter, world.revoker, clock),
            ClientCredentialsGrant(world.minter),
        ],
    )
    code = await issue_code(
        AuthorizationCodeIssuer(codes, clock), scope=("openid", "offline_access", "items:read")
    )
    first = await endpoint.handle(code_request(code))
    assert first.status == 200, first.body
    introspect = IntrospectionEndpoint(world.authenticator(HASHER), world.inspector)

    def ask(token: str) -> Any:
        return form_request({"token": token}, headers={"Authorization": basic("web-app", WEB_SECRET)})

    for name in ("access_token", "refresh_token"):
        assert (await introspect.handle(ask(first.body[name]))).body["active"] is True
    replay = await endpoint.handle(code_request(code))
    assert (replay.status, replay.body["error"]) == (400, "invalid_grant")
    for name in ("access_token", "refresh_token"):
        assert (await introspect.handle(ask(first.body[name]))).body == {"active": False}
    clock.advance(30)
    late = await endpoint.handle(code_request(code))
    assert (late.status, late.body["error"]) == (400, "invalid_grant")


# ------------------------------------------------------------------------------ the inspector


async def test_the_inspector_refuses_what_it_did_not_issue_or_what_has_ended(
    world: World, clock: FrozenClock
) -> None:
    tokens = await mint(world)
    foreign = (await world.access_tokens.issue("u1", "https://other-api.example", "web-app", "x")).token
    for token in ("", "garbage", "oat_unknown", "ort_unknown", "a.b.c", foreign, "x" * 10_000):
        assert await world.inspector.inspect(token) is None, token
        assert await world.inspector.locate(token) is None, token
    assert tokens.id_token is not None
    assert await world.inspector.inspect(tokens.id_token) is None  # an ID token is no access token
    clock.advance(300)  # exactly the lifetime: no leeway when the server itself is asked
    assert await world.inspector.inspect(tokens.access_token) is None


async def test_the_inspector_view_of_an_active_token(world: World) -> None:
    tokens = await mint(world)
    view = await world.inspector.inspect(tokens.access_token)
    assert view is not None
    body = view.to_json()
    jti = world.verifier.verify(tokens.access_token)["jti"]
    assert body == {
        "active": True,
        "scope": "openid profile offline_access items:read",
        "client_id": "web-app",
        "token_type": "Bearer",
        "exp": int(NOW) + 300,
        "iat": int(NOW),
        "sub": "u1",
        "iss": ISSUER,
        "username": "name-u1",
        "aud": AUDIENCE,
        "jti": jti,
    }
    assert tokens.refresh_token is not None
    refresh_view = await world.inspector.inspect(tokens.refresh_token)
    assert refresh_view is not None and refresh_view.to_json()["token_type"] == "refresh_token"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_disabled_or_deleted_users_tokens_are_inactive(world: World, fmt: str) -> None:
    tokens = await mint(world, web_id(fmt))
    world.users.disable("u1")
    assert await world.inspector.inspect(tokens.access_token) is None
    assert tokens.refresh_token is not None and await world.inspector.inspect(tokens.refresh_token) is None
    del world.users.by_id["u1"]
    assert await world.inspector.inspect(tokens.access_token) is None
    world.users.by_id["u1"] = user("u1")
    assert await world.inspector.inspect(tokens.access_token) is not None


async def test_a_rotated_refresh_token_is_inactive_but_still_locatable(world: World) -> None:
    tokens = await mint(world)
    assert tokens.refresh_token is not None
    await world.refresh.redeem(tokens.refresh_token, client_id="web-app", meta=META)
    assert await world.inspector.inspect(tokens.refresh_token) is None
    found = await world.inspector.locate(tokens.refresh_token)
    assert found is not None and (found.client_id, found.grant_id) == ("web-app", "g-1")


async def test_a_cached_introspection_still_follows_the_key_ring(world: World) -> None:
    """The verified-claims cache (tokens/verified_cache.py): a token whose signing key has left the
    ring is inactive at once, though its signature was checked (and cached) while the key was there."""
    gone: set[str] = set()

    def ring_keys() -> dict[str, Any]:
        return {k: v for k, v in world.keys.ring().verification_keys().items() if k not in gone}

    inspector = TokenInspector(
        issuer=ISSUER,
        audience=AUDIENCE,
        verifier=JwtVerifier(ISSUER, AUDIENCE, ring_keys, clock=world.clock),
        revoked=world.revoked,
        opaque=world.opaque,
        refresh_store=world.refresh_store,
        clock=world.clock,
        verified=VerifiedTokenCache(ring_keys, world.clock),
    )
    tokens = await mint(world)
    for _ in range(3):
        assert await inspector.inspect(tokens.access_token) is not None  # verified once, then cached
    gone.add(jwt.get_unverified_header(tokens.access_token)["kid"])  # purged (key compromise)
    assert await inspector.inspect(tokens.access_token) is None
