"""`ostiary login` pieces that need no server: the credentials file (0600 from its first byte, atomic
replacement), the RFC 8628 §3.5 polling loop driven by a scripted sequence of token-endpoint answers
(a unit test of the loop only: the real device flow runs in tests/e2e/sdk/test_cli_login_e2e.py),
the device authorization response checks, and the offline commands (--with-token, status, logout)."""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from helpers import free_port
from ostiary.cli import device_flow
from ostiary.cli.credentials import CredentialStore, LoginError, credentials_path
from ostiary.cli.device_flow import (
    DEVICE_CODE_GRANT,
    DeviceAuthorization,
    poll_for_token,
    start_device_authorization,
)
from ostiary.cli.main import app as cli
from ostiary.core.clock import FrozenClock
from ostiary.sdk import ProviderMetadata

ISSUER = "https://id.example.com"
TOKEN_ENDPOINT = ISSUER + "/token"


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0: whatever mode the file gets is the mode the code asked for."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


# ------------------------------------------------------------------------------------ credentials


def test_the_path_follows_xdg_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert credentials_path() == tmp_path / "xdg" / "ostiary" / "credentials.json"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")  # the XDG spec: ignore relative paths
    assert credentials_path() == tmp_path / "home" / ".config" / "ostiary" / "credentials.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert credentials_path() == tmp_path / "home" / ".config" / "ostiary" / "credentials.json"


