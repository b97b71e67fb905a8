"""The shape of API keys (authn/api_keys_format.py): a typed prefix, ≥ 128 CSPRNG bits, a SHA-256 digest
of the whole key, and parsing that never mistakes a malformed value for a key (SEC-52)."""

from __future__ import annotations

import hashlib
import math
import re

import pytest

from ostiary.authn.api_keys_format import (
    LOOKUP_CHARS,
    SECRET_CHARS,
    claimed_prefix,
    display_prefix,
    key_digest,
    kind_of,
    lookup_prefix_of,
    new_lookup_prefix,
    stateful_key,
)

SHAPE = re.compile(r"osk_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}")
SAMPLES = 10_000


@pytest.mark.sec("SEC-52")
def test_a_key_has_a_typed_prefix_and_at_least_128_random_bits() -> None:
    prefix = new_lookup_prefix()
    key = stateful_key(prefix)
    assert SHAPE.fullmatch(key)
    assert key.startswith(f"osk_{prefix}_")
    assert SECRET_CHARS * math.log2(62) >= 128  # the secret part alone, the prefix not counted
    assert len(prefix) == LOOKUP_CHARS


@pytest.mark.sec("SEC-52")
def test_ten_thousand_keys_share_no_secret_and_use_the_whole_alphabet() -> None:
    secrets_ = [stateful_key("AAAAAAAA").rsplit("_", 1)[1] for _ in range(SAMPLES)]
    assert len(set(secrets_)) == SAMPLES
    seen = set("".join(secrets_))
    assert len(seen) == 62  # base62: every symbol occurs, none other
    # Each position is uniform enough: no symbol takes more than twice its fair share anywhere.
    for position in range(SECRET_CHARS):
        counts: dict[str, int] = {}
        for s in secrets_:
            counts[s[position]] = counts.get(s[position], 0) + 1
        assert max(counts.values()) < 2 * SAMPLES / 62


def test_the_digest_is_sha256_of_the_whole_key() -> None:
    key = stateful_key("AbCd1234")
    assert key_digest(key) == hashlib.sha256(key.encode()).hexdigest()
    assert key_digest(key) != key_digest(key[:-1] + ("A" if key[-1] != "A" else "B"))


@pytest.mark.parametrize(
    ("value", "lookup", "claimed", "kind"),
    [
        ("osk_AbCd1234_" + "x" * 32, "AbCd1234", "AbCd1234", "stateful"),
        ("osk_AbCd1234_" + "x" * 31, None, "AbCd1234", "stateful"),  # secret too short
        ("osk_AbCd1234_" + "x" * 33, None, "AbCd1234", "stateful"),  # too long
        ("osk_AbCd123_" + "x" * 33, None, None, "stateful"),  # prefix too short
        ("osk_AbCd-234_" + "x" * 32, None, None, "stateful"),  # not base62
        ("osk_AbCd1234_" + "x" * 31 + "-", None, "AbCd1234", "stateful"),
        ("oskj_eyJ.eyJ.sig", None, None, "stateless"),
        ("OSK_AbCd1234_" + "x" * 32, None, None, None),  # the prefix is case-sensitive
        ("eyJhbGciOi.eyJ.sig", None, None, None),  # an access token
        ("", None, None, None),
    ],
)
def test_parsing(value: str, lookup: str | None, claimed: str | None, kind: str | None) -> None:
    assert lookup_prefix_of(value) == lookup
    assert claimed_prefix(value) == claimed
    assert kind_of(value) == kind


def test_listings_show_the_prefix_only() -> None:
    assert display_prefix("AbCd1234") == "osk_AbCd1234_…"
    assert display_prefix(None) == "oskj_…"
