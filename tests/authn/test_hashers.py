"""Password hashers: argon2id for new hashes, imported bcrypt/Django PBKDF2 verified and upgraded."""

from __future__ import annotations

import base64
import hashlib
import unicodedata

import argon2
import bcrypt
import pytest

from ostiary.authn.hashers import (
    Argon2idHasher,
    BcryptHasher,
    DjangoPbkdf2Hasher,
    PasswordHashers,
    VerifyResult,
    build_hashers,
)

FAST = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}
PASSWORD = "correct horse battery staple"


class CountingHasher:
    """Wraps a hasher and counts the calls that cost a KDF run."""

    def __init__(self, inner: Argon2idHasher) -> None:
        self.inner = inner
        self.hash_calls = 0
        self.verify_calls: list[str] = []

    def identifies(self, encoded: str) -> bool:
        return self.inner.identifies(encoded)

    def hash(self, password: str) -> str:
        self.hash_calls += 1
        return self.inner.hash(password)

    def verify(self, password: str, encoded: str) -> bool:
        self.verify_calls.append(encoded)
        return self.inner.verify(password, encoded)

    def needs_rehash(self, encoded: str) -> bool:
        return self.inner.needs_rehash(encoded)


@pytest.fixture
def hashers() -> PasswordHashers:
    return build_hashers(**FAST)


def django_pbkdf2(password: str, salt: str, iterations: int, algorithm: str = "pbkdf2_sha256") -> str:
    digest = {"pbkdf2_sha256": "sha256", "pbkdf2_sha1": "sha1"}[algorithm]
    raw = hashlib.pbkdf2_hmac(digest, password.encode(), salt.encode(), iterations)
    return f"{algorithm}${iterations}${salt}${base64.b64encode(raw).decode()}"


@pytest.mark.sec("SEC-05")
def test_same_password_gives_different_argon2id_hashes_with_salt_and_params(hashers: PasswordHashers) -> None:
    first, second = hashers.hash(PASSWORD), hashers.hash(PASSWORD)
    assert first != second
    for encoded in (first, second):
        assert encoded.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
        salt_b64 = encoded.split("$")[4]
        salt = base64.b64decode(salt_b64 + "=" * (-len(salt_b64) % 4))
        assert len(salt) >= 16
        params = argon2.extract_parameters(encoded)
        assert (params.type, params.time_cost, params.memory_cost) == (argon2.Type.ID, 1, 8192)
        assert hashers.verify(PASSWORD, encoded) == VerifyResult(ok=True, needs_rehash=False)


@pytest.mark.sec("SEC-05")
def test_raising_the_cost_makes_old_hashes_need_rehash() -> None:
    old = build_hashers(**FAST).hash(PASSWORD)
    stronger = build_hashers(time_cost=2, memory_kib=8192, parallelism=1)
    assert stronger.verify(PASSWORD, old) == VerifyResult(ok=True, needs_rehash=True)
    assert stronger.verify(PASSWORD, stronger.hash(PASSWORD)).needs_rehash is False


def test_default_parameters_are_owasp_argon2id() -> None:
    encoded = Argon2idHasher().hash(PASSWORD)
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.sec("SEC-05")
@pytest.mark.parametrize("kind", [argon2.Type.I, argon2.Type.D])
def test_legacy_argon2_types_verify_and_need_rehash(hashers: PasswordHashers, kind: argon2.Type) -> None:
    legacy = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=kind).hash(PASSWORD)
    assert hashers.verify(PASSWORD, legacy) == VerifyResult(ok=True, needs_rehash=True)
    assert hashers.verify(PASSWORD + "!", legacy).ok is False


@pytest.mark.sec("SEC-05")
@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_imported_bcrypt_verifies_and_needs_rehash(hashers: PasswordHashers, prefix: str) -> None:
    encoded = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode().replace("$2b$", prefix)
    assert hashers.is_valid_encoding(encoded)
    assert hashers.verify(PASSWORD, encoded) == VerifyResult(ok=True, needs_rehash=True)
    assert hashers.verify(PASSWORD.upper(), encoded).ok is False


def test_bcrypt_long_password_compares_on_first_72_bytes_like_the_legacy_system() -> None:
    long_password = "é" * 40  # 80 bytes of UTF-8
    encoded = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    hasher = BcryptHasher()
    assert hasher.verify(long_password, encoded)  # no ValueError from bcrypt 5
    assert hasher.verify("x" * 100, encoded) is False
    assert hasher.needs_rehash(encoded)
    with pytest.raises(NotImplementedError):
        hasher.hash(long_password)


def test_bcrypt_refuses_absurd_cost() -> None:
    encoded = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode().replace("$04$", "$31$")
    assert BcryptHasher().identifies(encoded) is False
    assert BcryptHasher().verify("pw", encoded) is False


@pytest.mark.sec("SEC-05")
@pytest.mark.parametrize("algorithm", ["pbkdf2_sha256", "pbkdf2_sha1"])
def test_imported_django_pbkdf2_verifies_and_needs_rehash(hashers: PasswordHashers, algorithm: str) -> None:
    encoded = django_pbkdf2(PASSWORD, "s4ltS4lt", 1000, algorithm)
    assert hashers.is_valid_encoding(encoded)
    assert hashers.verify(PASSWORD, encoded) == VerifyResult(ok=True, needs_rehash=True)
    assert hashers.verify(PASSWORD + " ", encoded).ok is False


