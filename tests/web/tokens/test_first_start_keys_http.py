"""First start creates the signing keys OIDC needs: the access-token algorithm's key and an RS256 key
for ID tokens (OIDC Core §15.1), both published in the JWKS and listed by `ostiary keys list`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from helpers import PASSWORD, add_user, make_app
from ostiary.cli.main import app as cli
from ostiary.compose.tokens import required_algs


def test_required_algorithms_put_the_access_token_algorithm_first_once() -> None:
    assert required_algs("ES256") == ("ES256", "RS256")
    assert required_algs("EdDSA") == ("EdDSA", "RS256")
    assert required_algs("RS256") == ("RS256",)


@pytest.mark.sec("SEC-22")
async def test_first_start_publishes_es256_and_rs256_and_signs_access_tokens_with_es256(
    tmp_path: Path, database_url: str
) -> None:
    async with make_app(tmp_path, database_url) as h:
        await add_user(h.services, "alice")
        jwks = (await h.http.get("/.well-known/jwks.json")).json()["keys"]
        assert sorted(k["alg"] for k in jwks) == ["ES256", "RS256"]
        rsa = next(k for k in jwks if k["alg"] == "RS256")
        assert rsa["kty"] == "RSA"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(rsa)
        assert h.services.tokens.keys.ring().signing_key_for("RS256").state == "active"
        pair = await h.http.post("/auth/token", json={"username": "alice", "password": PASSWORD})
        assert pair.status_code == 200, pair.text
        header = jwt.get_unverified_header(pair.json()["access_token"])
        assert header["alg"] == "ES256"
        assert header["kid"] == next(k["kid"] for k in jwks if k["alg"] == "ES256")
        kids = {k["kid"] for k in jwks}
    async with make_app(tmp_path, database_url) as again:  # a restart creates nothing new
        assert {k["kid"] for k in (await again.http.get("/.well-known/jwks.json")).json()["keys"]} == kids


async def test_rs256_access_tokens_need_no_second_key(tmp_path: Path, database_url: str) -> None:
    async with make_app(tmp_path, database_url, access_token_alg="RS256") as h:
        jwks = (await h.http.get("/.well-known/jwks.json")).json()["keys"]
        assert [k["alg"] for k in jwks] == ["RS256"]


def test_keys_list_shows_both_keys_after_first_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("OSTIARY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OSTIARY_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)

    async def first_start() -> dict[str, str]:
        async with make_app(tmp_path, url) as h:
            return {k.alg: k.kid for k in h.services.tokens.keys.ring().keys}

    kids = asyncio.run(first_start())
    assert set(kids) == {"ES256", "RS256"}
    listed = CliRunner().invoke(cli, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    for alg, kid in kids.items():
        assert alg in listed.output
        assert kid[:8] in listed.output
