"""RFC 7591 §2 metadata checked at registration (SEC-25) and the ClientRegistry's secret handling."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from helpers import migrated_db
from ostiary.core.clock import FrozenClock
from ostiary.core.errors import Conflict, NotFound, ValidationFailed
from ostiary.oauth2.client_metadata import DEVICE_CODE_GRANT, check_spec, secret_problem
from ostiary.oauth2.client_registry import ClientRegistry, ClientSpec, InvalidClientMetadata, spec_of
from ostiary.storage.interfaces.oauth_clients import Client
from ostiary.storage.memory.oauth_clients import MemoryClientStore
from ostiary.storage.sqlalchemy.oauth_clients import SqlClientStore

from ._support import HASHER, WEB_CB

WEB = ClientSpec(
    client_id="web-app",
    redirect_uris=(WEB_CB,),
    grant_types=("authorization_code", "refresh_token"),
    scopes=("openid", "profile", "items:read"),
)
STRONG_SECRET = secrets.token_urlsafe(32)


def spec(**changes: Any) -> ClientSpec:
    return replace(WEB, **changes)


def fields_of(problems: list[tuple[str, str]]) -> list[str]:
    return [path for path, _ in problems]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def registry(clock: FrozenClock) -> ClientRegistry:
    return ClientRegistry(MemoryClientStore(), HASHER, clock)


# ------------------------------------------------------------------------------ registration rules

INVALID = [
    ({"client_id": "has space"}, "client_id"),
    ({"client_id": ""}, "client_id"),
    ({"client_id": "a" * 101}, "client_id"),
    ({"client_id": "a/b"}, "client_id"),
    ({"client_id": "é"}, "client_id"),
    ({"name": ""}, "name"),
    ({"name": "two\nlines"}, "name"),
    ({"name": "n" * 201}, "name"),
    ({"redirect_uris": ()}, "redirect_uris"),
    ({"redirect_uris": (WEB_CB, WEB_CB)}, "redirect_uris[1]"),
    ({"redirect_uris": WEB_CB}, "redirect_uris"),
    ({"grant_types": ()}, "grant_types"),
    ({"grant_types": ("implicit",)}, "grant_types[0]"),
    ({"grant_types": ("token",)}, "grant_types[0]"),
    ({"grant_types": ("authorization_code", "authorization_code")}, "grant_types[1]"),
    ({"grant_types": ("refresh_token",)}, "grant_types[0]"),
    ({"grant_types": ("client_credentials", "refresh_token")}, "grant_types[1]"),
    ({"token_endpoint_auth_method": "none", "grant_types": ("client_credentials",)}, "grant_types[0]"),
    ({"token_endpoint_auth_method": "none", "grant_types": ("authorization_code", "password")}, "grant_types[1]"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint_auth_method"),
    ({"application_type": "desktop"}, "application_type"),
    ({"access_token_format": "paseto"}, "access_token_format"),
    ({"id_token_signed_response_alg": "HS256"}, "id_token_signed_response_alg"),
    ({"id_token_signed_response_alg": "none"}, "id_token_signed_response_alg"),
    ({"scopes": ("two words",)}, "scopes[0]"),
    ({"scopes": ('quo"te',)}, "scopes[0]"),
    ({"scopes": ("",)}, "scopes[0]"),
    ({"scopes": ("openid", "openid")}, "scopes[1]"),
    ({"scopes": tuple(f"s{i}" for i in range(65))}, "scopes"),
    ({"lifetimes": {"access_token": 3601}}, "lifetimes.access_token"),
    ({"lifetimes": {"access_token": 0}}, "lifetimes.access_token"),
    ({"lifetimes": {"authorization_code": 601}}, "lifetimes.authorization_code"),
    ({"lifetimes": {"id_token": -1}}, "lifetimes.id_token"),
    ({"lifetimes": {"refresh_token_idle": 0}}, "lifetimes.refresh_token_idle"),
    ({"lifetimes": {"refresh": 60}}, "lifetimes.refresh"),
    ({"lifetimes": {"access_token": True}}, "lifetimes.access_token"),
    ({"lifetimes": {"access_token": 60.5}}, "lifetimes.access_token"),
    ({"client_secret": "too-short"}, "client_secret"),
    ({"token_endpoint_auth_method": "none", "client_secret": STRONG_SECRET}, "client_secret"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "field"), INVALID)
def test_each_bad_field_is_named(changes: dict[str, Any], field: str) -> None:
    problems = check_spec(spec(**changes))
    assert field in fields_of(problems), problems


SEC_25_REFUSED = [
    ("web", "javascript:alert(1)"),
    ("web", "JavaScript:alert(1)"),
    ("native", "javascript://app.example.com/%0aalert(1)"),
    ("web", "data:text/html,<script>alert(1)</script>"),
    ("native", "DATA:text/html,x"),
    ("web", "vbscript:msgbox(1)"),
    ("web", "*"),
    ("web", ".*"),
    ("web", "https://*.example.com/cb"),
    ("web", "https://app.example.com/*"),
    ("web", "https://app.example.com/cb#frag"),
    ("web", "http://app.example.com/cb"),  # plain http for a web client
    ("web", "http://localhost/cb"),  # localhost for a (confidential) web client
    ("web", "http://localhost:8080/cb"),
    ("web", "https://user@app.example.com/cb"),
    ("web", "https://app.example.com/a/../cb"),
    ("web", "/cb"),
    ("web", "com.example.app:/cb"),  # private-use schemes are for native apps
    ("native", "myapp:/cb"),  # …in reverse-DNS form
]


@pytest.mark.sec("SEC-25")
@pytest.mark.rfc("RFC 9700 §4.1.3")
@pytest.mark.parametrize(("application_type", "uri"), SEC_25_REFUSED)
async def test_dangerous_redirect_uris_are_refused_at_registration(
    registry: ClientRegistry, application_type: str, uri: str
) -> None:
    bad = spec(application_type=application_type, redirect_uris=(uri,))
    with pytest.raises(InvalidClientMetadata) as info:
        await registry.create(bad)
    assert info.value.status == 400
    assert info.value.code == "invalid_redirect_uri"
    assert info.value.field == "redirect_uris[0]"
    assert await registry.list() == []  # nothing stored
    # The same rules hold for where a client may send the user after logout.
    logout = spec(application_type=application_type, post_logout_redirect_uris=(uri,))
    assert "post_logout_redirect_uris[0]" in fields_of(check_spec(logout))


@pytest.mark.sec("SEC-25")
@pytest.mark.rfc("RFC 8252 §7.3")
@pytest.mark.parametrize(
    ("application_type", "uris"),
    [
        ("native", ("http://127.0.0.1/callback", "http://[::1]/callback", "com.example.app:/cb")),
        ("native", ("http://localhost/callback",)),  # allowed for native apps, matched exactly
        ("web", ("http://127.0.0.1:8080/callback",)),  # loopback IP: development of a web app
        ("web", ("https://app.example.com/cb?tenant=1", "https://app.example.com:8443/cb")),
    ],
)
def test_acceptable_redirect_uris(application_type: str, uris: tuple[str, ...]) -> None:
    assert check_spec(spec(application_type=application_type, redirect_uris=uris)) == []


@pytest.mark.parametrize(
    "good",
    [
        WEB,
        spec(token_endpoint_auth_method="none", application_type="native"),
        spec(grant_types=("client_credentials",), redirect_uris=()),
        spec(grant_types=(DEVICE_CODE_GRANT, "refresh_token"), redirect_uris=(), token_endpoint_auth_method="none"),
        spec(grant_types=("password", "refresh_token"), redirect_uris=()),
        spec(lifetimes={"access_token": 3600, "authorization_code": 600, "refresh_token": 90 * 86400}),
        spec(client_secret=STRONG_SECRET, name="Ünïcode App", scopes=("items:*", "openid")),
        spec(client_secret=secrets.token_hex(32), access_token_format="opaque", id_token_signed_response_alg="EdDSA"),
    ],
)  # fmt: skip
def test_valid_specs_pass(good: ClientSpec) -> None:
    assert check_spec(good) == []


def test_every_problem_is_reported_at_once() -> None:
    problems = check_spec(
        spec(
            client_id="bad id", redirect_uris=("javascript:x",), grant_types=("implicit",), lifetimes={"x": 1}
        )
    )
    assert fields_of(problems) == ["client_id", "grant_types[0]", "redirect_uris[0]", "lifetimes.x"]
    error = InvalidClientMetadata(problems)
    assert error.code == "invalid_client_metadata"  # the first problem is not a redirect URI
    assert error.message.startswith("client_id: 1 to 100 characters")


@pytest.mark.parametrize(
    ("secret", "weak"),
    [
        (secrets.token_urlsafe(32), False),  # 43 characters, 256 bits
        (secrets.token_urlsafe(64), False),
        (secrets.token_hex(32), False),  # 64 hex digits
        (secrets.token_urlsafe(31), True),  # 42 characters
        (secrets.token_hex(31), True),  # 62 hex digits = 248 bits
        ("0123456789abcdef" * 3, True),  # 48 hex digits
        ("a" * 60, True),
        ("abcdefgh" * 8, True),  # a pattern: 8 distinct characters
        (secrets.token_urlsafe(32)[:-1] + "+", True),  # not base64url
        (secrets.token_urlsafe(32) + " ", True),
        (secrets.token_urlsafe(400), True),  # longer than 512
    ],
)
def test_supplied_secrets_need_256_bits(secret: str, weak: bool) -> None:
    assert (secret_problem(secret) is not None) is weak


# ------------------------------------------------------------------------------ the registry


async def test_create_returns_the_secret_once_and_stores_only_its_digest(
    registry: ClientRegistry, clock: FrozenClock
) -> None:
    client, secret = await registry.create(WEB)
    assert secret is not None
    assert len(secret) >= 43
    stored = await registry.get("web-app")
    assert stored == client
    assert stored.secret_digest != secret
    assert stored.secret_digest is not None
    assert HASHER.verify(secret, stored.secret_digest)
    assert secret not in repr(stored)
    assert (stored.name, stored.response_types, stored.created_at) == ("web-app", ("code",), clock.now())
    assert stored.token_endpoint_auth_method == "client_secret_basic"
    with pytest.raises(Conflict):
        await registry.create(WEB)


async def test_public_and_supplied_secret_clients(registry: ClientRegistry) -> None:
    public, none = await registry.create(spec(client_id="spa", token_endpoint_auth_method="none"))
    assert none is None
    assert not public.is_confidential
    supplied, shown = await registry.create(spec(client_id="realm-app", client_secret=STRONG_SECRET))
    assert shown is None  # the caller already has it
    assert supplied.secret_digest is not None
    assert HASHER.verify(STRONG_SECRET, supplied.secret_digest)
    service, _ = await registry.create(
        spec(client_id="svc", grant_types=("client_credentials",), redirect_uris=())
    )
    assert service.response_types == ()


async def test_rotation_invalidates_the_old_secret(registry: ClientRegistry) -> None:
    _, old = await registry.create(WEB)
    assert old is not None
    client, new = await registry.rotate_secret("web-app")
    stored = await registry.get("web-app")
    assert stored == client
    assert stored.secret_digest is not None
    assert HASHER.verify(new, stored.secret_digest)
    assert not HASHER.verify(old, stored.secret_digest)
    await registry.create(spec(client_id="spa", token_endpoint_auth_method="none"))
    with pytest.raises(ValidationFailed) as info:
        await registry.rotate_secret("spa")
    assert info.value.code == "public_client"
    with pytest.raises(NotFound):
        await registry.rotate_secret("nobody")


async def test_update_keeps_the_secret_and_switching_kinds(registry: ClientRegistry) -> None:
    created, secret = await registry.create(WEB)
    assert secret is not None
    renamed, none = await registry.update(replace(spec_of(created), name="Renamed", scopes=("openid",)))
    assert none is None
    assert (renamed.name, renamed.scopes, renamed.created_at) == ("Renamed", ("openid",), created.created_at)
    assert renamed.secret_digest == created.secret_digest
    public, _ = await registry.update(replace(spec_of(renamed), token_endpoint_auth_method="none"))
    assert public.secret_digest is None  # made public: the secret is gone
    confidential, fresh = await registry.update(
        replace(spec_of(public), token_endpoint_auth_method="client_secret_post")
    )
    assert fresh is not None
    assert confidential.secret_digest is not None
    assert HASHER.verify(fresh, confidential.secret_digest)
    assert not HASHER.verify(secret, confidential.secret_digest)
    with pytest.raises(InvalidClientMetadata):
        await registry.update(replace(spec_of(confidential), client_secret=STRONG_SECRET))
    with pytest.raises(InvalidClientMetadata):
        await registry.update(replace(spec_of(confidential), redirect_uris=("http://evil.example/cb",)))
    assert await registry.get("web-app") == confidential  # a refused update stores nothing
    with pytest.raises(NotFound):
        await registry.update(spec(client_id="nobody"))


async def test_disabling_notifies_once(clock: FrozenClock) -> None:
    disabled: list[str] = []

    async def on_disabled(client: Client) -> None:
        disabled.append(client.client_id)

    registry = ClientRegistry(MemoryClientStore(), HASHER, clock, on_disabled=on_disabled)
    await registry.create(WEB)
    assert (await registry.disable("web-app")).disabled
    assert (await registry.disable("web-app")).disabled  # already disabled: no second notice
    assert disabled == ["web-app"]
    assert not (await registry.enable("web-app")).disabled
    await registry.put(spec(client_secret=STRONG_SECRET, disabled=True))  # realm import disables too
    assert disabled == ["web-app", "web-app"]
    with pytest.raises(NotFound):
        await registry.disable("nobody")


async def test_put_is_idempotent_and_keeps_a_stored_secret(registry: ClientRegistry) -> None:
    entry = spec(client_secret=STRONG_SECRET)
    assert await registry.put(entry) == "created"
    assert await registry.put(entry) == "unchanged"
    assert await registry.put(replace(entry, scopes=("openid",))) == "updated"
    kept = await registry.put(replace(entry, scopes=("openid",), client_secret=None))
    assert kept == "unchanged"  # no secret given: the stored one stays
    stored = await registry.get("web-app")
    assert stored.secret_digest is not None
    assert HASHER.verify(STRONG_SECRET, stored.secret_digest)
    with pytest.raises(InvalidClientMetadata) as info:
        await registry.put(spec(client_id="new-app"))  # confidential, new, and no secret to show
    assert info.value.field == "client_secret"
    assert await registry.find("new-app") is None


# ------------------------------------------------------------------------------ concurrency


@pytest.fixture
async def sql_registry(database_url: str, clock: FrozenClock) -> AsyncIterator[ClientRegistry]:
    db = await migrated_db(database_url)
    try:
        yield ClientRegistry(SqlClientStore(db, clock), HASHER, clock)
    finally:
        await db.dispose()


async def test_a_concurrent_update_cannot_undo_a_rotation(sql_registry: ClientRegistry) -> None:
    """An update that read the old digest must not write it back over a rotation (one process)."""
    created, _ = await sql_registry.create(WEB)
    for round_ in range(5):
        renamed = replace(spec_of(created), name=f"round {round_}")
        (_, new_secret), _ = await asyncio.gather(
            sql_registry.rotate_secret("web-app"), sql_registry.update(renamed)
        )
        stored = await sql_registry.get("web-app")
        assert stored.secret_digest is not None
        assert HASHER.verify(new_secret, stored.secret_digest)
        assert stored.name == f"round {round_}"


async def test_an_update_from_a_stale_read_cannot_re_enable(sql_registry: ClientRegistry) -> None:
    created, _ = await sql_registry.create(WEB)
    stale = spec_of(created)  # read while enabled
    await asyncio.gather(sql_registry.disable("web-app"), sql_registry.update(replace(stale, name="x")))
    stored = await sql_registry.get("web-app")
    assert (stored.disabled, stored.name) == (True, "x")
    assert (await sql_registry.update(replace(stale, disabled=False)))[0].disabled  # enable() does that
