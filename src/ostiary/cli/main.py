"""The `ostiary` command: serve, migrate, import, check, users, keys, clients, login, logout, auth.

The server stack (FastAPI, SQLAlchemy, the services) is imported inside the commands that need it,
so that `ostiary login` and `--help` start at once on a developer's machine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ostiary import __version__
from ostiary.cli import clients, keys, login, users
from ostiary.cli.common import console, err_console, load_settings, opened_services, run

if TYPE_CHECKING:
    from ostiary.web.server import ServerApp

app = typer.Typer(help="ostiary: identity and access server.", no_args_is_help=True, add_completion=False)
app.add_typer(users.app, name="users")
app.add_typer(keys.app, name="keys")
app.add_typer(clients.app, name="clients")
app.add_typer(login.auth_app, name="auth")
app.command("login")(login.login)
app.command("logout")(login.logout)


def _version(value: bool) -> None:
    if value:
        console.print(f"ostiary {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Settings come from OSTIARY_* environment variables and a .env file."""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes (use PostgreSQL + Redis for >1)."),
    demo: bool = typer.Option(
        False, "--demo", help="Load the demo realm and show its users on the login page."
    ),
) -> None:
    """Run the server."""
    import uvicorn

    from ostiary.compose.email import OUTBOX
    from ostiary.compose.realm import DEMO_REALM, demo_users, import_realm_file
    from ostiary.web.http_protocol import CoalescingHttpToolsProtocol
    from ostiary.web.middleware.access_log import configure_logging

    if "issuer" not in load_settings().model_fields_set:
        # No configured public URL: the server is where it listens (loopback names for wildcards).
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        os.environ["OSTIARY_ISSUER"] = f"http://{shown_host}:{port}"
    if demo:  # demo mail lands in the outbox printed below, unless a backend is named explicitly
        os.environ.setdefault("OSTIARY_MAIL_BACKEND", "outbox")
    settings = load_settings()
    configure_logging(settings.log_level)
    if workers > 1 and settings.resolved_database_url.startswith("sqlite"):
        err_console.print(
            "[yellow]warning[/yellow] several workers on SQLite serialise writes; prefer PostgreSQL"
        )

    async def prepare() -> None:
        async with opened_services(settings) as services:
            if demo:
                await import_realm_file(services, DEMO_REALM)

    run(prepare)  # migrate (and load the demo realm) once, before any worker starts
    shown = demo_users() if demo else None
    if demo:
        console.print(f"[bold]ostiary demo[/bold] on {settings.issuer}/login — users:")
        for user in shown or []:
            console.print(f"  {user['username']:<8} {user['password']:<26} ({user['role']})")
    if settings.resolved_mail_backend == "outbox":
        console.print(
            f"mail (reset and sign-in links) is written to {(settings.data_dir / OUTBOX).resolve()}/*.eml"
        )
    os.environ["OSTIARY_AUTO_MIGRATE"] = "false"  # done above; workers must not race on DDL
    if demo:
        os.environ["OSTIARY_DEMO"] = "1"
    uvicorn.run(
        "ostiary.web.entry:build" if workers > 1 else _single_app(shown),
        factory=workers > 1,
        host=host,
        port=port,
        workers=workers,
        http=CoalescingHttpToolsProtocol,  # one send per response instead of two (web/http_protocol.py)
        server_header=False,
        proxy_headers=False,  # ostiary resolves client IPs itself, from trusted proxies only
        log_config=None,
        access_log=False,
    )


def _single_app(shown: list[dict[str, str]] | None) -> ServerApp:
    from ostiary.web.server import ServerApp

    return ServerApp(load_settings(), demo_users=shown)


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    from ostiary.storage.sqlalchemy.database import Database
    from ostiary.storage.sqlalchemy.migrate import upgrade

    async def work() -> None:
        db = Database(load_settings().resolved_database_url)
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    run(work)
    console.print("database is up to date")


@app.command("import")
def import_(path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True)) -> None:
    """Load a realm file (YAML or JSON) in one transaction; re-running it changes nothing."""
    from ostiary.compose.realm import import_realm_file

    async def work() -> None:
        async with opened_services() as services:
            changes = await import_realm_file(services, path)
        if not changes.changed:
            console.print("nothing to change")
        for kind, count in sorted(changes.created.items()):
            console.print(f"created {count} {kind}(s)")
        for kind, count in sorted(changes.updated.items()):
            console.print(f"updated {count} {kind}(s)")

    run(work)


@app.command()
def check() -> None:
    """Self-test: configuration, database, migrations, Redis."""
    from ostiary.storage.sqlalchemy.database import Database
    from ostiary.storage.sqlalchemy.migrate import pending

    settings = load_settings()
    console.print(f"issuer        {settings.issuer}")
    console.print(f"database      {settings.resolved_database_url.split('@')[-1]}")

    async def work() -> bool:
        db = Database(settings.resolved_database_url)
        ok = await db.ping()
        console.print(f"db reachable  {'yes' if ok else '[red]NO[/red]'}")
        if ok:
            behind = await pending(db)
            console.print(
                f"migrations    {'[yellow]pending: run ostiary migrate[/yellow]' if behind else 'current'}"
            )
        await db.dispose()
        if settings.redis_url:
            from redis.asyncio import Redis

            client = Redis.from_url(settings.redis_url, socket_connect_timeout=3)
            try:
                redis_ok = bool(await client.ping())
            except Exception:
                redis_ok = False
            finally:
                await client.aclose()
            console.print(f"redis         {'yes' if redis_ok else '[red]NO[/red]'}")
            ok = ok and redis_ok
        return ok

    if not run(work):
        raise typer.Exit(1)
