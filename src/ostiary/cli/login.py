"""`ostiary login|logout`, `ostiary auth status`: a CLI client of the RFC 8628 device authorization grant.

`login` reads the issuer's metadata (OIDC Discovery / RFC 8414), asks its
`device_authorization_endpoint` for a code pair (§3.1–3.2), shows the verification URI and user code
(§3.3; opening a browser when there is a display), and polls the token endpoint (§3.4–3.5): every
`interval` seconds, 5 s slower after each `slow_down`, until the token comes, the user denies, the
code expires, or MAX_WAIT has passed. `--with-token` stores a token read from stdin instead.

Tokens are kept in `$XDG_CONFIG_HOME/ostiary/credentials.json` (default `~/.config/…`), keyed by
issuer. The file is created with mode 0600 from its first byte (`os.open(…, 0o600)` on a fresh
temporary file, then an atomic `os.replace`), in a 0700 directory: a crash mid-write leaves the old
file intact, and there is no instant at which another user could open it. Only https issuers are
accepted, except http on loopback (local development): a token must not cross a network in clear.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import time
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from ostiary.core.clock import Clock, SystemClock
from ostiary.sdk._http import check_url
from ostiary.sdk.discovery import ProviderMetadata, discovery_urls, parse_metadata
from ostiary.sdk.errors import DiscoveryError

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_CLIENT_ID = "ostiary-cli"
MAX_WAIT = 15 * 60  # seconds; the server's expires_in bounds it further
MAX_INTERVAL = 60
MAX_BODY = 64 * 1024
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1 b64token
_SHOWN = re.compile(r"[\x21-\x7e]{1,256}")  # what we print from the server: no control characters

# Not cli.common's consoles: importing it loads the whole server stack, which a login never needs.
console = Console()
err_console = Console(stderr=True)
auth_app = typer.Typer(help="Inspect stored login credentials.", no_args_is_help=True)


class LoginError(Exception):
    """A failure to show the user as is (no token or secret in the message)."""


# ------------------------------------------------------------------------------------ credentials


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"  # XDG: ignore relative
    return root / "ostiary" / "credentials.json"


class CredentialStore:
    """`{"version": 1, "credentials": {issuer: entry}}` in one private file, rewritten atomically."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or credentials_path()

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise LoginError(f"cannot read {self.path}: {exc}") from None
        if self.path.stat().st_mode & 0o077:
            err_console.print(f"[yellow]warning[/yellow] {self.path} is readable by others; fix: chmod 600")
        entries = data.get("credentials") if isinstance(data, dict) else None
        return {k: v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}

    def save(self, issuer: str, entry: dict[str, Any]) -> None:
        entries = self.load()
        entries[issuer] = entry
        self._write(entries)

    def remove(self, issuer: str) -> bool:
        entries = self.load()
        if entries.pop(issuer, None) is None:
            return False
        self._write(entries)
        return True

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            raise LoginError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"version": 1, "credentials": entries}, out, indent=2, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise LoginError(f"cannot write {self.path}: {exc.strerror or exc}") from None
            raise


# ------------------------------------------------------------------------------------------- HTTP


def _json_of(response: httpx.Response, what: str) -> Any:
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_BODY:
            raise LoginError(f"the {what} response is too large")
    try:
        return json.loads(body)
    except ValueError:
        raise LoginError(f"the {what} response (HTTP {response.status_code}) is not JSON") from None


