"""`ostiary clients create|list|rotate-secret|disable|enable`: the same rules as the admin API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from helpers import audit_rows
from ostiary.cli.common import opened_services
from ostiary.cli.main import app as cli
from ostiary.compose.clients import build_client_registry, client_secret_hasher
from ostiary.storage.interfaces.oauth_clients import Client


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OSTIARY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OSTIARY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)  # no developer .env
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, ["clients", *args])


def stored(client_id: str) -> tuple[Client | None, list[str]]:
    """The stored client, and the audit trail as "event actor subject" lines."""

    async def work() -> tuple[Client | None, list[str]]:
        async with opened_services() as services:
            client = await build_client_registry(services).find(client_id)
            events = [f"{r['event']} {r['actor']} {r['subject']}" for r in await audit_rows(services)]
            return client, events

    return asyncio.run(work())


def verifies(secret: str, client: Client | None) -> bool:
    async def work() -> bool:
        async with opened_services() as services:
            assert client is not None
            assert client.secret_digest is not None
            return client_secret_hasher(services).verify(secret, client.secret_digest)

    return asyncio.run(work())


def printed_secret(result: Result) -> str:
    return result.stdout.strip().splitlines()[-1]


def test_create_list_rotate_disable(runner: CliRunner) -> None:
    created = invoke(
        runner, "create", "web-app", "--name", "Web App", "--redirect-uri", "https://app.example.com/cb",
        "--grant", "authorization_code", "--grant", "refresh_token", "--scope", "openid items:read",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "created confidential client web-app" in created.stdout
    first = printed_secret(created)
    assert len(first) >= 43
    client, events = stored("web-app")
    assert client is not None
    assert (client.name, client.scopes) == ("Web App", ("openid", "items:read"))
    assert verifies(first, client)
    assert "admin.client_create cli web-app" in events

    public = invoke(
        runner,
        "create",
        "my-cli",
        "--public",
        "--native",
        "--grant",
        "device_code",
        "--grant",
        "refresh_token",
    )
    assert public.exit_code == 0, public.output
    assert "created public client my-cli" in public.stdout
    assert "client_secret" not in public.stdout
    cli_client, _ = stored("my-cli")
    assert cli_client is not None
    assert cli_client.grant_types == ("urn:ietf:params:oauth:grant-type:device_code", "refresh_token")

    listed = invoke(runner, "list")
    assert listed.exit_code == 0, listed.output
    assert "web-app" in listed.stdout
    assert "my-cli" in listed.stdout
    assert first not in listed.stdout

    rotated = invoke(runner, "rotate-secret", "web-app")
    assert rotated.exit_code == 0, rotated.output
    second = printed_secret(rotated)
    client, events = stored("web-app")
    assert verifies(second, client)
    assert not verifies(first, client)
    assert "admin.client_rotate_secret cli web-app" in events

    assert invoke(runner, "disable", "web-app").exit_code == 0
    client, events = stored("web-app")
    assert client is not None
    assert client.disabled
    assert "admin.client_disable cli web-app" in events
    assert invoke(runner, "enable", "web-app").exit_code == 0
    client, _ = stored("web-app")
    assert client is not None
    assert not client.disabled


@pytest.mark.sec("SEC-25")
def test_bad_input_exits_non_zero_with_the_field(runner: CliRunner) -> None:
    bad = invoke(runner, "create", "app", "--redirect-uri", "javascript:alert(1)")
    assert bad.exit_code == 1
    assert "redirect_uris[0]" in bad.stderr
    assert stored("app")[0] is None
    web = invoke(runner, "create", "app", "--redirect-uri", "http://localhost/cb")
    assert web.exit_code == 1
    assert "redirect_uris[0]" in web.stderr
    conflict = invoke(runner, "create", "app", "--public", "--auth-method", "client_secret_post")
    assert conflict.exit_code == 2
    public_password = invoke(runner, "create", "app", "--public", "--grant", "password")
    assert public_password.exit_code == 1
    assert "grant_types[0]" in public_password.stderr
    assert (
        invoke(runner, "create", "spa", "--public", "--redirect-uri", "https://spa.example.com/cb").exit_code
        == 0
    )
    public_rotate = invoke(runner, "rotate-secret", "spa")
    assert public_rotate.exit_code == 1
    assert "public client" in public_rotate.stderr
    assert invoke(runner, "rotate-secret", "nobody").exit_code == 1
    assert invoke(runner, "disable", "nobody").exit_code == 1
