"""RFC 6749 §2.3: client secrets and client authentication (SEC-33)."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from ostiary.core.errors import Conflict, NotFound
from ostiary.oauth2.clients import ClientAuthenticator, ClientSecretHasher, parse_basic_credentials
from ostiary.oauth2.errors import InvalidClient, InvalidRequest
from ostiary.storage.interfaces.oauth_clients import Client, ClientLifetimes
from ostiary.storage.memory.oauth_clients import MemoryClientStore

from ._support import HASHER, WEB_SECRET, basic, form_request, native_client, web_client

REALM = 'Basic realm="ostiary"'


@pytest.fixture
def auth(clients: MemoryClientStore) -> ClientAuthenticator:
    return ClientAuthenticator(clients, HASHER)


def test_generated_secrets_have_256_bits_and_only_a_digest_is_kept() -> None:
    secret, digest = HASHER.generate()
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert digest != secret and len(digest) == 64
    assert HASHER.verify(secret, digest)
    assert not HASHER.verify(secret + "x", digest)
    assert ClientSecretHasher(b"other-key" * 4).digest(secret) != digest  # keyed: HMAC, not SHA-256


def test_hasher_needs_a_real_key() -> None:
    with pytest.raises(ValueError):
        ClientSecretHasher(b"short")


def test_public_and_confidential_shape_is_enforced() -> None:
    with pytest.raises(ValueError):
        Client(client_id="x", name="x", token_endpoint_auth_method="none", secret_digest="d")
    with pytest.raises(ValueError):
        Client(client_id="x", name="x")  # client_secret_basic without a secret
    assert not native_client().is_confidential
    assert web_client().is_confidential
    assert "secret_digest" not in repr(web_client())


@pytest.mark.sec("SEC-40")
def test_lifetimes_are_capped() -> None:
    assert ClientLifetimes().access_token <= 3600
    for bad in ({"access_token": 3601}, {"access_token": 0}, {"authorization_code": 601}, {"id_token": -1}):
        with pytest.raises(ValueError):
            ClientLifetimes(**bad)


@pytest.mark.rfc("RFC 6749 §2.3.1")
async def test_basic_credentials_are_url_decoded(
    clients: MemoryClientStore, auth: ClientAuthenticator
) -> None:
    odd_secret = "p@ss:w%rd+ é/="
    await clients.add(
        replace(web_client(), client_id="id:with space", secret_digest=HASHER.digest(odd_secret))
    )
    req = form_request({"grant_type": "x"}, headers={"Authorization": basic("id:with space", odd_secret)})
    client = await auth.authenticate(req, req.form)
    assert client.client_id == "id:with space"
    assert parse_basic_credentials(basic("a+b", "c%d")) == ("a+b", "c%d")


async def test_basic_succeeds_and_a_matching_body_client_id_is_fine(auth: ClientAuthenticator) -> None:
    req = form_request({}, headers={"Authorization": basic("web-app", WEB_SECRET)})
    assert (await auth.authenticate(req, req.form)).client_id == "web-app"
    assert (await auth.authenticate(req, {"client_id": ["web-app"]})).client_id == "web-app"


@pytest.mark.sec("SEC-33")
@pytest.mark.rfc("RFC 6749 §5.2")
@pytest.mark.parametrize(
    "header",
    [
        basic("web-app", "wrong"),
        basic("web-app", ""),
        basic("nobody", WEB_SECRET),
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ],
)
async def test_basic_failures_are_401_with_a_challenge(auth: ClientAuthenticator, header: str) -> None:
    req = form_request({}, headers={"Authorization": header})
    with pytest.raises(InvalidClient) as info:
        await auth.authenticate(req, req.form)
    assert info.value.status == 401
    assert info.value.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.sec("SEC-33")
async def test_post_failures_are_401(auth: ClientAuthenticator) -> None:
    for params in (
        {"client_id": ["web-app"], "client_secret": ["wrong"]},
        {"client_id": ["web-app"]},  # a confidential client presenting no secret
        {"client_id": ["nobody"], "client_secret": ["x"]},
    ):
        with pytest.raises(InvalidClient) as info:
            await auth.authenticate(form_request({}), params)
        assert info.value.status == 401


@pytest.mark.sec("SEC-33")
async def test_missing_credentials_are_401_with_a_challenge(auth: ClientAuthenticator) -> None:
    with pytest.raises(InvalidClient) as info:
        await auth.authenticate(form_request({}), {})
    assert info.value.headers["WWW-Authenticate"] == REALM


@pytest.mark.sec("SEC-33")
@pytest.mark.rfc("RFC 6749 §2.3")
async def test_two_methods_at_once_are_refused(auth: ClientAuthenticator) -> None:
    req = form_request({}, headers={"Authorization": basic("web-app", WEB_SECRET)})
    with pytest.raises(InvalidRequest):
        await auth.authenticate(req, {"client_secret": [WEB_SECRET]})
    with pytest.raises(InvalidRequest):
        await auth.authenticate(req, {"client_id": ["other"]})


@pytest.mark.sec("SEC-33")
async def test_the_registered_method_is_the_only_one(
    clients: MemoryClientStore, auth: ClientAuthenticator
) -> None:
    await clients.update(replace(web_client(), token_endpoint_auth_method="client_secret_post"))
    req = form_request({}, headers={"Authorization": basic("web-app", WEB_SECRET)})
    with pytest.raises(InvalidClient):
        await auth.authenticate(req, req.form)
    ok = await auth.authenticate(form_request({}), {"client_id": ["web-app"], "client_secret": [WEB_SECRET]})
    assert ok.client_id == "web-app"


async def test_public_client_uses_none_and_may_not_send_a_secret(auth: ClientAuthenticator) -> None:
    assert (await auth.authenticate(form_request({}), {"client_id": ["cli"]})).client_id == "cli"
    with pytest.raises(InvalidClient):
        await auth.authenticate(form_request({}), {"client_id": ["cli"], "client_secret": ["x"]})


@pytest.mark.sec("SEC-33")
async def test_disabled_clients_fail(clients: MemoryClientStore, auth: ClientAuthenticator) -> None:
    await clients.update(replace(web_client(), disabled=True))
    req = form_request({}, headers={"Authorization": basic("web-app", WEB_SECRET)})
    with pytest.raises(InvalidClient):
        await auth.authenticate(req, req.form)


async def test_memory_client_store_contract() -> None:
    store = MemoryClientStore()
    await store.add(web_client())
    with pytest.raises(Conflict):
        await store.add(web_client())
    with pytest.raises(NotFound):
        await store.update(native_client())
    await store.add(native_client())
    assert [c.client_id for c in await store.list()] == ["cli", "web-app"]
    assert await store.get("nope") is None
