"""`JsonResponse` (web/json_response.py) answers what Starlette's `JSONResponse` answered, faster."""

from __future__ import annotations

import json
import math

import pytest
from starlette.responses import JSONResponse

from ostiary.web.json_response import JsonResponse

BODIES = [
    {"access_token": "eyJ" + "a" * 600, "token_type": "Bearer", "expires_in": 600, "scope": "items:read"},
    {"active": False},
    {"auth_time": 1_795_297_062.123456, "auth_method": "password", "sid": None},
    {
        "active": True,
        "aud": ["https://a.example", "https://b.example"],
        "exp": 1_795_297_062,
        "iat_ms": 1_795_297_062_123,
    },
    {"error": "invalid_request", "error_description": "Le paramètre « scope » est répété — 重复"},
    {"name": None, "email_verified": True, "amr": ("pwd", "otp"), "nested": {"k": [1, 2.5, -3]}},
]


@pytest.mark.parametrize("body", BODIES)
def test_same_json_and_bytes_as_starlette(body: dict[str, object]) -> None:
    ours, theirs = JsonResponse(body), JSONResponse(body)
    assert ours.body == theirs.body  # compact separators, UTF-8 left unescaped: byte for byte
    assert json.loads(ours.body) == json.loads(json.dumps(body))
    assert ours.headers["content-type"] == theirs.headers["content-type"] == "application/json"
    assert ours.headers["content-length"] == str(len(ours.body))


def test_status_and_headers_are_kept() -> None:
    response = JsonResponse(
        {"error": "invalid_client"}, status_code=401, headers={"Cache-Control": "no-store"}
    )
    assert response.status_code == 401
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_become_null(value: float) -> None:
    # RFC 8259 §6 has no NaN or Infinity. Starlette's renderer raises; orjson writes null, which is
    # why the module's docstring keeps floats out of the bodies it is used for.
    assert JsonResponse({"value": value}).body == b'{"value":null}'
    with pytest.raises(ValueError):
        JSONResponse({"value": value})
