"""authn/totp.py: seeds (SEC-50), activation by a correct code, the ±1 step window and one use per
step (SEC-47), against the SQL store on SQLite."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from mfa_unit_support import SECRET, Mfa, wrong_code
from sqlalchemy import select

from ostiary.authn.totp import (
    DIGITS,
    PERIOD,
    SEED_BYTES,
    SeedCipher,
    SeedDecryptionError,
    TotpEnrollment,
    code_at,
    matching_step,
    normalize_code,
    step_at,
)
from ostiary.core.errors import Conflict
from ostiary.core.secrets import InstanceSecret
from ostiary.storage.sqlalchemy import tables as t


def seed_of(enrollment: TotpEnrollment) -> bytes:
    secret = enrollment.secret
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def code_now(mfa: Mfa, seed: bytes, offset_steps: int = 0) -> str:
    return code_at(seed, step_at(mfa.clock.now()) + offset_steps)


async def enrolled(mfa: Mfa, user_id: str = "u1") -> bytes:
    enrollment = await mfa.totp.begin(user_id, "alice")
    seed = seed_of(enrollment)
    assert await mfa.totp.activate(user_id, code_now(mfa, seed), [])
    mfa.clock.advance(PERIOD)  # the activation used the current step
    return seed


@pytest.mark.sec("SEC-50")
async def test_a_seed_has_160_random_bits_and_is_shown_as_key_uri_and_local_qr(mfa: Mfa) -> None:
    first = await mfa.totp.begin("u1", "alice")
    second = await mfa.totp.begin("u2", "bob")
    assert SEED_BYTES * 8 >= 160
    assert len(seed_of(first)) == SEED_BYTES
    assert len(first.secret) == 32
    assert first.secret != second.secret
    uri = urlsplit(first.uri)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    query = parse_qs(uri.query)
    assert query["secret"] == [first.secret]
    assert query["issuer"] == ["ostiary-test"]
    assert "alice" in uri.path
    # The URI is what authenticator apps read: pyotp parses it back to the same generator.
    parsed = pyotp.parse_uri(first.uri)
    assert parsed.now() == pyotp.TOTP(first.secret).now()
    assert first.qr_svg.startswith("<svg") and "<path" in first.qr_svg
    assert "http" not in first.qr_svg.replace("http://www.w3.org/2000/svg", "")
    assert first.expires_at == mfa.clock.now() + 600


@pytest.mark.sec("SEC-50")
async def test_the_seed_is_encrypted_at_rest_and_bound_to_its_user(mfa: Mfa) -> None:
    enrollment = await mfa.totp.begin("u1", "alice")
    seed = seed_of(enrollment)
    async with mfa.db.read() as conn:
        rows = (await conn.execute(select(t.mfa_totp))).mappings().all()
    blob = bytes(rows[0]["encrypted_seed"])
    assert seed not in blob
    assert enrollment.secret.encode() not in blob
    assert enrollment.secret not in repr(rows)
    cipher = SeedCipher(SECRET.derive("totp-seed"))
    assert cipher.open("u1", blob) == seed
    with pytest.raises(SeedDecryptionError):
        cipher.open("u2", blob)  # moved to another user's row
    with pytest.raises(SeedDecryptionError):
        SeedCipher(InstanceSecret(b"x" * 32).derive("totp-seed")).open("u1", blob)
    with pytest.raises(SeedDecryptionError):
        cipher.open("u1", blob[:-1] + bytes([blob[-1] ^ 1]))
    assert cipher.seal("u1", seed) != cipher.seal("u1", seed)  # a fresh nonce each time


@pytest.mark.sec("SEC-50")
async def test_enrollment_is_active_only_after_a_correct_code(mfa: Mfa) -> None:
    enrollment = await mfa.totp.begin("u1", "alice")
    seed = seed_of(enrollment)
    wrong = wrong_code(seed, mfa.clock.now())
    assert not await mfa.totp.activate("u1", wrong, [])
    assert not await mfa.totp.activate("u1", None, [])
    assert not await mfa.totp.verify("u1", code_now(mfa, seed))  # pending: no login with it
    user = await mfa.users.get("u1")
    assert user is not None and not user.mfa_enabled
    assert await mfa.totp.activate("u1", code_now(mfa, seed), ["d" * 64])
    user = await mfa.users.get("u1")
    assert user is not None and user.mfa_enabled
    assert await mfa.recovery.remaining("u1") == 1
    credential = await mfa.totp.credential("u1")
    assert credential is not None and credential.active


async def test_a_started_enrollment_expires_and_a_restart_replaces_the_seed(mfa: Mfa) -> None:
    old = seed_of(await mfa.totp.begin("u1", "alice"))
    new = seed_of(await mfa.totp.begin("u1", "alice"))
    assert not await mfa.totp.activate("u1", code_now(mfa, old), [])  # the replaced seed is gone
    mfa.clock.advance(601)
    assert not await mfa.totp.activate("u1", code_now(mfa, new), [])
    again = seed_of(await mfa.totp.begin("u1", "alice"))
    assert await mfa.totp.activate("u1", code_now(mfa, again), [])


async def test_an_active_credential_is_not_replaced_by_a_new_enrollment(mfa: Mfa) -> None:
    seed = await enrolled(mfa)
    with pytest.raises(Conflict):
        await mfa.totp.begin("u1", "alice")
    assert await mfa.totp.verify("u1", code_now(mfa, seed))


@pytest.mark.sec("SEC-47")
async def test_a_code_works_once_and_older_codes_die_with_it(mfa: Mfa) -> None:
    seed = await enrolled(mfa)
    code = code_now(mfa, seed)
    assert await mfa.totp.verify("u1", code)
    assert not await mfa.totp.verify("u1", code)  # the same code again, same window
    mfa.clock.advance(5)
    assert not await mfa.totp.verify("u1", code)
    assert not await mfa.totp.verify("u1", code_now(mfa, seed, -1))  # an older step after a newer one
    mfa.clock.advance(PERIOD)
    assert await mfa.totp.verify("u1", code_now(mfa, seed))


@pytest.mark.sec("SEC-47")
@pytest.mark.parametrize(("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
async def test_one_step_of_drift_each_way_and_no_more(mfa: Mfa, offset: int, accepted: bool) -> None:
    seed = await enrolled(mfa)
    mfa.clock.advance(10 * PERIOD)
    assert await mfa.totp.verify("u1", code_now(mfa, seed, offset)) is accepted


@pytest.mark.sec("SEC-47")
def test_codes_outside_the_window_by_seconds() -> None:
    seed = b"\x01" * SEED_BYTES
    now = 1_800_000_015.0
    for delta, expected in ((-60, None), (-30, step_at(now - 30)), (30, step_at(now + 30)), (60, None)):
        code = code_at(seed, step_at(now + delta))
        assert matching_step(seed, code, now, after=-1) == expected, delta
    assert matching_step(seed, code_at(seed, step_at(now)), now, after=step_at(now)) is None


def test_codes_match_rfc_6238_appendix_b() -> None:
    seed = b"12345678901234567890"  # the RFC's SHA-1 key; 8-digit vectors, cut to our 6 digits
    for when, expected in ((59, "94287082"), (1111111109, "07081804"), (2000000000, "69279037")):
        assert code_at(seed, step_at(when)) == expected[-DIGITS:]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123456", "123456"),
        (" 123 456 ", "123456"),
        ("12345", None),
        ("1234567", None),
        ("12345a", None),
        ("١٢٣٤٥٦", None),  # Arabic-Indic digits are digits to Python, not to us
        ("", None),
        (None, None),
        ("1" * 5000, None),
    ],
)
def test_code_input_is_six_ascii_digits(raw: str | None, expected: str | None) -> None:
    assert normalize_code(raw) == expected


async def test_remove_turns_mfa_off_and_the_seed_is_gone(mfa: Mfa) -> None:
    seed = await enrolled(mfa)
    assert await mfa.totp.remove("u1")
    assert not await mfa.totp.verify("u1", code_now(mfa, seed))
    user = await mfa.users.get("u1")
    assert user is not None and not user.mfa_enabled
    assert await mfa.totp.credential("u1") is None
    assert not await mfa.totp.remove("u1")
