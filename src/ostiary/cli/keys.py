"""`ostiary keys list|rotate|promote|retire`: the signing-key lifecycle (SEC-22, SEC-23, docs/tokens.md).

`rotate` publishes a `next` key at once; running servers pick it up at their next key reload and it
starts signing after `OSTIARY_SIGNING_KEY_PUBLISH_DELAY_SECONDS` (publish-then-sign), when any node's
reload — or `ostiary keys promote` — promotes it. `retire KID` stops a key signing now; it keeps
verifying until the longest token lifetime has passed, unless `--purge` (key compromise) removes it
at once, which invalidates every token it signed.
"""

from __future__ import annotations

import typer
from rich.table import Table

from ostiary.cli.common import console, opened_services, run
from ostiary.core.clock import utc_datetime
from ostiary.core.context import CLI
from ostiary.tokens.key_material import SUPPORTED_ALGS
from ostiary.tokens.keys import KeyRing

app = typer.Typer(help="Manage token-signing keys.", no_args_is_help=True)


def _when(value: float | None) -> str:
    return utc_datetime(value).strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def _print(ring: KeyRing) -> None:
    table = Table("kid", "alg", "state", "created (UTC)", "activated", "retired")
    for key in ring.keys:
        table.add_row(
            key.kid,
            key.alg,
            key.state,
            _when(key.created_at),
            _when(key.activated_at),
            _when(key.retired_at),
        )
    console.print(table)


@app.command("list")
def list_keys() -> None:
    """List the keys in the JWKS: next, active and retired-but-still-verifying."""

    async def work() -> KeyRing:
        async with opened_services() as services:
            return services.tokens.keys.ring()

    _print(run(work))


@app.command()
def rotate(
    alg: str = typer.Option("ES256", "--alg", help=f"Algorithm of the new key: {', '.join(SUPPORTED_ALGS)}."),
) -> None:
    """Add a new key: published in the JWKS now, signing after the publish delay."""
    if alg not in SUPPORTED_ALGS:
        raise typer.BadParameter(f"choose one of {', '.join(SUPPORTED_ALGS)}", param_hint="--alg")

    async def work() -> tuple[str, int]:
        async with opened_services() as services:
            key = await services.tokens.keys.rotate(alg)
            await services.auditor.record("keys.rotate", CLI, actor="cli", kid=key.kid, alg=alg)
            return key.kid, services.settings.signing_key_publish_delay_seconds

    kid, delay = run(work)
    console.print(f"published {kid} ({alg}); it signs after {delay} s (or `ostiary keys promote`)")


@app.command()
def promote() -> None:
    """Activate `next` keys whose publish delay has passed (servers also do this on reload)."""

    async def work() -> KeyRing:
        async with opened_services() as services:
            return await services.tokens.keys.promote_due()

    _print(run(work))


@app.command()
def retire(
    kid: str,
    purge: bool = typer.Option(
        False, "--purge", help="Remove the key at once (compromise): its tokens stop verifying now."
    ),
) -> None:
    """Stop signing with KID; it verifies until the longest token lifetime has passed."""

    async def work() -> KeyRing:
        async with opened_services() as services:
            ring = await services.tokens.keys.retire(kid, purge=purge)
            await services.auditor.record("keys.retire", CLI, actor="cli", kid=kid, purge=purge)
            return ring

    _print(run(work))
