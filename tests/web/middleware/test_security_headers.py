"""Hardening headers (SEC-65, SEC-67, SEC-68)."""

from __future__ import annotations

import re

import httpx
import pytest

from ostiary.web.middleware.security_headers import with_charset

from ._support import client_for, make_app

ALWAYS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "x-frame-options": "DENY",
}


@pytest.mark.sec("SEC-67")
@pytest.mark.parametrize("path", ["/ip", "/page", "/text", "/boom", "/nowhere"])
async def test_every_response_is_hardened(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    for name, value in ALWAYS.items():
        assert response.headers[name] == value
    assert "charset=" in response.headers["content-type"]


@pytest.mark.sec("SEC-67")
async def test_html_gets_a_strict_csp_with_the_request_nonce(client: httpx.AsyncClient) -> None:
    response = await client.get("/page")
    csp = response.headers["content-security-policy"]
    nonce = re.search(r'nonce="([^"]+)"', response.text)
    assert nonce is not None
    assert f"script-src 'self' 'nonce-{nonce.group(1)}'" in csp
    assert f"style-src 'self' 'nonce-{nonce.group(1)}'" in csp
    for directive in ("default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'"):
        assert directive in csp
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    again = await client.get("/page")
    assert again.headers["content-security-policy"] != csp  # a fresh nonce per request


@pytest.mark.sec("SEC-67")
async def test_no_csp_on_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/ip")
    assert "content-security-policy" not in response.headers
    assert response.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.sec("SEC-65")
async def test_hsts_only_when_enabled(client: httpx.AsyncClient) -> None:
    assert "strict-transport-security" not in (await client.get("/ip")).headers
    async with client_for(make_app(hsts=True)) as https_client:
        for path in ("/ip", "/boom", "/nowhere"):
            value = (await https_client.get(path)).headers["strict-transport-security"]
            assert value == "max-age=31536000; includeSubDomains"


@pytest.mark.sec("SEC-68")
async def test_server_and_powered_by_are_removed(client: httpx.AsyncClient) -> None:
    response = await client.get("/branded")
    assert "server" not in response.headers
    assert "x-powered-by" not in response.headers


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (b"text/plain", b"text/plain; charset=utf-8"),
        (b"text/html; charset=latin-1", b"text/html; charset=latin-1"),
        (b"application/json", b"application/json; charset=utf-8"),
        (b"application/problem+json", b"application/problem+json; charset=utf-8"),
        (b"image/png", b"image/png"),
        (b"application/octet-stream", b"application/octet-stream"),
    ],
)
def test_with_charset(given: bytes, expected: bytes) -> None:
    assert with_charset(given) == expected
