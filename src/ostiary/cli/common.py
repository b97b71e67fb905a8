"""Shared pieces of the CLI: settings loading, running async work, services lifetime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from ostiary.core.errors import OstiaryError
from ostiary.core.settings import Settings

if TYPE_CHECKING:  # the server stack is imported by the commands that use it, not by `ostiary login`
    from ostiary.compose.services import Services

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for item in exc.errors():
            name = "OSTIARY_" + "_".join(str(p) for p in item["loc"]).upper() if item["loc"] else "settings"
            err_console.print(f"[red]configuration error[/red] {name}: {item['msg']}")
        raise typer.Exit(2) from None


@asynccontextmanager
async def opened_services(settings: Settings | None = None) -> AsyncIterator[Services]:
    from ostiary.compose.services import build_services

    services = await build_services(settings or load_settings())
    try:
        yield services
    finally:
        await services.close()


def run(work: Callable[[], Awaitable[T]]) -> T:
    """Run async CLI work; expected errors print a clean message and exit non-zero."""
    try:
        return asyncio.run(work())  # type: ignore[arg-type]
    except OstiaryError as exc:
        err_console.print(f"[red]error[/red] {exc.message}")
        raise typer.Exit(1) from None
