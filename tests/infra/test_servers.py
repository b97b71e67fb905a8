"""The test tooling itself: private PostgreSQL and Redis, per-test isolation, system Chromium."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

PAGE = b"""<!doctype html><html><head><title>ostiary probe</title></head><body>
<button id="go" onclick="document.getElementById('out').textContent = 'clicked'">Go</button>
<p id="out">waiting</p></body></html>"""


async def _scalar(url: str, sql: str) -> object:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


async def test_database_url_is_a_working_empty_database(database_url: str) -> None:
    assert await _scalar(database_url, "select 1") == 1
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table probe (id integer primary key)"))
            await conn.execute(text("insert into probe values (1)"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("select count(*) from probe"))).scalar_one() == 1
    finally:
        await engine.dispose()


def test_postgres_databases_are_fresh_and_distinct(postgres_server) -> None:
    first, second = postgres_server.create_database(), postgres_server.create_database()
    try:
        assert first != second
        assert postgres_server.url(first) != postgres_server.url(second)
        assert postgres_server.host == "127.0.0.1"
    finally:
        postgres_server.drop_database(first)
        postgres_server.drop_database(second)


async def test_postgres_database_is_dropped_even_with_open_connections(postgres_server) -> None:
    name = postgres_server.create_database()
    leaked = await asyncpg.connect(postgres_server.url(name, driver="postgresql"))
    assert await leaked.fetchval("select 1") == 1
    postgres_server.drop_database(name)  # WITH (FORCE): a leaked pool cannot block teardown
    leaked.terminate()
    maintenance = postgres_server.url("postgres")
    exists = await _scalar(maintenance, f"select count(*) from pg_database where datname = '{name}'")
    assert exists == 0


@pytest.mark.parametrize("round_", [1, 2])
def test_redis_is_flushed_between_tests(redis_url: str, round_: int) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.dbsize() == 0  # whatever the previous round left behind is gone
        client.set("probe", f"round-{round_}")
        assert client.get("probe") == f"round-{round_}".encode()
    finally:
        client.close()


@pytest.fixture
def probe_site() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.browser
def test_chromium_clicks_a_button(chromium_page, probe_site: str, artifacts_dir: Path) -> None:
    chromium_page.goto(probe_site)
    assert chromium_page.title() == "ostiary probe"
    chromium_page.click("#go")
    assert chromium_page.text_content("#out") == "clicked"
    chromium_page.screenshot(path=str(artifacts_dir / "infra-chromium-probe.png"))
