"""A real `ostiary serve --demo` process on a free loopback port, stopped with bounded waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from helpers import free_port

OSTIARY = Path(sys.executable).with_name("ostiary")
# The demo realm (src/ostiary/realm/demo.yaml): one user per role.
DEMO_USERS = {
    "alice": ("orange kettle harbour", "admin"),
    "bob": ("purple lantern meadow", "editor"),
    "carol": ("silver compass orchard", "viewer"),
}


@dataclass
class Server:
    base_url: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_healthy(server: Server, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"ostiary serve exited with {server.process.returncode}:\n{server.log()[-4000:]}"
            )
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"ostiary serve did not become healthy in {timeout}s:\n{server.log()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def serve(tmp_path: Path, *, host_name: str = "127.0.0.1", **env: str) -> Iterator[Server]:
    """Run `ostiary serve --demo` with its data in `tmp_path`; extra OSTIARY_* settings via `env`.

    `host_name="localhost"` makes the issuer (and `base_url`) http://localhost:<port>, which passkeys
    need: browsers refuse an IP address as the WebAuthn rp_id. The server still listens on 127.0.0.1.
    """
    assert OSTIARY.exists(), f"{OSTIARY} missing: install the package (pip install -e .)"
    port = free_port()
    if host_name != "127.0.0.1":
        env = {"OSTIARY_ISSUER": f"http://{host_name}:{port}", **env}
    data_dir = tmp_path / "ostiary-data"
    log_path = tmp_path / "serve.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
    clean.update(
        OSTIARY_DATA_DIR=str(data_dir),
        OSTIARY_ARGON2_MEMORY_KIB="8192",
        OSTIARY_ARGON2_TIME_COST="1",
        **env,
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(OSTIARY), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,  # no stray .env from the repository
            env=clean,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://{host_name}:{port}", data_dir, log_path, process)
    try:
        _wait_healthy(server)
        yield server
    finally:
        _stop(process)
