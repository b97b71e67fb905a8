"""Helpers of the OAuth end-to-end tests: an issuer with our own realm clients, helper processes
(relying parties), and the browser steps a person takes on ostiary's pages.

`issuer_with_clients` writes a realm file with a `clients:` section (docs/realm.md#clients), loads it
with `ostiary import` into a fresh data directory, then starts `ostiary serve --demo` on that same
directory: the demo realm (users alice/bob/carol and the demo-* clients) is imported on top, so each
module gets the demo users plus the clients it registered for its relying party.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml
from serving import DEMO_USERS, OSTIARY, Server, serve

if TYPE_CHECKING:
    from playwright.sync_api import Page

HERE = Path(__file__).resolve().parent
RP_NODE = HERE / "rp_node"  # the npm packages of the node relying party and the SPA
# Every flow here signs a demo user in many times from one IP: the default limits would interfere.
GENEROUS_LIMITS = {
    "OSTIARY_RATE_LIMIT_LOGIN_PER_IP": "10000/minute",
    "OSTIARY_RATE_LIMIT_LOGIN_PER_IP_USER": "10000/minute",
}
DEMO_SERVICE_SECRET = "KD6KLBJ2J2O3tNZu9-0e2Yc_I0VCYMUEDf_Dy-6965s"  # public: src/ostiary/realm/demo.yaml


def _base_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
    env.update(OSTIARY_DATA_DIR=str(data_dir), OSTIARY_ARGON2_MEMORY_KIB="8192", OSTIARY_ARGON2_TIME_COST="1")
    return env


@contextmanager
def issuer_with_clients(tmp_path: Path, clients: Sequence[Mapping[str, Any]], **env: str) -> Iterator[Server]:
    """`ostiary import` a realm of `clients`, then a real `ostiary serve --demo` on the same data."""
    realm = tmp_path / "clients.yaml"
    realm.write_text(yaml.safe_dump({"clients": [dict(c) for c in clients]}, sort_keys=False))
    # serving.serve keeps its data in tmp_path / "ostiary-data"; the import must write there too.
    imported = subprocess.run(
        [str(OSTIARY), "import", str(realm)],
        cwd=tmp_path,
        env=_base_env(tmp_path / "ostiary-data"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert imported.returncode == 0, f"ostiary import failed:\n{imported.stdout}\n{imported.stderr}"
    assert f"created {len(clients)} client(s)" in imported.stdout, imported.stdout
    with serve(tmp_path, **{**GENEROUS_LIMITS, **env}) as server:
        yield server


# ------------------------------------------------------------------------------------ helper processes


@dataclass
class Helper:
    """A process the test started (a relying party); its output goes to `log_path`."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@contextmanager
def helper_process(
    argv: Sequence[str], log_path: Path, *, cwd: Path, env: Mapping[str, str]
) -> Iterator[Helper]:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    helper = Helper(process, log_path)
    try:
        yield helper
    finally:
        helper.stop()


def wait_until_serving(url: str, helper: Helper, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if helper.process.poll() is not None:
            raise AssertionError(
                f"{url}: the process exited with {helper.process.returncode}:\n{helper.log()}"
            )
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout}s:\n{helper.log()[-4000:]}")


def python_helper(script: str, log_path: Path, **env: str) -> Iterator[Helper]:
    """Run one of the Python relying parties next to this file with the venv's interpreter."""
    return helper_process([sys.executable, str(HERE / script)], log_path, cwd=HERE, env=env)


# ------------------------------------------------------------------------------------ browser steps


def sign_in(page: Page, username: str) -> None:
    """On ostiary's login page: the demo user's name and password, then Log in."""
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(DEMO_USERS[username][0])
    page.get_by_role("button", name="Log in").click()


def result_of(page: Page) -> dict[str, Any]:
    """The JSON a relying party's callback page shows in `<pre id="result">`."""
    result: dict[str, Any] = json.loads(page.locator("#result").inner_text())
    return result


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
