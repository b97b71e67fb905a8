"""Private, throwaway PostgreSQL and Redis servers for one test session.

Nothing here touches a system-wide cluster or service: each server lives in its own temp dir, listens
on a free loopback port and is destroyed when the session ends (finalizer first, atexit as a backstop).
The binaries come from the Debian packages that ``scripts/test`` installs.
"""

from __future__ import annotations

import asyncio
import atexit
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import redis

T = TypeVar("T")
_HINT = "install it with scripts/test (it apt-installs postgresql, redis-server and chromium)"


class ServerUnavailable(RuntimeError):
    """A server binary is missing or the server did not come up."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _migrate(url: str) -> None:
    from ostiary.storage.sqlalchemy.database import Database
    from ostiary.storage.sqlalchemy.migrate import upgrade

    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()  # a template must have no open connections when it is copied


def migrated_sqlite_template(directory: Path) -> Path:
    """An SQLite file migrated to head by the real migrations, to copy per test."""
    path = directory / "template.db"
    _run_coro(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


def _run_coro(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in a private thread.

    Works whether or not the calling thread already runs an event loop (async tests, auto mode).
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=target, name="servers-helper", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _sigterm_as_interrupt() -> None:
    """Let a plain SIGTERM (CI cancelling the job) unwind pytest so that finalizers stop the servers."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

        def handler(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, handler)


# --------------------------------------------------------------------------------------- PostgreSQL


def find_postgres_bindir() -> Path:
    candidates = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()]
    if not candidates:
        raise ServerUnavailable(f"PostgreSQL binaries not found under /usr/lib/postgresql/*/bin; {_HINT}")

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in p.parent.name.split(".") if x.isdigit())

    return max(candidates, key=version)


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"
    _databases: set[str] = field(default_factory=set)
    _template: str | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    # -- per-test databases ------------------------------------------------------------------------

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(host=self.host, port=self.port, user=self.user, database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create_database(self, template: str | None = None) -> str:
        """A new database, empty or a copy of `template` (which must have no open connections)."""
        name = f"t_{secrets.token_hex(6)}"
        copy = f' TEMPLATE "{template}"' if template else ""
        _run_coro(self._execute(f'CREATE DATABASE "{name}"{copy}'))
        self._databases.add(name)
        return name

    def migrated_template(self) -> str:
        """A database migrated to head by the real migrations, made once per server, to copy from."""
        if self._template is None:
            name = self.create_database()
            _run_coro(_migrate(self.url(name)))
            self._template = name
        return self._template

    def drop_database(self, name: str) -> None:
        # FORCE: a test may leave pooled connections open; they must not keep the database alive.
        _run_coro(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._databases.discard(name)

    # -- lifecycle ---------------------------------------------------------------------------------

    def _cmd(self, *args: str) -> list[str]:
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; the Debian package creates a `postgres` user.
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def _pg_ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), *args)
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
        )

    def stop(self) -> None:
        if self.data.joinpath("postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = find_postgres_bindir()
        # As root the server runs as `postgres`, which must be able to reach the dir: use /tmp.
        root = Path(tempfile.mkdtemp(prefix="ostiary-pg-", dir="/tmp" if os.geteuid() == 0 else None))
        server = cls(bindir=bindir, root=root, port=free_port())
        atexit.register(server.stop)
        _sigterm_as_interrupt()
        try:
            server._init_and_start()
        except BaseException:
            server.stop()
            raise
        return server

    def _init_and_start(self) -> None:
        sock = self.root / "sock"
        sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(sock, "postgres", "postgres")
        initdb = self._cmd(
            str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user,
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        done = subprocess.run(
            initdb, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False
        )
        if done.returncode != 0:
            raise ServerUnavailable(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        for attempt in range(3):
            self._write_conf(sock)
            log = self.root / "postgres.log"
            started = self._pg_ctl("-w", "-t", "60", "-l", str(log), "start", timeout=90)
            if started.returncode == 0:
                return
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            if "could not bind" in tail and attempt < 2:  # lost the free-port race: try another port
                self.port = free_port()
                continue
            raise ServerUnavailable(f"pg_ctl start failed:\n{started.stdout}\n{started.stderr}\n{tail}")

    def _write_conf(self, sock: Path) -> None:
        conf = self.data / "postgresql.auto.conf"
        conf.write_text(
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{sock}'\n"
            "fsync = off\n"
            "synchronous_commit = off\n"
            "full_page_writes = off\n"
            "max_connections = 200\n"
            "shared_buffers = 32MB\n"
            "log_min_messages = warning\n"
        )
        if os.geteuid() == 0:
            shutil.chown(conf, "postgres", "postgres")


# --------------------------------------------------------------------------------------------- Redis


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    root: Path
    port: int
    host: str = "127.0.0.1"

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, socket_timeout=10)

    def flushall(self) -> None:
        with self.client() as c:
            c.flushall()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    @classmethod
    def start(cls) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerUnavailable(f"redis-server not found on PATH; {_HINT}")
        root = Path(tempfile.mkdtemp(prefix="ostiary-redis-"))
        _sigterm_as_interrupt()
        last_error = ""
        for _ in range(3):
            port = free_port()
            log = root / "redis.log"
            cmd = [
                binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(root), "--logfile", str(log), "--daemonize", "no",
            ]  # fmt: skip
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            server = cls(process=proc, root=root, port=port)
            atexit.register(server.stop)
            if server._wait_ready(timeout=15):
                return server
            last_error = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
        raise ServerUnavailable(f"redis-server did not answer PING:\n{last_error}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with redis.Redis(host=self.host, port=self.port, socket_timeout=1) as c:
                    if c.ping():
                        return True
            except redis.ConnectionError:
                time.sleep(0.02)
        return False
