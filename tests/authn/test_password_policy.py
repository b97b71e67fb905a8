"""Password policy after NIST SP 800-63B rev 4 §3.1.1.2: length, blocklist, identity, no composition."""

from __future__ import annotations

import secrets
import string
import unicodedata

import pytest

from ostiary.authn.hashers import Argon2idHasher, PasswordHashers
from ostiary.authn.password_policy import PasswordPolicy, PasswordPolicyConfig
from ostiary.core.errors import ValidationFailed

GOOD = "quiet river lamp"  # 16 characters, lowercase and spaces only


@pytest.fixture
def policy() -> PasswordPolicy:
    return PasswordPolicy()


def reason(policy: PasswordPolicy, password: str, **kwargs: object) -> str:
    with pytest.raises(ValidationFailed) as info:
        policy.check(password, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == "password"
    assert info.value.status == 400
    return info.value.code


@pytest.mark.sec("SEC-01")
def test_without_mfa_14_is_too_short_and_15_is_enough(policy: PasswordPolicy) -> None:
    assert reason(policy, "vqmz tbrk wlxp") == "password_too_short"  # 14
    policy.check("vqmz tbrk wlxpj")  # 15


@pytest.mark.sec("SEC-01")
def test_with_mfa_7_is_too_short_and_8_is_enough(policy: PasswordPolicy) -> None:
    assert reason(policy, "vqmztbk", has_mfa=True) == "password_too_short"
    policy.check("vqmztbkw", has_mfa=True)
    assert reason(policy, "vqmztbkw", has_mfa=False) == "password_too_short"


def test_length_counts_code_points_after_nfc(policy: PasswordPolicy) -> None:
    composed = "éééééééééééééé"  # 14 code points composed, 28 decomposed
    decomposed = unicodedata.normalize("NFD", composed)
    assert len(decomposed) == 28
    assert reason(policy, decomposed) == "password_too_short"
    policy.check("🦊🔑🌊🌲🏔️🚲📚🎻🧭🍵🪁🌙⭐🎲🦉")  # emoji count one each


@pytest.mark.sec("SEC-02")
@pytest.mark.parametrize("length", [64, 128])
def test_long_passwords_with_spaces_emoji_and_non_latin_are_accepted(
    policy: PasswordPolicy, length: int
) -> None:
    password = ("Ünïcode pässwörd 🦊🔑 日本語のパスワード ключ " * 8)[:length]
    assert len(password) == length
    policy.check(password)


@pytest.mark.sec("SEC-02")
def test_too_long_is_refused_on_register(policy: PasswordPolicy) -> None:
    policy.check("vqmz tbrk wlxp " * 17)  # 255
    assert reason(policy, "x" * 257) == "password_too_long"
    assert reason(policy, "x" * (1024 * 1024)) == "password_too_long"


class CountingHasher(Argon2idHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=8192, parallelism=1)
        self.calls = 0

    def verify(self, password: str, encoded: str) -> bool:
        self.calls += 1
        return super().verify(password, encoded)


@pytest.mark.sec("SEC-02")
def test_a_1_mib_password_on_login_is_refused_before_any_hashing(policy: PasswordPolicy) -> None:
    hasher = CountingHasher()
    hashers = PasswordHashers([hasher])
    stored = hashers.hash(GOOD)
    huge = "a" * (1024 * 1024)

    def login(password: str) -> bool:
        policy.check_length_only(password)  # the login service's order: cap, then KDF
        return hashers.verify(password, stored).ok

    with pytest.raises(ValidationFailed) as info:
        login(huge)
    assert info.value.code == "password_too_long"
    assert hasher.calls == 0
    # A decomposed string just over 3x the cap is also refused without normalising it.
    with pytest.raises(ValidationFailed):
        policy.check_length_only("e\u0301" * 400)
    assert login(GOOD) is True
    assert hasher.calls == 1


@pytest.mark.sec("SEC-03")
@pytest.mark.parametrize(
    "password",
    ["password", "PASSWORD", "123456789", "iloveyou", "qwertyuiop", "trustno1", "football"],
)
def test_common_passwords_are_refused(password: str) -> None:
    policy = PasswordPolicy(PasswordPolicyConfig(min_length=8, min_length_with_mfa=8))
    assert reason(policy, password) == "password_common"


@pytest.mark.sec("SEC-03")
@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaaaaaaa",
        "123456789012345",
        "abcdefghijklmno",
        "onmlkjihgfedcba",
        "543210987654321",
        "xyzabcdefghijkl",
        "abcabcabcabcabc",
        "121212121212121212",
        "passwordpassword",
        "        " * 2,
    ],
)
def test_repetitive_and_sequential_passwords_are_refused(policy: PasswordPolicy, password: str) -> None:
    assert reason(policy, password) == "password_common"


@pytest.mark.sec("SEC-03")
def test_passwords_containing_identity_are_refused(policy: PasswordPolicy) -> None:
    assert reason(policy, "my name is JaneDoe ok", username="janedoe") == "password_contains_identity"
    assert (
        reason(policy, "hello j.smith77 world", email="J.Smith77@example.org") == "password_contains_identity"
    )
    assert reason(policy, "my OSTIARY login pass") == "password_contains_identity"
    custom = PasswordPolicy(PasswordPolicyConfig(product_name="Acme Portal"))
    assert reason(custom, "welcome to acme portal") == "password_contains_identity"


def test_short_identity_parts_are_not_used(policy: PasswordPolicy) -> None:
    policy.check("al gore rhythm xyz", username="al", email="xy@example.org")


@pytest.mark.sec("SEC-03")
def test_random_lowercase_passphrase_is_accepted_without_composition_rules(policy: PasswordPolicy) -> None:
    policy.check("kdmqzvrtxbnwple")
    for _ in range(50):
        policy.check("".join(secrets.choice(string.ascii_lowercase) for _ in range(15)))


def test_lone_surrogates_are_refused(policy: PasswordPolicy) -> None:
    assert reason(policy, "valid looking \ud800 pass") == "password_invalid_characters"


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        PasswordPolicyConfig(min_length=7, min_length_with_mfa=7)
    with pytest.raises(ValueError):
        PasswordPolicyConfig(min_length=20, max_length=16)
