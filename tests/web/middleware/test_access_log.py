"""The access log: one escaped JSON line, no query string (SEC-73, SEC-09)."""

from __future__ import annotations

import json
import logging
import sys

import httpx
import pytest

from ostiary.web.middleware.access_log import JsonFormatter, configure_logging


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "ostiary.access"]


@pytest.mark.sec("SEC-73")
async def test_line_has_no_query_string_and_the_expected_fields(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ostiary.access")
    response = await client.get(
        "/users/42?access_token=CANARY-TOKEN&code=CANARY-CODE", headers={"User-Agent": "U" * 1000}
    )
    (line,) = access_lines(caplog)
    assert "CANARY" not in caplog.text
    assert line["path"] == "/users/42"
    assert line["route"] == "/users/{user_id}"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert line["client_ip"] == "127.0.0.1"
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["user_agent"] == "U" * 256
    assert isinstance(line["duration_ms"], float)
    assert str(line["time"]).endswith("Z")


@pytest.mark.sec("SEC-73")
async def test_crlf_injection_stays_one_escaped_field(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ostiary.access")
    await client.get("/users/bob%0D%0A%7B%22evt%22:%22admin_login%22%7D")
    (record,) = [r for r in caplog.records if r.name == "ostiary.access"]
    message = record.getMessage()
    assert "\r" not in message
    assert "\n" not in message
    assert json.loads(message)["path"] == '/users/bob\r\n{"evt":"admin_login"}'
    assert '\\r\\n{\\"evt\\":\\"admin_login\\"}' in message


@pytest.mark.sec("SEC-71")
async def test_errors_are_logged_with_their_final_status(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ostiary.access")
    await client.get("/boom")
    await client.get("/fake-db")
    assert [line["status"] for line in access_lines(caplog)] == [500, 503]


def test_json_formatter_renders_extra_fields_and_tracebacks_on_one_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "user %s",
            ("bob\r\nevil",),
            exc_info=sys.exc_info(),
            extra={"request_id": "r-1234567"},
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["message"] == "user bob\r\nevil"
    assert payload["request_id"] == "r-1234567"
    assert payload["level"] == "error"
    assert "ValueError: bad" in payload["exc_info"]


def test_json_formatter_flattens_access_fields() -> None:
    record = logging.makeLogRecord({"name": "ostiary.access", "msg": "{}", "json_fields": {"status": 200}})
    payload = json.loads(JsonFormatter().format(record))
    assert payload["status"] == 200
    assert "message" not in payload


def test_configure_logging_installs_the_formatter() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    try:
        configure_logging("debug")
        assert root.level == logging.DEBUG
        assert any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
        assert logging.getLogger("uvicorn.access").disabled
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        logging.getLogger("uvicorn.access").disabled = False
