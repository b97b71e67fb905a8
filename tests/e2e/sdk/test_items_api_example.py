"""End to end: examples/items_api (a separate FastAPI service using `ostiary.sdk`) against a real
ostiary, in-process (ASGI, real JWKS over HTTP) and as its own uvicorn process. RFC 6750 §3."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sdk_helpers import EXAMPLE_DIR, CountingClient, join, load_example, split
from serving import Server

from helpers import free_port

pytestmark = pytest.mark.e2e


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def challenge(response: httpx.Response) -> str:
    return response.headers.get("www-authenticate", "")


@pytest.fixture
async def api(issuer_server: Server, http: CountingClient) -> AsyncIterator[httpx.AsyncClient]:
    app = load_example().create_app(issuer_server.base_url, http=http)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://items.test"
    ) as client:
        yield client


async def test_scopes_decide_200_201_and_403(
    api: httpx.AsyncClient, token_for: Callable[..., str], http: CountingClient
) -> None:
    carol, bob = token_for("carol"), token_for("bob")
    listed = await api.get("/items", headers=bearer(carol))
    assert listed.status_code == 200
    assert listed.json()["caller"] == "carol"

    denied = await api.post("/items", json={"name": "saw"}, headers=bearer(carol))
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in challenge(denied)
    assert 'scope="items:write"' in challenge(denied)

    created = await api.post("/items", json={"name": "saw"}, headers=bearer(bob))
    assert created.status_code == 201, created.text
    assert created.json()["owner"] == split(bob)[1]["sub"]
    assert "saw" in [item["name"] for item in (await api.get("/items", headers=bearer(bob))).json()["items"]]

    # bob may write, but this token was narrowed to reading at issue time.
    narrowed = token_for("bob", scope="items:read")
    assert (await api.get("/items", headers=bearer(narrowed))).status_code == 200
    assert (await api.post("/items", json={"name": "x"}, headers=bearer(narrowed))).status_code == 403
    assert http.count() == 1


@pytest.mark.sec("SEC-09")
@pytest.mark.sec("SEC-15")
async def test_missing_bad_and_misplaced_tokens_get_rfc6750_answers(
    api: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    token = token_for("bob")
    missing = await api.get("/items")
    assert missing.status_code == 401
    assert challenge(missing) == 'Bearer realm="items"'  # §3.1: no error code when none was sent
    assert (
        challenge(await api.get("/items", headers={"Authorization": "Basic Ym9iOng="}))
        == 'Bearer realm="items"'
    )
    # §2.3 query tokens are not read: they end up in logs and histories.
    assert (await api.get("/items", params={"access_token": token})).status_code == 401

    header, payload, signature = split(token)
    for bad in (
        token + "x",
        join(header, {**payload, "scope": "items:read items:write users:manage"}, signature),
        join({**header, "alg": "none"}, payload, signature),
        "not a token",
    ):
        response = await api.post("/items", json={"name": "x"}, headers=bearer(bad))
        assert response.status_code == 401, bad
        assert 'error="invalid_token"' in challenge(response)

    twice = await api.get(
        "/items", headers=[("Authorization", f"Bearer {token}"), ("Authorization", "Bearer x")]
    )
    assert twice.status_code == 400
    assert 'error="invalid_request"' in challenge(twice)
    # Authentication is decided before the body is looked at: no 422 to an anonymous caller.
    assert (await api.post("/items", json={"name": ""})).status_code == 401


async def test_an_unreachable_jwks_fails_closed_with_503(
    issuer_server: Server, token_for: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSTIARY_JWKS_URI", f"http://127.0.0.1:{free_port()}/jwks.json")
    app = load_example().create_app(issuer_server.base_url)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://items.test") as api:
        response = await api.get("/items", headers=bearer(token_for("carol")))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "www-authenticate" not in response.headers  # the token may well be fine


@pytest.fixture
def items_process(issuer_server: Server, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "OSTIARY_ISSUER": issuer_server.base_url}
    with (tmp_path / "items.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "app:create_app", "--app-dir", str(EXAMPLE_DIR),
             "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "items.log").read_text()
            try:
                httpx.get(url + "/items", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, (tmp_path / "items.log").read_text()
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_the_example_as_its_own_uvicorn_process(items_process: str, token_for: Callable[..., str]) -> None:
    with httpx.Client(base_url=items_process, timeout=10) as api:
        assert api.get("/items").status_code == 401
        assert api.get("/items", headers=bearer(token_for("carol"))).status_code == 200
        assert api.post("/items", json={"name": "saw"}, headers=bearer(token_for("carol"))).status_code == 403
        assert api.post("/items", json={"name": "saw"}, headers=bearer(token_for("alice"))).status_code == 201
        assert api.get("/items", headers=bearer(token_for("bob") + "x")).status_code == 401
