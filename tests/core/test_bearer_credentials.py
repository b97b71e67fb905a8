"""RFC 6750 §2.1: the Bearer credential as the server, UserInfo and the SDK read it."""

from __future__ import annotations

import pytest

from ostiary.core.bearer_credentials import bearer_token

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln-_~+/abc=="


@pytest.mark.parametrize(
    "header",
    [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"bEaReR   {TOKEN}", f"  Bearer {TOKEN}  "],
)
def test_the_scheme_is_case_insensitive_and_surrounding_space_ignored(header: str) -> None:
    assert bearer_token(header) == TOKEN


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        f"Bearer{TOKEN}",  # 1*SP
        f"Basic {TOKEN}",
        f"Bearer {TOKEN} extra",  # one credential
        f"Bearer {TOKEN},Bearer {TOKEN}",
        "Bearer abc=def",  # '=' only as trailing padding
        "Bearer ab\tc",
        "Bearer tökén",
        f"Bearer\t{TOKEN}",  # SP, not any whitespace
        f"Bearer {TOKEN}\r\nX-Injected: 1",
    ],
)
def test_anything_else_is_not_a_bearer_credential(header: str) -> None:
    assert bearer_token(header) is None


def test_the_token_case_is_kept() -> None:
    assert bearer_token("BEARER AbC") == "AbC"
