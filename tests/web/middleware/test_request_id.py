"""Request ids: safe incoming ids are kept, anything else is replaced; always echoed."""

from __future__ import annotations

import httpx
import pytest

from ostiary.web.middleware.request_id import accept_request_id


@pytest.mark.parametrize("good", ["abcdefgh", "req-1234.5_6", "A" * 64])
def test_well_formed_ids_are_kept(good: str) -> None:
    assert accept_request_id(good.encode()) == good


@pytest.mark.parametrize(
    "bad", ["short", "A" * 65, "abc def gh", "abcdefgh\n", "abcdefgh\r\nX: y", "ünïcode-id"]
)
def test_other_ids_are_replaced(bad: str) -> None:
    replaced = accept_request_id(bad.encode("utf-8"))
    assert replaced != bad
    assert len(replaced) == 32
    int(replaced, 16)


async def test_generated_and_echoed(client: httpx.AsyncClient) -> None:
    first = await client.get("/ip")
    second = await client.get("/ip")
    assert first.headers["x-request-id"] == first.json()["request_id"]
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_incoming_id_is_echoed_once(client: httpx.AsyncClient) -> None:
    response = await client.get("/ip", headers={"X-Request-ID": "lb-0123456789"})
    assert response.headers.get_list("x-request-id") == ["lb-0123456789"]
    assert response.json()["request_id"] == "lb-0123456789"
