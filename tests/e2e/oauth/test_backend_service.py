"""End to end: a backend service (the demo realm's `demo-service`) gets tokens for itself with
Authlib's OAuth2Client (client_credentials, RFC 6749 §4.4), uses them at a separate resource server
(examples/items_api, its own uvicorn process, verifying by JWKS), and an introspecting resource
server sees them active (RFC 7662) until the service revokes them (RFC 7009)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from oauth_e2e import DEMO_SERVICE_SECRET, GENEROUS_LIMITS, helper_process, wait_until_serving
from serving import Server, serve

from helpers import free_port

pytestmark = pytest.mark.e2e

SERVICE = "demo-service"
ITEMS_API = Path(__file__).resolve().parents[3] / "examples" / "items_api"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(Path(tmp_path_factory.mktemp("service")), **GENEROUS_LIMITS) as running:
        yield running


@pytest.fixture(scope="module")
def items_api(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example resource server (`ostiary.sdk`, JWKS verification) for this issuer."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "--factory", "app:create_app", "--app-dir", str(ITEMS_API),
            "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    log = Path(tmp_path_factory.mktemp("items")) / "items.log"
    with helper_process(argv, log, cwd=ITEMS_API, env={"OSTIARY_ISSUER": server.base_url}) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url + "/docs", process)
        yield url


class Recorder:
    """httpx event hook: the responses the library received, to check their headers."""

    def __init__(self) -> None:
        self.responses: list[httpx.Response] = []

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        self.responses.append(response)


def service_client(
    server: Server, scope: str, secret: str = DEMO_SERVICE_SECRET
) -> tuple[OAuth2Client, Recorder]:
    recorder = Recorder()
    client = OAuth2Client(
        SERVICE,
        secret,
        scope=scope,
        token_endpoint=server.base_url + "/token",
        event_hooks={"response": [recorder]},
        timeout=15,
    )
    return client, recorder


@pytest.mark.sec("SEC-32", "SEC-34", "SEC-36", "SEC-40")
def test_a_service_token_is_used_introspected_and_revoked(server: Server, items_api: str) -> None:
    client, recorder = service_client(server, "items:read")
    with client:
        token = client.fetch_token(grant_type="client_credentials")
        issued = recorder.responses[-1]
        assert issued.headers["cache-control"] == "no-store"
        assert "refresh_token" not in token  # SEC-32: nothing to refresh for a client acting for itself
        assert token["token_type"].lower() == "bearer" and token["scope"] == "items:read"
        assert 0 < token["expires_in"] <= 3600

        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        listed = httpx.get(items_api + "/items", headers=bearer, timeout=15)
        assert listed.status_code == 200, listed.text
        assert listed.json()["caller"] == f"client:{SERVICE}"  # never a user's sub (SEC-32)
        written = httpx.post(items_api + "/items", json={"name": "saw"}, headers=bearer, timeout=15)
        assert written.status_code == 403  # items:write was not asked for

        introspected = client.introspect_token(server.base_url + "/introspect", token=token["access_token"])
        assert introspected.status_code == 200 and introspected.headers["cache-control"] == "no-store"
        view = introspected.json()
        assert view["active"] is True
        assert view["client_id"] == SERVICE and view["scope"] == "items:read"
        assert view["sub"] == f"client:{SERVICE}" and view["iss"] == server.base_url

        revoked = client.revoke_token(server.base_url + "/revoke", token=token["access_token"])
        assert revoked.status_code == 200
        after = client.introspect_token(server.base_url + "/introspect", token=token["access_token"])
        assert after.json() == {"active": False}


@pytest.mark.sec("SEC-34")
def test_a_wider_scope_gets_a_token_that_writes(server: Server, items_api: str) -> None:
    client, _ = service_client(server, "items:read items:write")
    with client:
        token = client.fetch_token(grant_type="client_credentials")
    assert set(token["scope"].split()) == {"items:read", "items:write"}
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    created = httpx.post(items_api + "/items", json={"name": "drill"}, headers=bearer, timeout=15)
    assert created.status_code == 201, created.text
    assert created.json()["owner"] == f"client:{SERVICE}"


@pytest.mark.sec("SEC-33", "SEC-34", "SEC-32")
def test_what_the_service_is_refused(server: Server) -> None:
    client, recorder = service_client(server, "items:read", secret="not-the-secret")
    with client, pytest.raises(OAuthError) as wrong_secret:
        client.fetch_token(grant_type="client_credentials")
    assert wrong_secret.value.error == "invalid_client"
    refused = recorder.responses[-1]
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")

    client, _ = service_client(server, "items:read openid")  # openid is not among its scopes
    with client, pytest.raises(OAuthError) as wider:
        client.fetch_token(grant_type="client_credentials")
    assert wider.value.error == "invalid_scope"

    client, _ = service_client(server, "items:read")  # a grant it is not registered for
    with client, pytest.raises(OAuthError) as password:
        client.fetch_token(grant_type="password", username="alice", password="orange kettle harbour")
    assert password.value.error == "unauthorized_client"
