"""Helpers of the SDK and `ostiary login` end-to-end tests (fixtures are in conftest.py)."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from serving import DEMO_USERS, OSTIARY, Server

# /auth/token shares the login rate limits; a module's tests log the demo users in many times.
GENEROUS_LIMITS = {
    "OSTIARY_RATE_LIMIT_LOGIN_PER_IP": "10000/minute",
    "OSTIARY_RATE_LIMIT_LOGIN_PER_IP_USER": "10000/minute",
}
JWKS_PATH = "/.well-known/jwks.json"
EXAMPLE_DIR = Path(__file__).resolve().parents[3] / "examples" / "items_api"


def load_example() -> ModuleType:
    """examples/items_api/app.py, imported from its path (it is not a package)."""
    spec = importlib.util.spec_from_file_location("items_api_example", EXAMPLE_DIR / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fetch_token(server: Server, username: str, scope: str | None = None) -> str:
    """A real access token for a demo user, from the first-party token endpoint."""
    body: dict[str, str] = {"username": username, "password": DEMO_USERS[username][0]}
    if scope is not None:
        body["scope"] = scope
    response = httpx.post(server.base_url + "/auth/token", json=body, timeout=15)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def ostiary_cli(server: Server, *args: str, **env: str) -> str:
    """Run the real `ostiary` command on `server`'s data (SQLite: the server sees the changes)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
    clean.update(OSTIARY_DATA_DIR=str(server.data_dir), **env)
    done = subprocess.run(
        [str(OSTIARY), *args],
        env=clean,
        cwd=server.data_dir.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def create_client(server: Server, client_id: str, *options: str) -> str:
    """Register a confidential client with `ostiary clients create`; returns its secret."""
    out = ostiary_cli(server, "clients", "create", client_id, *options)
    match = re.search(r"shown once[^\n]*\n\s*(\S+)", out)
    assert match, out
    return match.group(1)


class CountingClient(httpx.AsyncClient):
    """A real httpx client that records the URLs it requested (an httpx event hook)."""

    def __init__(self) -> None:
        self.requested: list[str] = []

        async def record(request: httpx.Request) -> None:
            self.requested.append(str(request.url))

        super().__init__(timeout=10, event_hooks={"request": [record]})

    def count(self, suffix: str = JWKS_PATH) -> int:
        return sum(1 for url in self.requested if url.endswith(suffix))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), signature


def join(header: dict[str, Any], payload: dict[str, Any], signature: str) -> str:
    encode = lambda part: b64(json.dumps(part, separators=(",", ":")).encode())  # noqa: E731
    return f"{encode(header)}.{encode(payload)}.{signature}"


class CanaryServer:
    """A real HTTP server on loopback that answers 404 to everything and counts what it was asked:
    the URL a forged token points at (`jku`, `x5u`), or an "issuer" that is no OAuth server."""

    def __init__(self) -> None:
        hits: list[str] = []
        self.hits = hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_error(404)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CanaryServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
