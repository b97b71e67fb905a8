"""RFC 6750 / RFC 8725 at the HTTP edge: forged and broken bearer tokens on /auth/me → 401 with
`WWW-Authenticate: Bearer error="invalid_token"` (SEC-15..21); the one authentication order;
insufficient_scope; JWKS and key rotation through the CLI (SEC-22, SEC-23)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from helpers import PASSWORD, Harness, add_user, login, make_app
from ostiary.cli.main import app as cli
from ostiary.core.clock import FrozenClock

ISSUER = "http://127.0.0.1:8000"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def h(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 't.db'}", clock=clock) as harness:
        await add_user(harness.services, "alice", roles=["viewer"])
        yield harness


async def access_token(h: Harness) -> str:
    response = await h.http.post("/auth/token", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def assemble(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{signature}"


async def assert_refused(h: Harness, token: str) -> None:
    response = await h.http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert response.json()["error"] == "invalid_token"


@pytest.mark.sec("SEC-15")
async def test_alg_none_stripped_and_edited(h: Harness) -> None:
    token = await access_token(h)
    header, payload, signature = parts(token)
    for alg in ("none", "None", "NONE", "nOnE"):
        await assert_refused(h, assemble({**header, "alg": alg}, payload))
        await assert_refused(h, assemble({**header, "alg": alg}, payload) + "x")
    await assert_refused(h, assemble(header, payload))  # signature stripped
    await assert_refused(h, assemble(header, {**payload, "sub": "someone-else"}, signature))
    await assert_refused(h, assemble(header, {**payload, "scope": "users:manage"}, signature))


@pytest.mark.sec("SEC-16")
async def test_hmac_with_the_public_key(h: Harness) -> None:
    token = await access_token(h)
    header, payload, _ = parts(token)
    ring = h.services.tokens.keys.ring()  # the key that signed the token (RS256 is in the ring too)
    key = next(k for k in ring.keys if k.kid == header["kid"]).public_key
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    jwk_json = json.dumps(next(k for k in ring.jwks()["keys"] if k["kid"] == header["kid"])).encode()
    ssh = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    for secret in (pem, der, jwk_json, ssh):
        for alg, digest in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384), ("HS512", hashlib.sha512)):
            head = {**header, "alg": alg}
            signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}"
            mac = hmac.new(secret, signing_input.encode(), digest).digest()
            await assert_refused(h, f"{signing_input}.{b64(mac)}")


@pytest.mark.sec("SEC-17")
async def test_embedded_keys_and_unknown_kids(h: Harness) -> None:
    token = await access_token(h)
    _, payload, _ = parts(token)
    attacker = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key()))
    for extra in (
        {"jwk": jwk},
        {"jku": "http://127.0.0.1:9/jwks"},
        {"x5u": "http://127.0.0.1:9/cert"},
        {"kid": "../../dev/null"},
        {"kid": "' OR '1'='1"},
        {"kid": "unknown"},
    ):
        headers = {"typ": "at+jwt", "kid": "unknown", **extra}
        forged = jwt.encode(payload, attacker, algorithm="ES256", headers=headers)
        await assert_refused(h, forged)


@pytest.mark.sec("SEC-18")
async def test_expired_and_not_yet_valid(h: Harness, clock: FrozenClock) -> None:
    token = await access_token(h)
    clock.advance(600 + 61)
    await assert_refused(h, token)  # also after it was cached as valid
    clock.set(1_800_000_000.0)
    response = await h.http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


@pytest.mark.sec("SEC-19")
@pytest.mark.sec("SEC-20")
async def test_wrong_issuer_audience_and_typ(h: Harness) -> None:
    token = await access_token(h)
    header, payload, _ = parts(token)
    signer = h.services.tokens.keys.ring().signing_key_for("ES256")

    def sign(claims: dict[str, Any], **head: Any) -> str:
        return jwt.encode(claims, signer.private_key, algorithm="ES256", headers={**header, **head})

    assert (
        await h.http.get("/auth/me", headers={"Authorization": f"Bearer {sign(payload)}"})
    ).status_code == 200
    for iss in ("https://as.example.evil", f"{ISSUER}/extra", "http", "https://127.0.0.1:8000"):
        await assert_refused(h, sign({**payload, "iss": iss}))
    await assert_refused(h, sign({**payload, "aud": "https://api-b.example"}))
    await assert_refused(h, sign({k: v for k, v in payload.items() if k != "aud"}))
    await assert_refused(h, sign(payload, typ="JWT"))  # an ID-token-shaped JWT
    await assert_refused(h, sign(payload, typ="AT+JWT"))  # case-sensitive
    # A refresh token is opaque: never accepted as an access token.
    refresh = (await h.http.post("/auth/token", json={"username": "alice", "password": PASSWORD})).json()
    await assert_refused(h, refresh["refresh_token"])


@pytest.mark.sec("SEC-21")
async def test_abusive_inputs(h: Harness) -> None:
    token = await access_token(h)
    header, payload, signature = parts(token)
    await assert_refused(h, assemble({**header, "crit": ["exp"], "exp": 1}, payload, signature))
    await assert_refused(h, assemble({**header, "pad": "A" * 200_000}, payload, signature)[:60_000])
    await assert_refused(h, "not a jwt at all")
    await assert_refused(h, token + "%")
    await assert_refused(h, assemble({**header, "enc": "A256GCM", "zip": "DEF"}, payload, signature))


async def test_bearer_first_cookie_ignored_and_no_csrf(h: Harness) -> None:
    browser = h.client()
    await login(browser, "alice")
    assert (await browser.get("/auth/me")).json()["auth_method"] == "session"
    # With an Authorization header the cookie is ignored, even when the token is bad.
    bad = await browser.get("/auth/me", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert "invalid_token" in bad.headers["www-authenticate"]
    # HTML pages keep redirecting to /login rather than answering 401.
    page = await h.http.get("/", headers={"Authorization": "Bearer nope"})
    assert page.status_code == 303
    assert page.headers["location"] == "/login"
    # No credentials at all: a plain 401 without an error code in a challenge.
    assert (await h.http.get("/auth/me")).status_code == 401


async def test_insufficient_scope_on_a_permission_route(h: Harness) -> None:
    token = await access_token(h)
    response = await h.http.get("/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert response.json()["error"] == "insufficient_scope"


async def test_verified_tokens_are_cached_and_bounded(h: Harness) -> None:
    bearer = h.services.tokens.bearer
    token = await access_token(h)
    first = bearer.authenticate(token)
    assert bearer.authenticate(token) is first
    bearer.cache_size = 1
    other = await access_token(h)
    bearer.authenticate(other)
    assert len(bearer._cache) == 1


@pytest.mark.sec("SEC-22")
async def test_jwks_publishes_public_members_only(h: Harness) -> None:
    response = await h.http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert keys
    assert len({k["kid"] for k in keys}) == len(keys)
    for key in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
        assert key["use"] == "sig"
        assert key["alg"]


@pytest.mark.sec("SEC-23")
def test_cli_rotate_publish_then_sign_and_retire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("OSTIARY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OSTIARY_DATABASE_URL", url)
    monkeypatch.setenv("OSTIARY_SIGNING_KEY_PUBLISH_DELAY_SECONDS", "0")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    async def issue() -> tuple[str, list[str], str]:
        async with make_app(tmp_path, url, signing_key_publish_delay_seconds=0) as h:
            await add_user(h.services, "alice")
            token = await access_token(h)
            jwks = (await h.http.get("/.well-known/jwks.json")).json()
            return token, [k["kid"] for k in jwks["keys"]], jwt.get_unverified_header(token)["kid"]

    async def me_status(token: str) -> tuple[int, list[str]]:
        async with make_app(tmp_path, url, signing_key_publish_delay_seconds=0) as h:
            status = (await h.http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code
            kids = [k["kid"] for k in (await h.http.get("/.well-known/jwks.json")).json()["keys"]]
            return status, kids

    token, kids, old_kid = asyncio.run(issue())
    assert len(kids) == 2  # first start: the ES256 access-token key and the RS256 key (OIDC)
    assert old_kid in kids
    listed = runner.invoke(cli, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert old_kid[:8] in listed.output
    rotated = runner.invoke(cli, ["keys", "rotate", "--alg", "ES256"])
    assert rotated.exit_code == 0, rotated.output
    # The new key is published; the next start promotes it (delay 0), the old one keeps verifying.
    status, kids = asyncio.run(me_status(token))
    assert status == 200
    assert len(kids) == 3
    assert old_kid in kids
    retired = runner.invoke(cli, ["keys", "retire", old_kid, "--purge"])
    assert retired.exit_code == 0, retired.output
    status, kids = asyncio.run(me_status(token))
    assert status == 401
    assert old_kid not in kids
    assert runner.invoke(cli, ["keys", "rotate", "--alg", "HS256"]).exit_code != 0