def discover(http: httpx.Client, issuer: str) -> ProviderMetadata:
    failures: list[str] = []
    for url in discovery_urls(issuer):
        try:
            with http.stream("GET", url, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    failures.append(f"HTTP {response.status_code} at {url}")
                    continue
                document = _json_of(response, "metadata")
        except httpx.HTTPError as exc:
            raise LoginError(f"cannot reach {issuer}: {exc or type(exc).__name__}") from None
        try:
            return parse_metadata(issuer, document if isinstance(document, dict) else b"[]")
        except DiscoveryError as exc:
            raise LoginError(f"bad metadata at {url}: {exc}") from None
    raise LoginError(f"{issuer} publishes no OAuth metadata ({'; '.join(failures)})")


def _post_form(http: httpx.Client, url: str, form: dict[str, str], what: str) -> tuple[int, Any]:
    with http.stream("POST", url, data=form, headers={"Accept": "application/json"}) as response:
        return response.status_code, _json_of(response, what)


# ------------------------------------------------------------------------------------ device flow


@dataclass(frozen=True)
class DeviceAuthorization:
    """RFC 8628 §3.2: the device authorization response."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int

    @classmethod
    def from_json(cls, body: Any) -> DeviceAuthorization:
        if not isinstance(body, dict):
            raise LoginError("the device authorization response is not a JSON object")
        try:
            code, user_code, uri = body["device_code"], body["user_code"], body["verification_uri"]
            if not (
                isinstance(code, str) and code and isinstance(user_code, str) and _SHOWN.fullmatch(user_code)
            ):
                raise ValueError
            complete = body.get("verification_uri_complete")
            expires_in, interval = body["expires_in"], body.get("interval", 5)
            if not isinstance(expires_in, int) or not isinstance(interval, int) or expires_in <= 0:
                raise ValueError
            return cls(
                code,
                user_code,
                _browsable(uri),
                _browsable(complete) if complete else None,
                expires_in,
                min(max(interval, 1), MAX_INTERVAL),
            )
        except (KeyError, ValueError):
            raise LoginError("the device authorization response is incomplete or malformed") from None


def _browsable(uri: object) -> str:
    """Only plain http(s) URLs are shown or opened: never `file:`, `javascript:`, or escape codes."""
    if not isinstance(uri, str) or not _SHOWN.fullmatch(uri):
        raise ValueError
    check_url(uri, what="verification URI", allow_insecure_http=True)
    return uri


def start_device_authorization(
    http: httpx.Client, metadata: ProviderMetadata, client_id: str, scope: str | None
) -> DeviceAuthorization:
    endpoint = metadata.device_authorization_endpoint
    if endpoint is None:
        raise LoginError(
            f"{metadata.issuer} does not offer the device flow (no device_authorization_endpoint)"
        )
    form = {"client_id": client_id, **({"scope": scope} if scope else {})}
    status, body = _post_form(http, endpoint, form, "device authorization")
    if status != 200:
        error = body.get("error") if isinstance(body, dict) else None
        raise LoginError(f"the server refused the device authorization request ({error or f'HTTP {status}'})")
    return DeviceAuthorization.from_json(body)


def poll_for_token(
    http: httpx.Client,
    token_endpoint: str,
    client_id: str,
    device: DeviceAuthorization,
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_wait: float = MAX_WAIT,
) -> dict[str, Any]:
    """RFC 8628 §3.4–3.5: poll until a token response, or raise `LoginError`."""
    clock = clock or SystemClock()
    deadline = clock.now() + min(device.expires_in, max_wait)
    interval = device.interval
    form = {"grant_type": DEVICE_CODE_GRANT, "device_code": device.device_code, "client_id": client_id}
    while True:
        sleep(interval)
        if clock.now() >= deadline:
            raise LoginError("the code expired before it was approved; run `ostiary login` again")
        try:
            status, body = _post_form(http, token_endpoint, form, "token")
        except (httpx.HTTPError, LoginError):
            interval = min(interval * 2, MAX_INTERVAL)  # §3.5: back off on a failing connection
            continue
        if status == 200:
            if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
                raise LoginError("the token response has no access_token")
            if str(body.get("token_type", "")).lower() != "bearer":
                raise LoginError("the token response is not a Bearer token")
            return body
        error = body.get("error") if isinstance(body, dict) else None
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval = min(interval + 5, MAX_INTERVAL)
        elif error == "access_denied":
            raise LoginError("the request was denied")
        elif error == "expired_token":
            raise LoginError("the code expired before it was approved; run `ostiary login` again")
        elif status >= 500:
            interval = min(interval * 2, MAX_INTERVAL)
        else:
            raise LoginError(f"the server refused the login ({error or f'HTTP {status}'})")


def can_open_browser() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _entry(body: dict[str, Any], client_id: str, source: str, now: float) -> dict[str, Any]:
    expires_in = body.get("expires_in")
    entry = {
        "access_token": body["access_token"],
        "token_type": "Bearer",
        "client_id": client_id,
        "obtained_at": int(now),
        "source": source,
        "expires_at": int(now + expires_in) if isinstance(expires_in, int) else None,
        "scope": body.get("scope") if isinstance(body.get("scope"), str) else None,
    }
    if isinstance(body.get("refresh_token"), str):
        entry["refresh_token"] = body["refresh_token"]
    return entry


# --------------------------------------------------------------------------------------- commands


def _optional_issuer(value: str | None) -> str | None:
    return None if value is None else _issuer(value)


def _issuer(value: str) -> str:
    if value.endswith("/") and value.count("/") == 3:
        value = value[:-1]  # "https://id.example.com/" means the issuer "https://id.example.com"
    try:
        return check_url(value, what="issuer")
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--issuer") from None


@contextmanager
def _reported() -> Iterator[None]:
    try:
        yield
    except LoginError as exc:
        err_console.print(f"[red]error[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None


def _read_token() -> str:
    raw = (
        typer.prompt("Paste a token", hide_input=True) if sys.stdin.isatty() else sys.stdin.read(MAX_BODY + 1)
    )
    token = raw.strip()
    if len(raw) > MAX_BODY or not _TOKEN.fullmatch(token):
        raise LoginError("stdin did not hold one token (a single line of base64url characters)")
    return token


def login(
    issuer: str = typer.Option(..., "--issuer", help="URL of the ostiary server.", callback=_issuer),
    client_id: str = typer.Option(DEFAULT_CLIENT_ID, "--client-id", help="Public client to log in as."),
    scope: str | None = typer.Option(None, "--scope", help="Space-separated scopes to ask for."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not try to open a browser."),
    with_token: bool = typer.Option(False, "--with-token", help="Read a token from stdin instead."),
) -> None:
    """Log in with the device flow (or --with-token) and store the token for ISSUER."""
    store, now = CredentialStore(), SystemClock().now()
    with _reported():
        if with_token:
            store.save(issuer, _entry({"access_token": _read_token()}, client_id, "with-token", now))
            console.print(f"token stored for {escape(issuer)} in {escape(str(store.path))}", soft_wrap=True)
            return
        with httpx.Client(timeout=10, follow_redirects=False) as http:
            metadata = discover(http, issuer)
            if metadata.token_endpoint is None:
                raise LoginError(f"{issuer} advertises no token_endpoint")
            device = start_device_authorization(http, metadata, client_id, scope)
            console.print(
                f"Open [bold]{escape(device.verification_uri)}[/bold] and enter the code "
                f"[bold]{escape(device.user_code)}[/bold]",
                soft_wrap=True,  # a URL broken over two lines cannot be copied
            )
            if device.verification_uri_complete:
                console.print(f"(or open {escape(device.verification_uri_complete)})", soft_wrap=True)
            if not no_browser and can_open_browser():
                with suppress(webbrowser.Error):  # the URL is on screen; a browser is a convenience
                    webbrowser.open(device.verification_uri_complete or device.verification_uri)
            console.print("Waiting for approval…")
            body = poll_for_token(http, metadata.token_endpoint, client_id, device)
        store.save(issuer, _entry(body, client_id, "device_code", SystemClock().now()))
    console.print(
        f"[green]logged in[/green] to {escape(issuer)}; token stored in {escape(str(store.path))}",
        soft_wrap=True,
    )


def _stored_issuer(store: CredentialStore, issuer: str | None) -> str:
    entries = store.load()
    if issuer is not None:
        if issuer not in entries:
            raise LoginError(f"not logged in to {issuer}")
        return issuer
    if len(entries) != 1:
        raise LoginError(
            "not logged in anywhere" if not entries else "several logins: choose one with --issuer"
        )
    return next(iter(entries))


def _revoke(issuer: str, entry: dict[str, Any]) -> None:
    """RFC 7009 §2.1, best effort: the local copy is deleted whatever the server says."""
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        endpoint = discover(http, issuer).revocation_endpoint
        if endpoint is None:
            return
        for hint in ("refresh_token", "access_token"):
            if isinstance(entry.get(hint), str):
                status, _ = _post_form(
                    http,
                    endpoint,
                    {
                        "token": entry[hint],
                        "token_type_hint": hint,
                        "client_id": str(entry.get("client_id") or DEFAULT_CLIENT_ID),
                    },
                    "revocation",
                )
                if status != 200:
                    raise LoginError(f"revocation answered HTTP {status}")


def logout(
    issuer: str | None = typer.Option(
        None, "--issuer", help="Server to log out of.", callback=_optional_issuer
    ),
) -> None:
    """Revoke the stored tokens (when the server offers revocation) and delete them."""
    store = CredentialStore()
    with _reported():
        chosen = _stored_issuer(store, issuer)
        entry = store.load()[chosen]
        try:
            _revoke(chosen, entry)
        except (LoginError, httpx.HTTPError) as exc:
            err_console.print(f"[yellow]warning[/yellow] could not revoke at the server: {escape(str(exc))}")
        store.remove(chosen)
    console.print(f"logged out of {escape(chosen)}")


@auth_app.command("status")
def status() -> None:
    """Show the stored logins (never the tokens)."""
    store = CredentialStore()
    with _reported():
        entries = store.load()
    if not entries:
        console.print("not logged in")
        raise typer.Exit(1)
    now = SystemClock().now()
    for issuer, entry in sorted(entries.items()):
        expires_at = entry.get("expires_at")
        left = (
            "unknown expiry"
            if not isinstance(expires_at, int)
            else ("expired" if expires_at <= now else f"expires in {int(expires_at - now) // 60} min")
        )
        refresh = ", refreshable" if entry.get("refresh_token") else ""
        console.print(
            f"{escape(issuer)}  client {escape(str(entry.get('client_id')))}  {left}{refresh}  "
            f"scope: {escape(str(entry.get('scope') or '-'))}"
        )
