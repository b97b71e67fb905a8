"""End to end: `ostiary serve --demo` as a real process, over real HTTP (SQLite; PostgreSQL + Redis)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving import DEMO_USERS, Server, serve

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Server]:
    """Zero configuration (SQLite in the data dir), and PostgreSQL + Redis from the test fixtures."""
    env: dict[str, str] = {}
    if database_url.startswith("postgresql"):
        env["OSTIARY_DATABASE_URL"] = database_url
        env["OSTIARY_REDIS_URL"] = request.getfixturevalue("redis_url")
    with serve(tmp_path, **env) as running:
        yield running


def client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=15)


@pytest.mark.sec("SEC-64")
@pytest.mark.sec("SEC-10")
def test_demo_users_log_in_over_real_http_and_logout_is_server_side(server: Server) -> None:
    assert client(server).get("/readyz").status_code == 200
    for username, (password, role) in DEMO_USERS.items():
        with client(server) as browser:
            response = browser.post("/auth/login", json={"username": username, "password": password})
            assert response.status_code == 200, response.text
            me = browser.get("/auth/me").json()
            assert me["username"] == username
            assert me["roles"] == [role]

    with client(server) as c:
        rid = {"X-Request-ID": "e2e-fixed-request-id"}
        wrong = c.post(
            "/auth/login", json={"username": "carol", "password": "not her password at all"}, headers=rid
        )
        unknown = c.post(
            "/auth/login", json={"username": "mallory", "password": "not her password at all"}, headers=rid
        )
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.content == unknown.content

    with client(server) as browser:
        password = DEMO_USERS["bob"][0]
        token = browser.post("/auth/login", json={"username": "bob", "password": password}).json()[
            "csrf_token"
        ]
        sid = browser.cookies.get("ostiary_session")
        assert sid
        assert browser.post("/auth/logout", headers={"X-CSRF-Token": token}).status_code == 204
    with client(server) as replay:
        replay.cookies.set("ostiary_session", sid)
        assert replay.get("/auth/me").status_code == 401

    secret = server.data_dir / "secret.key"
    assert secret.exists()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    log = server.log()
    for username, (password, _) in DEMO_USERS.items():
        assert password not in log.replace(f"{username:<8} {password}", "")  # the demo banner lists them
    assert sid not in log


@pytest.mark.sec("SEC-60")
def test_repeated_bad_passwords_get_throttled(server: Server) -> None:
    with client(server) as c:
        statuses = [
            c.post(
                "/auth/login", json={"username": "carol", "password": f"wrong guess number {i}"}
            ).status_code
            for i in range(12)
        ]
    assert statuses[0] == 401
    assert 429 in statuses
    with client(server) as c:
        throttled = c.post("/auth/login", json={"username": "carol", "password": DEMO_USERS["carol"][0]})
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) >= 1
