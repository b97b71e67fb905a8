"""OAuth token endpoint and introspection: ostiary vs node oidc-provider and django-oauth-toolkit (issue 5).

Each server runs as its own process with one worker on loopback, configured with an equivalent
confidential client (client_secret_basic, client_credentials, scope items:read, 600 s tokens), and is
loaded by `wrk` (Debian package, a separate C process, so the load generator costs the servers little
CPU) with 8 connections for a bounded time. Lines:

- `client_credentials`: POST /token, grant_type=client_credentials — a token issued per request.
- `introspection`: POST introspection with one token issued beforehand (RFC 7662).

Ratios are ostiary req/s over the peer's req/s in the same run; the target (issue 5) is ≥ 1.2× node
oidc-provider "configured with equivalent clients" on both, and is printed against that peer only.

oidc-provider runs twice. `oidc-provider` is its default: opaque access tokens, a random handle kept by
its in-memory adapter (the only format its introspection accepts, so the introspection line compares
against it). `oidc-provider (ES256 JWT)` issues what ostiary issues by default — RFC 9068 `at+jwt`
access tokens signed with ES256, nothing stored — and runs the client_credentials line only. The
client's access-token format is part of its configuration in ostiary (per client: JWT or opaque),
so the second is the equivalent client for that line; both are printed, the target beside the
second.

ostiary and the oidc-provider peers run side by side and take turns in short rounds (`--rounds`,
default 8, of `--seconds`, default 2, per line). In a round each line runs on every server back to
back, and odd rounds reverse the order. A ratio is the median of the rounds' own ratios, ostiary's
run against the peer's run of the same line and round, printed with their range: on a shared
machine the speed drifts within seconds, so only runs made moments apart compare with each other.
django-oauth-toolkit (hundreds of times slower) runs once, after. Peers are installed on first use
into ignored directories: oidc-provider with `npm install` into
bench/peers/oidc-provider/node_modules, django-oauth-toolkit into a venv at bench/peers/dot/.venv.
`--quick` runs each line for one second, one round (the smoke test).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / "peers"
NODE_PEER = PEERS / "oidc-provider"
DOT_PEER = PEERS / "dot"
DOT_VENV = DOT_PEER / ".venv"
OSTIARY = Path(sys.executable).with_name("ostiary")
CLIENT_ID = "bench-service"
CLIENT_SECRET = secrets.token_urlsafe(32)  # 256 bits, as ostiary requires of a realm-file secret
TARGET = 1.2
CONNECTIONS = 8
LINES = ("client_credentials", "introspection")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# ------------------------------------------------------------------------------------ peers setup


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is required: apt-get install wrk")
    return found


def ensure_node_peer() -> bool:
    if not shutil.which("node") or not shutil.which("npm"):
        print("oidc-provider: skipped (node/npm not installed)")
        return False
    if not (NODE_PEER / "node_modules" / "oidc-provider").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=NODE_PEER, check=True)
    return True


def ensure_dot_peer() -> bool:
    python = DOT_VENV / "bin" / "python"
    if not (DOT_VENV / "bin" / "gunicorn").exists():
        subprocess.run([sys.executable, "-m", "venv", str(DOT_VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "django>=5,<6",
                "django-oauth-toolkit>=3,<4",
                "gunicorn",
            ],
            check=True,
        )
    return True


# ------------------------------------------------------------------------------------ processes


@dataclass
class Running:
    name: str
    base_url: str
    token_path: str
    introspection_path: str
    process: subprocess.Popen[bytes]
    lines: tuple[str, ...] = LINES
    jwt_access_tokens: bool = True  # checked on the first token, so a misconfigured peer is caught


def _wait_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def run_ostiary(workdir: Path) -> Iterator[Running]:
    port = free_port()
    realm = workdir / "bench-realm.yaml"
    realm.write_text(
        "clients:\n"
        f"  - client_id: {CLIENT_ID}\n"
        "    name: Bench service\n"
        f'    client_secret: "{CLIENT_SECRET}"\n'
        "    grant_types: [client_credentials]\n"
        "    scopes: [items:read]\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
    env.update(
        OSTIARY_DATA_DIR=str(workdir / "ostiary-data"),
        OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
        OSTIARY_LOG_LEVEL="warning",
        OSTIARY_RATE_LIMIT_ENABLED="false",
    )
    subprocess.run([str(OSTIARY), "import", str(realm)], env=env, check=True, capture_output=True)
    log = (workdir / "ostiary.log").open("wb")
    process = subprocess.Popen(
        [str(OSTIARY), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_up(f"http://127.0.0.1:{port}/healthz", process)
        yield Running("ostiary", f"http://127.0.0.1:{port}", "/token", "/introspect", process)
    finally:
        _stop(process)
        log.close()


NODE_OPAQUE = "oidc-provider"
NODE_JWT = "oidc-provider (ES256 JWT)"


@contextmanager
def run_node_peer(token_format: str = "opaque") -> Iterator[Running]:
    port = free_port()
    process = subprocess.Popen(
        ["node", "server.mjs", str(port), CLIENT_ID, CLIENT_SECRET, token_format],
        cwd=NODE_PEER,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_up(f"http://127.0.0.1:{port}/.well-known/openid-configuration", process)
        jwt = token_format == "jwt"
        yield Running(
            NODE_JWT if jwt else NODE_OPAQUE,
            f"http://127.0.0.1:{port}",
            "/token",
            "/token/introspection",
            process,
            # oidc-provider stores no JWT access token, and its introspection finds only stored ones.
            lines=("client_credentials",) if jwt else LINES,
            jwt_access_tokens=jwt,
        )
    finally:
        _stop(process)


@contextmanager
def run_dot_peer(workdir: Path) -> Iterator[Running]:
    port = free_port()
    env = {**os.environ, "DOT_BENCH_DATA": str(workdir / "dot"), "DJANGO_SETTINGS_MODULE": "settings"}
    python = DOT_VENV / "bin" / "python"
    subprocess.run(
        [str(python), "setup_client.py", CLIENT_ID, CLIENT_SECRET], cwd=DOT_PEER, env=env, check=True
    )
    process = subprocess.Popen(
        [str(DOT_VENV / "bin" / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi_app:application"],
        cwd=DOT_PEER,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_up(f"http://127.0.0.1:{port}/token", process)
        yield Running(
            "django-oauth-toolkit",
            f"http://127.0.0.1:{port}",
            "/token",
            "/introspect",
            process,
            jwt_access_tokens=False,
        )
    finally:
        _stop(process)


# ------------------------------------------------------------------------------------ load


def issue_token(server: Running) -> str:
    response = httpx.post(
        server.base_url + server.token_path,
        data={"grant_type": "client_credentials", "scope": "items:read"},
        headers={"Authorization": basic_auth(CLIENT_ID, CLIENT_SECRET)},
        timeout=30,
    )
    response.raise_for_status()
    token = str(response.json()["access_token"])
    if server.jwt_access_tokens != is_es256_access_token(token):
        kind = "an ES256 at+jwt" if server.jwt_access_tokens else "an opaque"
        raise RuntimeError(f"{server.name}: expected {kind} access token, got {token[:40]}…")
    return token


def is_es256_access_token(token: str) -> bool:
    """Is this an RFC 9068 JWT signed with ES256? (Its header only: the bench trusts its own peers.)"""
    head = token.split(".", 1)[0] if token.count(".") == 2 else ""
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:
        return False
    return isinstance(header, dict) and header.get("alg") == "ES256" and header.get("typ") == "at+jwt"


def check_introspection(server: Running, token: str) -> None:
    response = httpx.post(
        server.base_url + server.introspection_path,
        data={"token": token},
        headers={"Authorization": basic_auth(CLIENT_ID, CLIENT_SECRET)},
        timeout=30,
    )
    response.raise_for_status()
    if response.json().get("active") is not True:
        raise RuntimeError(f"{server.name}: introspection says the token is inactive: {response.text}")


def wrk_post(wrk: str, url: str, body: str, seconds: float, workdir: Path) -> float:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f'wrk.headers["Authorization"] = {json.dumps(basic_auth(CLIENT_ID, CLIENT_SECRET))}\n'
        "responses = {}\n"
        "response = function(status, headers, body)\n"
        "  if status ~= 200 then responses[status] = (responses[status] or 0) + 1 end\n"
        "end\n"
    )
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} failed responses under load")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"could not read wrk output:\n{out}")
    return float(match.group(1))


def measure_line(server: Running, line: str, wrk: str, seconds: float, workdir: Path) -> float:
    """One run of one line against one server, in req/s.

    The token to introspect is issued just before its load and checked active before and after it:
    oidc-provider's in-memory adapter keeps only the latest 1,000 entries, so a token issued before
    thousands of others (the client_credentials load) is gone, and its introspection would be timing
    `{"active": false}` answers."""
    if line == "client_credentials":
        body = "grant_type=client_credentials&scope=items%3Aread"
        return wrk_post(wrk, server.base_url + server.token_path, body, seconds, workdir)
    token = issue_token(server)
    check_introspection(server, token)
    rate = wrk_post(wrk, server.base_url + server.introspection_path, f"token={token}", seconds, workdir)
    check_introspection(server, token)
    return rate


def measure(server: Running, wrk: str, seconds: float, workdir: Path) -> dict[str, float]:
    """Every line of one server, once (the peer that runs alone)."""
    issue_token(server)  # checks the token format
    return {line: measure_line(server, line, wrk, seconds, workdir) for line in server.lines}


Samples = dict[str, dict[str, list[float]]]  # server → line → req/s of each round


def alternating(servers: list[Running], wrk: str, seconds: float, rounds: int, workdir: Path) -> Samples:
    """Req/s per server, line and round. Within a round each line runs on every server back to back,
    so the runs compared are seconds apart; odd rounds reverse the servers' order, so none of them
    always goes first (or always follows the same neighbour)."""
    for server in servers:
        issue_token(server)  # checks the token format
    samples: Samples = {s.name: {line: [] for line in s.lines} for s in servers}
    for number in range(rounds):
        order = servers if number % 2 == 0 else servers[::-1]
        for line in LINES:
            for server in order:
                if line in server.lines:
                    samples[server.name][line].append(measure_line(server, line, wrk, seconds, workdir))
    return samples


def round_ratios(ours: list[float], theirs: list[float]) -> list[float]:
    """ostiary's req/s over the peer's, round by round: the two ran within seconds of each other, so
    a round's ratio is steadier than a ratio of medians taken a minute apart."""
    return [o / t for o, t in zip(ours, theirs, strict=True) if t > 0]


