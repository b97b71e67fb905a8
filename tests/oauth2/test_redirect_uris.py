"""RFC 9700 §4.1.3, RFC 8252 §7.3: redirect URI registration (SEC-25) and exact matching (SEC-24)."""

from __future__ import annotations

import pytest

from ostiary.oauth2.errors import InvalidRedirectUri
from ostiary.oauth2.redirect_uris import find_redirect_uri, redirect_uri_matches, validate_redirect_uri

REGISTERED = "https://app.example.com/cb"

SEC_24_VARIANTS = [
    "https://app.example.com/cb/",
    "https://app.example.com/cb?x=1",
    "https://app.example.com/cb#f",
    "https://app.example.com/cb/../x",
    "https://app.example.com/cb/..;/x",
    "https://app.example.com/CB",
    "HTTPS://APP.example.com/cb",
    "https://app.example.com%2Fcb",
    "https://app.example.com/%2Fcb",
    "https://app.example.com/cb%2F",
    "https://app.example.com.evil.tld/cb",
    "https://appXexample.com/cb",
    "https://evil@app.example.com/cb",
    "https://app.example.com@evil.tld/cb",
    "https://a@b@app.example.com/cb",
    "https://app.example.com:443/cb",
    "http://app.example.com/cb",
    " https://app.example.com/cb",
    "https://app.example.com/cb ",
    "//app.example.com/cb",
    "",
]


@pytest.mark.sec("SEC-24")
@pytest.mark.rfc("RFC 9700 §4.1.3")
@pytest.mark.parametrize("requested", SEC_24_VARIANTS)
@pytest.mark.parametrize("application_type", ["web", "native"])
def test_every_variant_of_a_registered_uri_is_refused(requested: str, application_type: str) -> None:
    assert not redirect_uri_matches(requested, REGISTERED, application_type)  # type: ignore[arg-type]
    assert find_redirect_uri(requested, [REGISTERED], application_type) is None  # type: ignore[arg-type]


@pytest.mark.sec("SEC-24")
def test_the_exact_uri_matches() -> None:
    assert find_redirect_uri(REGISTERED, ["https://other.example/cb", REGISTERED], "web") == REGISTERED


NATIVE_V4 = "http://127.0.0.1/callback"
NATIVE_V6 = "http://[::1]/callback"


@pytest.mark.sec("SEC-25")
@pytest.mark.rfc("RFC 8252 §7.3")
@pytest.mark.parametrize(
    ("requested", "registered", "matches"),
    [
        ("http://127.0.0.1:51004/callback", NATIVE_V4, True),
        ("http://127.0.0.1/callback", NATIVE_V4, True),
        ("http://127.0.0.1:1/callback", "http://127.0.0.1:8080/callback", True),
        ("http://[::1]:6000/callback", NATIVE_V6, True),
        ("http://[::1]:6000/callback", NATIVE_V4, False),  # another host
        ("http://localhost:51004/callback", NATIVE_V4, False),  # localhost ≠ 127.0.0.1
        ("http://127.0.0.1:51004/callback", "http://localhost/callback", False),
        ("http://localhost:51004/callback", "http://localhost/callback", False),  # no port rule
        ("http://127.0.0.1:51004/other", NATIVE_V4, False),
        ("http://127.0.0.1:51004/callback/", NATIVE_V4, False),
        ("http://127.0.0.1:51004/callback?x=1", NATIVE_V4, False),
        ("http://127.0.0.1:51004/callback#x", NATIVE_V4, False),
        ("http://127.0.0.1:51004@evil.tld/callback", NATIVE_V4, False),
        ("http://127.0.0.1.evil.tld:1/callback", NATIVE_V4, False),
        ("https://127.0.0.1:51004/callback", NATIVE_V4, False),
        ("http://127.0.0.1:51004/callback/../callback", NATIVE_V4, False),
    ],
)
def test_native_loopback_any_port_rule(requested: str, registered: str, matches: bool) -> None:
    assert redirect_uri_matches(requested, registered, "native") is matches


@pytest.mark.sec("SEC-24")
def test_web_clients_get_no_port_rule_and_the_requested_port_is_kept() -> None:
    assert not redirect_uri_matches("http://127.0.0.1:9/callback", NATIVE_V4, "web")
    assert find_redirect_uri("http://127.0.0.1:9/callback", [NATIVE_V4], "native") == (
        "http://127.0.0.1:9/callback"
    )


REFUSED_FOR_ALL = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "jAvAsCrIpT://app.example.com/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "DATA:text/html;base64,PHNjcmlwdD4=",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "*",
    ".*",
    "https://*.example.com/cb",
    "https://app.example.com/*",
    "https://app.example.com*",
    "https://app.example.com/cb#frag",
    "https://user@app.example.com/cb",
    "https://app.example.com@evil.tld/cb",
    "https://app.example.com/a/../cb",
    "https://app.example.com/a/..;/cb",
    "https://app.example.com/a/%2e%2e/cb",
    "https://app.example.com/./cb",
    "https://app.example.com\\@evil.tld/cb",
    "/cb",
    "app.example.com/cb",
    "https:///cb",
    "https://app.example.com:99999/cb",
    "https://app.example.com/c b",
    "https://app.example.com/cb\n",
    "HTTPS://app.example.com/cb",
    "https://App.Example.com/cb",
    "http://app.example.com/cb",
    "http://10.0.0.1/cb",
    "http://127.0.0.1.nip.io/cb",
    "com.example.app:/callback",  # a private-use scheme on a web client
    "myapp:/callback",
    "",
]


@pytest.mark.sec("SEC-25")
@pytest.mark.rfc("RFC 9700 §2.6")
@pytest.mark.parametrize("uri", REFUSED_FOR_ALL)
def test_registration_refuses_unsafe_uris_for_web_clients(uri: str) -> None:
    with pytest.raises(InvalidRedirectUri):
        validate_redirect_uri(uri, "web")


@pytest.mark.sec("SEC-25")
@pytest.mark.parametrize("uri", [u for u in REFUSED_FOR_ALL if not u.startswith("com.example.app")])
def test_registration_refuses_unsafe_uris_for_native_clients(uri: str) -> None:
    with pytest.raises(InvalidRedirectUri):
        validate_redirect_uri(uri, "native")


@pytest.mark.sec("SEC-25")
@pytest.mark.parametrize("uri", ["http://localhost/cb", "http://localhost:8080/cb"])
def test_localhost_is_refused_for_web_clients_but_allowed_for_native(uri: str) -> None:
    with pytest.raises(InvalidRedirectUri):
        validate_redirect_uri(uri, "web")
    validate_redirect_uri(uri, "native")


@pytest.mark.sec("SEC-25")
@pytest.mark.parametrize(
    ("uri", "application_type"),
    [
        ("https://app.example.com/cb", "web"),
        ("https://app.example.com/cb?tenant=1", "web"),
        ("https://app.example.com:8443/oauth/callback", "web"),
        ("http://127.0.0.1:8080/cb", "web"),
        ("http://[::1]/cb", "native"),
        ("http://127.0.0.1/callback", "native"),
        ("com.example.app:/oauth2redirect", "native"),
        ("https://app.example.com/cb", "native"),
    ],
)
def test_registration_accepts_safe_uris(uri: str, application_type: str) -> None:
    validate_redirect_uri(uri, application_type)  # type: ignore[arg-type]
