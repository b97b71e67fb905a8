"""`ostiary clients create|list|rotate-secret|disable|enable`: OAuth clients (docs/realm.md#clients).

A generated secret is printed once, by `create` and `rotate-secret`; only its HMAC digest is stored,
so it cannot be shown again — rotate it instead. The same rules as the admin API and the realm file
apply (oauth2/client_metadata.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from ostiary.cli.common import console, err_console, opened_services, run
from ostiary.core.context import CLI
from ostiary.oauth2.client_metadata import DEVICE_CODE_GRANT
from ostiary.oauth2.client_registry import ClientRegistry, ClientSpec
from ostiary.storage.interfaces.oauth_clients import Client

if TYPE_CHECKING:
    from ostiary.compose.services import Services

app = typer.Typer(help="Manage OAuth clients.", no_args_is_help=True)
GRANT_ALIASES = {"device_code": DEVICE_CODE_GRANT}


def _registry(services: Services) -> ClientRegistry:
    from ostiary.compose.clients import build_client_registry  # the server stack, on use only

    return build_client_registry(services)


def _print_secret(client_id: str, secret: str) -> None:
    console.print(f"client_secret for {client_id} (shown once; store it now):")
    typer.echo(secret)  # no markup and no wrapping: the line must be copyable as is


def _words(values: list[str]) -> list[str]:
    """`--scope "openid profile" --scope email` → [openid, profile, email]."""
    return [word for value in values for word in value.split()]


@app.command()
def create(
    client_id: str,
    name: str = typer.Option(None, help="Name shown on the consent page (default: the client id)."),
    public: bool = typer.Option(False, "--public", help="A public client: no secret, PKCE only."),
    auth_method: str = typer.Option(
        None, "--auth-method", help="client_secret_basic (default), client_secret_post, or none."
    ),
    redirect_uri: list[str] = typer.Option([], "--redirect-uri", help="Exact redirect URI (repeatable)."),
    grant: list[str] = typer.Option(
        [],
        "--grant",
        help="Grant type (repeatable; device_code for the RFC 8628 URN). Default: authorization_code.",
    ),
    scope: list[str] = typer.Option([], "--scope", help="Allowed scopes, space-separated (repeatable)."),
    native: bool = typer.Option(False, "--native", help="A native app (RFC 8252: loopback any port)."),
    first_party: bool = typer.Option(False, "--first-party", help="Skip the consent page."),
    post_logout_redirect_uri: list[str] = typer.Option(
        [], "--post-logout-redirect-uri", help="Exact post-logout redirect URI (repeatable)."
    ),
    access_token_format: str = typer.Option("jwt", help="jwt or opaque."),
    id_token_alg: str = typer.Option("RS256", help="ID-token signing algorithm: RS256, ES256 or EdDSA."),
) -> None:
    """Register a client; a confidential one gets a generated secret, printed once."""
    if public and auth_method not in (None, "none"):
        raise typer.BadParameter("a public client authenticates with none", param_hint="--auth-method")
    spec = ClientSpec(
        client_id=client_id,
        name=name,
        redirect_uris=tuple(redirect_uri),
        grant_types=tuple(GRANT_ALIASES.get(g, g) for g in grant) or ("authorization_code",),
        scopes=tuple(_words(scope)),
        token_endpoint_auth_method="none" if public else auth_method or "client_secret_basic",
        access_token_format=access_token_format,
        first_party=first_party,
        post_logout_redirect_uris=tuple(post_logout_redirect_uri),
        application_type="native" if native else "web",
        id_token_signed_response_alg=id_token_alg,
    )

    async def work() -> tuple[Client, str | None]:
        async with opened_services() as services:
            client, secret = await _registry(services).create(spec)
            await services.auditor.record(
                "admin.client_create",
                CLI,
                actor="cli",
                subject=client.client_id,
                confidential=client.is_confidential,
                grant_types=list(client.grant_types),
            )
            return client, secret

    client, secret = run(work)
    kind = "confidential" if client.is_confidential else "public"
    console.print(f"created {kind} client {client.client_id} ({', '.join(client.grant_types)})")
    if secret is not None:
        _print_secret(client.client_id, secret)


@app.command("list")
def list_clients() -> None:
    """List clients (never their secrets)."""

    async def work() -> list[Client]:
        async with opened_services() as services:
            return await _registry(services).list()

    table = Table("client_id", "name", "type", "grant types", "redirect URIs", "scopes", "disabled")
    for c in run(work):
        table.add_row(
            c.client_id,
            c.name,
            "confidential" if c.is_confidential else "public",
            "\n".join(c.grant_types),
            "\n".join(c.redirect_uris),
            " ".join(c.scopes),
            "yes" if c.disabled else "",
        )
    console.print(table)


@app.command("rotate-secret")
def rotate_secret(client_id: str) -> None:
    """Give a confidential client a new secret; the old one stops working at once."""

    async def work() -> str:
        async with opened_services() as services:
            _, secret = await _registry(services).rotate_secret(client_id)
            await services.auditor.record("admin.client_rotate_secret", CLI, actor="cli", subject=client_id)
            return secret

    secret = run(work)
    err_console.print("[yellow]the previous secret no longer works[/yellow]")
    _print_secret(client_id, secret)


def _set_disabled(client_id: str, disabled: bool) -> None:
    event = "admin.client_disable" if disabled else "admin.client_enable"

    async def work() -> None:
        async with opened_services() as services:
            await _registry(services).set_disabled(client_id, disabled)
            await services.auditor.record(event, CLI, actor="cli", subject=client_id)

    run(work)
    console.print(f"{'disabled' if disabled else 'enabled'} {client_id}")


@app.command()
def disable(client_id: str) -> None:
    """Disable a client: it can no longer authenticate or start an authorization."""
    _set_disabled(client_id, True)


@app.command()
def enable(client_id: str) -> None:
    """Enable a disabled client."""
    _set_disabled(client_id, False)