def target_note(line: str, peer: str) -> str:
    """The target is set against the equivalent client: for client_credentials the peer issuing the
    same ES256 JWTs as ostiary; for introspection the only peer that introspects (opaque handles)."""
    equivalent = {("client_credentials", NODE_JWT), ("introspection", NODE_OPAQUE)}
    if (line, peer) in equivalent:
        return f" (target ≥ {TARGET}×)"
    if (line, peer) == ("client_credentials", NODE_OPAQUE):
        return " (its default: random handles from memory, no signature; no target)"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="load per line and round (default 2)")
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds (default 8)")
    parser.add_argument("--quick", action="store_true", help="one second, one round (smoke test)")
    parser.add_argument("--no-dot", action="store_true", help="skip django-oauth-toolkit")
    parser.add_argument("--no-node", action="store_true", help="skip node oidc-provider")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else min(args.seconds, 60.0)
    rounds = 1 if args.quick else max(1, min(args.rounds, 30))
    wrk = ensure_wrk()
    samples: Samples = {}
    with tempfile.TemporaryDirectory(prefix="ostiary-oauth-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        servers = [stack.enter_context(run_ostiary(workdir))]
        if not args.no_node and ensure_node_peer():
            servers.append(stack.enter_context(run_node_peer("opaque")))
            servers.append(stack.enter_context(run_node_peer("jwt")))
        samples.update(alternating(servers, wrk, seconds, rounds, workdir))
        stack.close()
        if not args.no_dot and ensure_dot_peer():
            with run_dot_peer(workdir) as server:  # hundreds of times slower: once, after the rest
                dot = measure(server, wrk, seconds, workdir)
                samples["django-oauth-toolkit"] = {line: [rate] * rounds for line, rate in dot.items()}
    results = {
        name: {line: statistics.median(rates) for line, rates in lines.items()}
        for name, lines in samples.items()
    }
    ours = samples["ostiary"]
    print(
        f"method: wrk, {CONNECTIONS} connections, {seconds:.0f} s per line and round, {rounds} alternating "
        "rounds; req/s are medians, a ratio is the median of the rounds' own ratios (their range after it)"
    )
    for line in LINES:
        print(f"{line}: ostiary {results['ostiary'][line]:,.0f} req/s")
        for peer, lines in samples.items():
            if peer == "ostiary" or line not in lines:
                continue
            ratios = round_ratios(ours[line], lines[line])
            spread = f", rounds {min(ratios):.2f}–{max(ratios):.2f}" if len(ratios) > 1 else ""
            target = target_note(line, peer)
            ratio = statistics.median(ratios) if ratios else float("inf")
            print(f"  vs {peer}: {results[peer][line]:,.1f} req/s → {ratio:.2f}×{spread}{target}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
