"""RFC 6749 §4.1.2, RFC 9207 §2, Form Post Response Mode: building the response (SEC-38, SEC-39)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from ostiary.oauth2.authorization_response import build_authorization_response

from ._support import ISSUER, WEB_CB


@pytest.mark.sec("SEC-38")
@pytest.mark.sec("SEC-39")
@pytest.mark.rfc("RFC 9207 §2")
def test_query_mode_is_a_303_with_iss_and_no_store() -> None:
    resp = build_authorization_response(WEB_CB, {"code": "c&d", "state": None}, "query", ISSUER)
    assert resp.status == 303 and resp.body is None
    assert resp.headers["Location"] == resp.location
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.location is not None
    assert parse_qs(urlsplit(resp.location).query) == {"code": ["c&d"], "iss": [ISSUER]}


@pytest.mark.rfc("RFC 6749 §3.1.2")
def test_a_registered_query_is_kept() -> None:
    resp = build_authorization_response(WEB_CB + "?tenant=1", {"code": "c"}, "query", ISSUER)
    assert resp.location == f"{WEB_CB}?tenant=1&code=c&iss=https%3A%2F%2Fid.example.com"


@pytest.mark.sec("SEC-38")
def test_iss_cannot_be_overridden() -> None:
    resp = build_authorization_response(WEB_CB, {"iss": "https://evil"}, "query", ISSUER)
    assert resp.location is not None
    assert parse_qs(urlsplit(resp.location).query)["iss"] == [ISSUER]


@pytest.mark.sec("SEC-38")
@pytest.mark.rfc("OAuth 2.0 Form Post Response Mode §2")
def test_form_post_escapes_every_value() -> None:
    state = '"><script>alert(1)</script>'
    resp = build_authorization_response(
        WEB_CB + "?a=1&b=2", {"code": "c", "state": state}, "form_post", ISSUER, script_nonce="n0nce"
    )
    assert resp.status == 200 and resp.location is None and resp.body is not None
    assert "<script>alert(1)" not in resp.body
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in resp.body
    assert 'action="https://app.example.com/cb?a=1&amp;b=2"' in resp.body
    assert f'name="iss" value="{ISSUER}"' in resp.body
    assert '<script nonce="n0nce">' in resp.body
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Content-Type"].startswith("text/html")
