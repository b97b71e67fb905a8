"""`ostiary login|logout`, `ostiary auth status`: a CLI client of the RFC 8628 device authorization grant.

`login` runs the device flow (cli/device_flow.py): it shows the verification URI and user code
(RFC 8628 §3.3; opening a browser when there is a display) and waits for the token.
`--with-token` stores a token read from stdin instead. Tokens are kept in a private file
(cli/credentials.py). Only https issuers are accepted, except http on loopback (local
development): a token must not cross a network in clear.
"""

from __future__ import annotations

import re
import sys
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from ostiary.cli.credentials import CredentialStore, LoginError, credential_entry
from ostiary.cli.device_flow import (
    MAX_BODY,
    can_open_browser,
    discover,
    poll_for_token,
    post_form,
    start_device_authorization,
)
from ostiary.core.clock import SystemClock
from ostiary.sdk._http import check_url

DEFAULT_CLIENT_ID = "ostiary-cli"
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1 b64token

# Not cli.common's consoles: importing it loads the whole server stack, which a login never needs.
console = Console()
err_console = Console(stderr=True)
auth_app = typer.Typer(help="Inspect stored login credentials.", no_args_is_help=True)


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
            store.save(
                issuer, credential_entry({"access_token": _read_token()}, client_id, "with-token", now)
            )
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
        store.save(issuer, credential_entry(body, client_id, "device_code", SystemClock().now()))
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
                status, _ = post_form(
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
