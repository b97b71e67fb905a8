"""Session-wide test infrastructure: private PostgreSQL/Redis, Chromium, artifacts, SEC coverage.

Fixtures (all lazy: a server starts only when some collected test asks for it):

- ``postgres_server`` (session) -> ``infra.servers.PostgresServer``
- ``redis_server`` (session) -> ``infra.servers.RedisServer``
- ``database_url`` (function, params ``sqlite`` / ``postgresql``) -> URL of a fresh database at head
- ``redis_url`` (function) -> ``redis://127.0.0.1:<port>/0``, flushed before the test
- ``chromium`` (session) -> a Playwright **sync** ``Browser``; ``chromium_page`` (function) -> ``Page``
- ``artifacts_dir`` (session) -> ``<repo>/test-artifacts`` (gitignored) for screenshots, traces, logs

Playwright's sync API cannot run inside a running event loop, and ``asyncio_mode = "auto"`` runs every
``async def`` test inside one: write browser tests as plain ``def`` tests. An async test that needs a
browser can start its own ``playwright.async_api.async_playwright()``. Async and browser tests can be
mixed freely in one session (see ``_mark_playwright_loop``).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

_TESTS_DIR = str(Path(__file__).parent)
if _TESTS_DIR not in sys.path:  # `infra` must import the same way under any --import-mode
    sys.path.insert(0, _TESTS_DIR)

from infra.servers import PostgresServer, RedisServer, migrated_sqlite_template  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SEC_ID = re.compile(r"^SEC-\d+$")


# ------------------------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database of its own, already at the newest migration; every test that uses this runs
    once per backend. The real migrations run once per session into a template, which each test
    copies (a file copy; PostgreSQL's CREATE DATABASE … TEMPLATE): running the nine migrations for
    each of the suite's ~1,500 apps cost minutes. Migrations themselves are still what made the
    template, and the schema tests compare it with tables.py."""
    if request.param == "sqlite":
        path = tmp_path / "t.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+ostiary:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database(template=server.migrated_template())
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flushall()
    return redis_server.url(0)


# ------------------------------------------------------------------------------------------- browser


# Playwright's sync API runs its event loop in a greenlet and leaves that loop marked as *running* in
# this thread between calls. pytest-asyncio then refuses to run async tests and fixtures ("cannot be
# called from a running event loop"). So the mark is kept only while a test that uses the browser runs,
# and cleared around every other test.
_playwright_loop: list[asyncio.AbstractEventLoop] = []


def _mark_playwright_loop(running: bool) -> None:
    if _playwright_loop and not _playwright_loop[0].is_closed():
        asyncio._set_running_loop(_playwright_loop[0] if running else None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    if "chromium" in getattr(item, "fixturenames", ()) and inspect.iscoroutinefunction(
        getattr(item, "obj", None)
    ):
        pytest.fail("tests that use the sync `chromium` fixture must be plain `def` tests", pytrace=False)
    _mark_playwright_loop("chromium" in getattr(item, "fixturenames", ()))
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    _mark_playwright_loop("chromium" in getattr(item, "fixturenames", ()))
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    _mark_playwright_loop("chromium" in getattr(item, "fixturenames", ()))
    return (yield)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """The system Chromium driven by Playwright's sync API. Never downloads a browser."""
    if not Path(CHROMIUM_PATH).exists():
        pytest.fail(f"{CHROMIUM_PATH} not found; install it with scripts/test (apt package chromium)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    loop = asyncio._get_running_loop()
    if loop is not None:
        _playwright_loop.append(loop)
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            _mark_playwright_loop(True)  # the session may end in a test that had it cleared
            browser.close()
    finally:
        _mark_playwright_loop(True)
        pw.stop()
        if asyncio._get_running_loop() in _playwright_loop:
            asyncio._set_running_loop(None)
        _playwright_loop.clear()


@pytest.fixture
def chromium_page(chromium: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (own cookies and storage), closed after the test."""
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


# -------------------------------------------------------------------------------------- SEC coverage

_sec_key = pytest.StashKey[set[str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ids: set[str] = set()
    for item in items:
        for mark in item.iter_markers("sec"):
            for arg in mark.args:
                if not isinstance(arg, str) or not SEC_ID.match(arg):
                    raise pytest.UsageError(f"{item.nodeid}: bad SEC id {arg!r} (want 'SEC-NN')")
                ids.add(arg)
    config.stash[_sec_key] = ids


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    ids = config.stash.get(_sec_key, None)
    if ids is None:
        return
    ordered = sorted(ids, key=lambda s: int(s.split("-")[1]))
    listing = f" ({', '.join(ordered)})" if ordered else ""
    terminalreporter.write_line(f"SEC coverage: {len(ordered)} ids{listing}")


# ------------------------------------------------------------------ RSA keys: generated once, reused
# Every fresh app creates an RS256 key at first start (OIDC needs one), and RSA-3072 generation costs
# ~0.3 s: over a thousand test apps that is minutes of CI. Apps in different tests never share a
# database, so real keys from a pool of distinct, freshly generated ones are handed out in turn
# (16 is far more than any one test rotates). Only the key manager's use is pooled: key_material's
# own generator stays real for its unit tests, and every server process the e2e tests start
# generates its keys as in production.
_RSA_POOL_SIZE = 16


@pytest.fixture(autouse=True, scope="session")
def _reuse_rsa_keys() -> Iterator[None]:
    from itertools import cycle

    from ostiary.tokens import key_manager

    original = key_manager.generate_private_key
    pool: list[Any] = []
    turns: Iterator[Any] | None = None

    def pooled(alg: str) -> Any:
        nonlocal turns
        if alg != "RS256":
            return original(alg)
        if len(pool) < _RSA_POOL_SIZE:
            pool.append(original(alg))
            return pool[-1]
        if turns is None:
            turns = cycle(pool)
        return next(turns)

    key_manager.generate_private_key = pooled  # type: ignore[assignment]
    try:
        yield
    finally:
        key_manager.generate_private_key = original  # type: ignore[assignment]