def test_the_file_is_private_from_its_first_byte(
    config_home: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CredentialStore()
    real_replace = os.replace
    seen: list[int] = []

    def replace(src: Any, dst: Any) -> None:
        seen.append(stat.S_IMODE(os.stat(src).st_mode))  # the temporary file, fully written
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    store.save(ISSUER, {"access_token": "a"})
    store.save("https://other.example", {"access_token": "b"})
    assert seen == [0o600, 0o600]
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert store.load() == {ISSUER: {"access_token": "a"}, "https://other.example": {"access_token": "b"}}
    assert store.remove(ISSUER) is True
    assert store.remove(ISSUER) is False
    assert set(store.load()) == {"https://other.example"}


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary_behind(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CredentialStore()
    store.save(ISSUER, {"access_token": "old"})
    before = store.path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(LoginError, match="No space left"):
        store.save(ISSUER, {"access_token": "new"})
    assert store.path.read_bytes() == before
    assert os.listdir(store.path.parent) == ["credentials.json"]


def test_a_symlink_planted_at_the_temporary_name_is_not_followed(
    config_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CredentialStore()
    store.save(ISSUER, {"access_token": "a"})
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    monkeypatch.setattr(secrets, "token_hex", lambda n: "predictable")
    (store.path.parent / ".credentials.json.predictable.tmp").symlink_to(victim)
    with pytest.raises(LoginError, match="exists"):  # O_EXCL (and O_NOFOLLOW): never through a link
        store.save(ISSUER, {"access_token": "b"})
    assert victim.read_text() == "untouched"
    assert store.load()[ISSUER] == {"access_token": "a"}


def test_an_unreadable_file_is_a_clear_error_and_loose_modes_are_warned_about(
    config_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = CredentialStore()
    store.save(ISSUER, {"access_token": "a"})
    store.path.chmod(0o644)
    assert set(store.load()) == {ISSUER}
    assert "readable by others" in capsys.readouterr().err
    store.path.write_text("{not json")
    with pytest.raises(LoginError, match="cannot read"):
        store.load()


# ------------------------------------------------------------------------------------ device flow


def device(**overrides: Any) -> DeviceAuthorization:
    body = {
        "device_code": "dc",
        "user_code": "BCDF-GHJK",
        "verification_uri": ISSUER + "/device",
        "verification_uri_complete": ISSUER + "/device?user_code=BCDF-GHJK",
        "expires_in": 600,
        "interval": 5,
        **overrides,
    }
    return DeviceAuthorization.from_json({k: v for k, v in body.items() if v is not None})


class Script:
    """The token endpoint's answers, in order; each poll takes the next one."""

    def __init__(self, *answers: tuple[int, dict[str, Any]] | Exception) -> None:
        self.answers = list(answers)
        self.forms: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == TOKEN_ENDPOINT
        self.forms.append(dict(httpx.QueryParams(request.content.decode())))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer[0], json=answer[1])


def run_loop(script: Script, flow: DeviceAuthorization, **kwargs: Any) -> tuple[Any, list[float]]:
    clock = FrozenClock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    with httpx.Client(transport=httpx.MockTransport(script)) as http:
        try:
            result: Any = poll_for_token(
                http, TOKEN_ENDPOINT, "ostiary-cli", flow, clock=clock, sleep=sleep, **kwargs
            )
        except LoginError as exc:
            result = exc
    return result, slept


PENDING = (400, {"error": "authorization_pending"})
TOKEN = (200, {"access_token": "at", "token_type": "Bearer", "expires_in": 600, "refresh_token": "rt"})


@pytest.mark.rfc("RFC 8628 §3.5")
def test_pending_then_slow_down_then_the_token() -> None:
    script = Script(PENDING, PENDING, (400, {"error": "slow_down"}), PENDING, TOKEN)
    result, slept = run_loop(script, device())
    assert result["access_token"] == "at"
    assert slept == [5, 5, 5, 10, 10]  # slow_down: +5 s for this and every later poll
    assert script.forms[0] == {
        "grant_type": DEVICE_CODE_GRANT,
        "device_code": "dc",
        "client_id": "ostiary-cli",
    }


@pytest.mark.rfc("RFC 8628 §3.5")
@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((400, {"error": "access_denied"}), "denied"),
        ((400, {"error": "expired_token"}), "expired"),
        ((401, {"error": "invalid_client"}), "invalid_client"),
        ((400, {"error": "invalid_grant"}), "invalid_grant"),
        ((200, {"token_type": "Bearer"}), "no access_token"),
        ((200, {"access_token": "at", "token_type": "mac"}), "not a Bearer"),
    ],
)
def test_final_answers_end_the_loop(answer: tuple[int, dict[str, Any]], message: str) -> None:
    result, slept = run_loop(Script(PENDING, answer), device())
    assert isinstance(result, LoginError)
    assert message in str(result)
    assert slept == [5, 5]


def test_the_loop_is_bounded_by_expires_in_and_by_max_wait() -> None:
    result, slept = run_loop(Script(*[PENDING] * 100), device(expires_in=30))
    assert isinstance(result, LoginError) and "expired" in str(result)
    assert sum(slept) == 30 and len(slept) == 6  # five polls, then the deadline
    result, slept = run_loop(Script(*[PENDING] * 100), device(expires_in=3600), max_wait=20)
    assert isinstance(result, LoginError)
    assert sum(slept) == 20


@pytest.mark.rfc("RFC 8628 §3.5")
def test_connection_failures_and_server_errors_back_off() -> None:
    failures = Script(httpx.ConnectError("down"), (503, {"error": "temporarily_unavailable"}), PENDING, TOKEN)
    result, slept = run_loop(failures, device())
    assert result["access_token"] == "at"
    assert slept == [5, 10, 20, 20]
    capped = Script(*[httpx.ReadTimeout("slow")] * 6, TOKEN)
    result, slept = run_loop(capped, device(interval=30))
    assert result["access_token"] == "at"
    assert max(slept) == 60


@pytest.mark.parametrize(
    "change",
    [
        {"verification_uri": "javascript:alert(1)"},
        {"verification_uri": "file:///etc/passwd"},
        {"verification_uri_complete": "https://id.example.com/device\x1b]8;;evil\x07"},
        {"user_code": "BCDF\x1b[2JGHJK"},
        {"user_code": ""},
        {"device_code": None},
        {"expires_in": None},
        {"expires_in": "600"},
        {"interval": 5.5},
    ],
)
def test_device_authorization_responses_that_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(LoginError, match="malformed"):
        device(**change)


def test_the_interval_is_kept_within_reason() -> None:
    assert device(interval=0).interval == 1
    assert device(interval=3600).interval == 60
    assert device(interval=None).interval == 5  # RFC 8628 §3.2: default 5 s
    with pytest.raises(LoginError):
        DeviceAuthorization.from_json(["not", "an", "object"])


def test_a_server_without_a_device_endpoint_is_named_before_any_request() -> None:
    def no_request(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    with httpx.Client(transport=httpx.MockTransport(no_request)) as http, pytest.raises(LoginError) as caught:
        start_device_authorization(
            http, ProviderMetadata(issuer=ISSUER, token_endpoint=TOKEN_ENDPOINT), "c", None
        )
    assert "does not offer the device flow" in str(caught.value)


def test_a_browser_is_tried_only_with_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert device_flow.can_open_browser() is False
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert device_flow.can_open_browser() is True


# ---------------------------------------------------------------------------------- the commands


def test_with_token_status_and_logout_offline(config_home: Path, open_umask: None) -> None:
    runner = CliRunner()
    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens: logout cannot revoke
    stored = runner.invoke(cli, ["login", "--issuer", issuer + "/", "--with-token"], input="eyJ.abc.def\n")
    assert stored.exit_code == 0, stored.output
    path = config_home / "ostiary" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entry = json.loads(path.read_text())["credentials"][issuer]  # trailing slash dropped
    assert (entry["access_token"], entry["source"], entry["client_id"]) == (
        "eyJ.abc.def",
        "with-token",
        "ostiary-cli",
    )

    status = runner.invoke(cli, ["auth", "status"])
    assert status.exit_code == 0 and issuer in status.output and "eyJ.abc.def" not in status.output

    runner.invoke(cli, ["login", "--issuer", "https://other.example", "--with-token"], input="t2")
    ambiguous = runner.invoke(cli, ["logout"])
    assert ambiguous.exit_code == 1 and "--issuer" in ambiguous.output

    out = runner.invoke(cli, ["logout", "--issuer", issuer + "/"])
    assert out.exit_code == 0, out.output
    assert "could not revoke" in out.output  # said, and the local copy is deleted anyway
    assert set(json.loads(path.read_text())["credentials"]) == {"https://other.example"}
    assert runner.invoke(cli, ["logout", "--issuer", issuer]).exit_code == 1


@pytest.mark.parametrize("pasted", ["", "two tokens", "x" * 70_000, "tok\x00en"])
def test_with_token_refuses_what_is_not_one_token(config_home: Path, pasted: str) -> None:
    result = CliRunner().invoke(cli, ["login", "--issuer", ISSUER, "--with-token"], input=pasted)
    assert result.exit_code == 1
    assert not (config_home / "ostiary" / "credentials.json").exists()


def test_an_unwritable_config_directory_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "not-a-dir").write_text("")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "not-a-dir"))
    result = CliRunner().invoke(cli, ["login", "--issuer", ISSUER, "--with-token"], input="tok")
    assert result.exit_code == 1
    assert "error cannot read" in result.output and "Not a directory" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
