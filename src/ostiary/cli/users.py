"""`ostiary users create|list|disable|enable|set-password`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from ostiary.authn.accounts import new_user_id, validate_username
from ostiary.cli.common import console, opened_services, run
from ostiary.core.context import CLI
from ostiary.core.errors import NotFound
from ostiary.storage.interfaces.users import NewUser, UserAccess, UserRecord

if TYPE_CHECKING:
    from ostiary.compose.services import Services

app = typer.Typer(help="Manage accounts.", no_args_is_help=True)


async def _find(services: Services, username: str) -> UserRecord:
    user = await services.users.find_by_login(username)
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def _ask_password() -> str:
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command()
def create(
    username: str,
    email: str = typer.Option(None, help="Email address."),
    password: str = typer.Option(None, help="Password (prompted when omitted; avoid shell history)."),
    role: list[str] = typer.Option([], "--role", help="Role to grant (repeatable)."),
    group: list[str] = typer.Option([], "--group", help="Group to join (repeatable)."),
) -> None:
    """Create an account."""
    secret = password or _ask_password()

    async def work() -> str:
        async with opened_services() as services:
            name = validate_username(username)
            services.policy.check(secret, username=name, email=email)
            user = NewUser(
                new_user_id(), name, email, await services.hashers.hash(secret), services.clock.now()
            )
            await services.users.create(user)
            if role or group:
                await services.access.set_access(user.id, UserAccess(frozenset(role), frozenset(group)))
            await services.auditor.record("admin.user_create", CLI, actor="cli", subject=user.id)
            return user.id

    console.print(f"created {username} ({run(work)})")


@app.command("list")
def list_users() -> None:
    """List accounts."""

    async def work() -> None:
        async with opened_services() as services:
            table = Table("id", "username", "email", "disabled", "roles", "groups")
            for user in await services.users.list(limit=1000):
                access = await services.access.access_of(user.id)
                table.add_row(
                    user.id,
                    user.username,
                    user.email or "",
                    "yes" if user.disabled else "",
                    ", ".join(sorted(access.roles)),
                    ", ".join(sorted(access.groups)),
                )
            console.print(table)

    run(work)


def _set_disabled(username: str, disabled: bool) -> None:
    async def work() -> None:
        async with opened_services() as services:
            user = await _find(services, username)
            await services.accounts.set_disabled(user.id, disabled, "cli", CLI)

    run(work)
    console.print(f"{'disabled' if disabled else 'enabled'} {username}")


@app.command()
def disable(username: str) -> None:
    """Disable an account and end its sessions."""
    _set_disabled(username, True)


@app.command()
def enable(username: str) -> None:
    """Enable a disabled account."""
    _set_disabled(username, False)


@app.command("set-password")
def set_password(
    username: str, password: str = typer.Option(None, help="New password (prompted when omitted).")
) -> None:
    """Set a new password and end the account's sessions."""
    secret = password or _ask_password()

    async def work() -> None:
        async with opened_services() as services:
            user = await _find(services, username)
            await services.accounts.admin_set_password(user.id, secret, "cli", CLI)

    run(work)
    console.print(f"password set for {username}")
