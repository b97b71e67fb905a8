"""authn/recovery_codes.py: ten single-use codes of ≥ 50 bits, shown once, stored as digests (SEC-50)."""

from __future__ import annotations

import math
import re

import pytest
from mfa_unit_support import Mfa
from sqlalchemy import select

from ostiary.authn.recovery_codes import ALPHABET, COUNT, GROUP, LENGTH, generate_code, normalize
from ostiary.storage.sqlalchemy import tables as t

SHAPE = re.compile(r"^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$")


@pytest.mark.sec("SEC-50")
def test_codes_carry_at_least_50_bits_and_are_grouped_for_reading() -> None:
    assert len(set(ALPHABET)) == 32
    assert LENGTH * math.log2(len(ALPHABET)) >= 50
    codes = {generate_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(SHAPE.match(c) for c in codes), codes
    assert GROUP == 4


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("abcd-efgh-jkmn", "abcdefghjkmn"),
        ("ABCD EFGH JKMN", "abcdefghjkmn"),
        ("  abcdefghjkmn\n", "abcdefghjkmn"),
        ("0o1l-i000-0000", "001110000000"),  # o → 0, i and l → 1: what people mistype
        ("abcd-efgh-jkm", None),
        ("abcd-efgh-jkmnp", None),
        ("abcd-efgh-jkmu", None),  # u is not in the alphabet
        ("", None),
        (None, None),
        ("a" * 100, None),
    ],
)
def test_typed_codes_are_read_forgivingly_but_exactly(typed: str | None, expected: str | None) -> None:
    assert normalize(typed) == expected


@pytest.mark.sec("SEC-50")
async def test_ten_codes_stored_only_as_digests_each_usable_once(mfa: Mfa) -> None:
    codes = await mfa.recovery.regenerate("u1")
    assert len(codes) == COUNT == len(set(codes))
    async with mfa.db.read() as conn:
        rows = (await conn.execute(select(t.mfa_recovery_codes))).mappings().all()
    stored = repr(rows)
    assert len(rows) == COUNT
    for code in codes:
        assert code not in stored and normalize(code) not in stored
    assert await mfa.recovery.consume("u1", codes[0].upper().replace("-", " "))
    assert not await mfa.recovery.consume("u1", codes[0])
    assert not await mfa.recovery.consume("u2", codes[1])  # another user's code is no code
    assert not await mfa.recovery.consume("u1", "not a code")
    assert await mfa.recovery.remaining("u1") == COUNT - 1


async def test_regenerating_ends_every_earlier_code(mfa: Mfa) -> None:
    old = await mfa.recovery.regenerate("u1")
    new = await mfa.recovery.regenerate("u1")
    assert not set(old) & set(new)
    assert not any([await mfa.recovery.consume("u1", c) for c in old])
    assert await mfa.recovery.consume("u1", new[-1])
