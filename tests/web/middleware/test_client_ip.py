"""Client IP resolution (SEC-63): forwarded headers are believed only from our own proxies."""

from __future__ import annotations

import ipaddress

import pytest

from ostiary.web.middleware.client_ip import MAX_HOPS, client_ip, parse_ip, resolve_client_ip

from ._support import client_for, make_app

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))

pytestmark = pytest.mark.sec("SEC-63")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.2.3.4", "1.2.3.4"),
        (" 1.2.3.4 ", "1.2.3.4"),
        ("1.2.3.4:8080", "1.2.3.4"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("a", None),
        ("", None),
        ("1.2.3.4.5", None),
        ("[::1", None),
        ("unknown", None),
    ],
)
def test_parse_ip(value: str, expected: str | None) -> None:
    parsed = parse_ip(value)
    assert (str(parsed) if parsed else None) == expected


def test_untrusted_peer_ignores_forwarded_for() -> None:
    assert resolve_client_ip("203.0.113.9", ["1.2.3.4"], PROXIES) == "203.0.113.9"
    assert resolve_client_ip("203.0.113.9", ["1.2.3.4"], ()) == "203.0.113.9"


def test_trusted_proxy_uses_only_the_hop_it_appended() -> None:
    # The client forged "6.6.6.6"; our proxy appended the address it really saw.
    assert resolve_client_ip("10.0.0.1", ["6.6.6.6, 198.51.100.7"], PROXIES) == "198.51.100.7"


def test_chain_of_trusted_proxies_is_skipped_from_the_right() -> None:
    headers = ["6.6.6.6, 198.51.100.7", "10.1.1.1, fd00::2"]  # repeated header lines join in order
    assert resolve_client_ip("10.0.0.1", headers, PROXIES) == "198.51.100.7"


@pytest.mark.parametrize("forwarded", [["a"], [""], ["6.6.6.6, a"], ["1.2.3.4, a, 10.0.0.2"], ["\r\n"]])
def test_malformed_hop_falls_back_to_the_peer(forwarded: list[str]) -> None:
    # Never skipped over (that would let a client pick "1.2.3.4"), never an exception.
    assert resolve_client_ip("10.0.0.1", forwarded, PROXIES) == "10.0.0.1"


def test_only_trusted_hops_gives_the_leftmost_and_padding_is_capped() -> None:
    assert resolve_client_ip("10.0.0.1", ["10.9.9.9, 10.0.0.2"], PROXIES) == "10.9.9.9"
    padded = ", ".join(["1.2.3.4"] + ["10.0.0.3"] * (MAX_HOPS + 5))
    assert resolve_client_ip("10.0.0.1", [padded], PROXIES) == "10.0.0.1"


def test_missing_or_non_ip_peer() -> None:
    assert resolve_client_ip(None, ["1.2.3.4"], PROXIES) == "unknown"
    assert resolve_client_ip("testclient", ["1.2.3.4"], PROXIES) == "testclient"


def test_helper_falls_back_to_the_peer_without_the_middleware() -> None:
    assert client_ip({"type": "http", "client": ("192.0.2.1", 5)}) == "192.0.2.1"
    assert client_ip({"type": "http", "client": None}) == "unknown"


@pytest.mark.parametrize("spoof", ["1.2.3.4", "a", "", "1.1.1.1, 2.2.2.2"])
async def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(spoof: str) -> None:
    async with client_for(make_app(), peer=("203.0.113.5", 4000)) as client:
        response = await client.get("/ip", headers={"X-Forwarded-For": spoof, "X-Real-IP": "9.9.9.9"})
    assert response.status_code == 200
    assert response.json()["client_ip"] == "203.0.113.5"


async def test_behind_a_trusted_proxy_the_appended_hop_is_used() -> None:
    app = make_app(trusted_proxies=("10.0.0.0/8",))
    async with client_for(app, peer=("10.0.0.1", 4000)) as client:
        ok = await client.get("/ip", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.7"})
        bad = await client.get("/ip", headers={"X-Forwarded-For": "a"})
    assert ok.json()["client_ip"] == "198.51.100.7"
    assert bad.status_code == 200
    assert bad.json()["client_ip"] == "10.0.0.1"


def test_bad_trusted_network_fails_at_start_up() -> None:
    with pytest.raises(ValueError):
        make_app(trusted_proxies=("not-a-network",)).build_middleware_stack()