def test_django_known_vector() -> None:
    # From Django's own test suite (tests/auth_tests/test_hashers.py, 20000 iterations of "lètmein").
    encoded = "pbkdf2_sha256$20000$seasalt$oBSd886ysm3AqYun62DOdin8YcfbU1z9cksZSuLP9r0="
    assert DjangoPbkdf2Hasher().verify("lètmein", encoded)
    assert DjangoPbkdf2Hasher().verify("letmein", encoded) is False


@pytest.mark.parametrize(
    "encoded",
    [
        "pbkdf2_sha256$99999999$salt$" + base64.b64encode(b"x" * 32).decode(),  # DoS-sized
        "pbkdf2_sha256$1000$$" + base64.b64encode(b"x" * 32).decode(),  # no salt
        "pbkdf2_sha256$1000$salt$not-base64!",
        "pbkdf2_sha256$1000$salt$" + base64.b64encode(b"x" * 20).decode(),  # wrong length
        "pbkdf2_md5$1000$salt$abc=",
        "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,  # 4 GiB memory
        "$argon2id$garbage",
        "md5$abc",
        "",
        "!",
    ],
)
def test_unknown_or_malformed_encodings_fail_without_raising(hashers: PasswordHashers, encoded: str) -> None:
    assert hashers.is_valid_encoding(encoded) is False
    assert hashers.verify(PASSWORD, encoded) == VerifyResult(ok=False, needs_rehash=False)


@pytest.mark.sec("SEC-02")
@pytest.mark.parametrize("length", [64, 128])
def test_long_unicode_passwords_have_no_truncation_or_case_folding(
    hashers: PasswordHashers, length: int
) -> None:
    base = "Ünïcode pässwörd 🦊🔑 日本語のパスワード ключ "
    password = (base * 8)[:length]
    assert len(password) == length
    encoded = hashers.hash(password)
    assert hashers.verify(password, encoded).ok
    assert len(password.encode()) > 72

    def changed(index: int) -> str:
        return password[:index] + ("x" if password[index] != "x" else "y") + password[index + 1 :]

    # The character holding the 73rd UTF-8 byte (where bcrypt would stop), the 73rd character
    # when there is one, and the last one.
    byte_73 = next(i for i in range(length) if len(password[: i + 1].encode()) >= 73)
    indexes = {byte_73, length - 1} | ({72} if length > 72 else set())
    wrong = [changed(i) for i in indexes] + [password.swapcase(), password[:-1]]
    for attempt in wrong:
        assert hashers.verify(attempt, encoded).ok is False


def test_composed_and_decomposed_forms_verify_the_same(hashers: PasswordHashers) -> None:
    composed = "café crème brûlée à la mode"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert hashers.verify(decomposed, hashers.hash(composed)).ok
    assert hashers.verify(composed, hashers.hash(decomposed)).ok


def test_unnormalised_legacy_hash_matches_raw_input_and_is_rehashed(hashers: PasswordHashers) -> None:
    decomposed = unicodedata.normalize("NFD", "mot de passe très sûr")
    encoded = django_pbkdf2(decomposed, "salt", 1000)  # a legacy system that hashed raw input
    assert hashers.verify(decomposed, encoded) == VerifyResult(ok=True, needs_rehash=True)


def test_unhashable_passwords_never_raise_on_verify(hashers: PasswordHashers) -> None:
    encoded = hashers.hash(PASSWORD)
    assert hashers.verify("\ud800 lone surrogate", encoded).ok is False
    assert hashers.verify("x" * (1024 * 1024), encoded).ok is False
    assert hashers.dummy_verify("\ud800") is False
    with pytest.raises(ValueError):
        hashers.hash("x" * (1024 * 1024))


@pytest.mark.sec("SEC-64")
def test_dummy_verify_is_false_and_costs_one_verify_at_the_configured_parameters() -> None:
    counting = CountingHasher(Argon2idHasher(**FAST))
    hashers = PasswordHashers([counting, BcryptHasher()])
    known = hashers.hash(PASSWORD)
    counting.verify_calls.clear()

    assert hashers.verify("wrong password!", known).ok is False
    real_calls = len(counting.verify_calls)
    counting.verify_calls.clear()

    assert hashers.dummy_verify("wrong password!") is False
    assert len(counting.verify_calls) == real_calls == 1
    # The dummy hash has exactly the configured parameters, so its argon2 run costs the same.
    dummy = counting.verify_calls[0]
    assert dummy != known
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(known)
    assert counting.inner.needs_rehash(dummy) is False


@pytest.mark.sec("SEC-64")
def test_dummy_verify_mirrors_the_normalisation_fallback() -> None:
    counting = CountingHasher(Argon2idHasher(**FAST))
    hashers = PasswordHashers([counting])
    known = hashers.hash(PASSWORD)
    decomposed = unicodedata.normalize("NFD", "wrong café")
    counting.verify_calls.clear()
    hashers.verify(decomposed, known)
    real_calls = len(counting.verify_calls)
    counting.verify_calls.clear()
    hashers.dummy_verify(decomposed)
    assert len(counting.verify_calls) == real_calls == 2


def test_a_verify_only_hasher_cannot_be_preferred() -> None:
    with pytest.raises(NotImplementedError):
        PasswordHashers([BcryptHasher()])
    with pytest.raises(ValueError):
        PasswordHashers([])
