"""Password policy after NIST SP 800-63B rev 4 §3.1.1.2 (SEC-01..03).

Length is what matters: at least 15 code points for a password used alone, 8 when the account has
another factor, at most `max_length` (never truncated). No composition rules, no periodic expiry:
spaces, emoji and any script are allowed. Lengths are counted in Unicode code points after NFC
normalisation, the same form the hashers hash.

Passwords are also refused when they are commonly used or guessable: the 30,000 most common
passwords in zxcvbn's bundled frequency list (`zxcvbn.frequency_lists.FREQUENCY_LISTS["passwords"]`,
built by Dropbox from leaked password corpora), one character or a short unit repeated,
straight sequences (`abcdef…`, `12345…`, `…3210`), and passwords containing the username, the
email local part or the product name. Each refusal carries an explicit `code`.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass
from functools import cache

from ostiary.core.errors import ValidationFailed

TOO_SHORT = "password_too_short"
TOO_LONG = "password_too_long"
COMMON = "password_common"
CONTAINS_IDENTITY = "password_contains_identity"
INVALID_CHARACTERS = "password_invalid_characters"

# Identity parts shorter than this would reject too much ("al" is in many good passphrases).
_MIN_IDENTITY_PART = 3
# A repeated unit this short ("abab…", "123123…") adds no strength however long the result.
_MAX_REPEATED_UNIT = 4


@cache
def _common_passwords() -> frozenset[str]:
    """Loaded once, on first use: importing zxcvbn's lists costs memory a CLI may never need."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"])


@dataclass(frozen=True)
class PasswordPolicyConfig:
    min_length: int = 15
    min_length_with_mfa: int = 8
    max_length: int = 256
    product_name: str = "ostiary"

    def __post_init__(self) -> None:
        if not 8 <= self.min_length_with_mfa <= self.min_length <= self.max_length:
            raise ValueError("need 8 <= min_length_with_mfa <= min_length <= max_length")


def _is_sequential(text: str) -> bool:
    """Each character one step after (or before) the previous; digits and letters wrap (…90…)."""
    if len(text) < 3:
        return False
    steps: set[int] = set()
    for previous, current in itertools.pairwise(text):
        step = ord(current) - ord(previous)
        if previous.isdigit() and current.isdigit():
            step = (step + 10) % 10
            step = -1 if step == 9 else step
        elif previous.isascii() and previous.isalpha() and current.isascii() and current.isalpha():
            step = (step + 26) % 26
            step = -1 if step == 25 else step
        steps.add(step)
    return steps in ({1}, {-1})


def _repeated_unit(text: str) -> str | None:
    """The shortest unit that `text` is a whole repetition of (≥ 2 times), or None."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return None


class PasswordPolicy:
    def __init__(self, config: PasswordPolicyConfig | None = None) -> None:
        self.config = config or PasswordPolicyConfig()

    def check_length_only(self, password: str) -> None:
        """The cap to apply on login before any hashing: a 1 MiB password must never reach a KDF.

        Imported users whose legacy password is longer than `max_length` cannot log in with it;
        raise `max_length` (up to 4096) if a legacy system allowed longer ones.
        """
        # NFC composes at most ~3 code points into 1 (base + 2 marks), so a raw string over 3x the
        # cap cannot fit it: refuse it without spending time normalising 1 MiB.
        if len(password) > 3 * self.config.max_length or self._length(password) > self.config.max_length:
            raise ValidationFailed(
                f"Use at most {self.config.max_length} characters.", field="password", code=TOO_LONG
            )

    def check(
        self,
        password: str,
        *,
        username: str | None = None,
        email: str | None = None,
        has_mfa: bool = False,
    ) -> None:
        """Raise ValidationFailed(field="password", code=…) if `password` may not be set."""
        self.check_length_only(password)
        try:
            password.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: no keyboard can type this password again
            raise ValidationFailed(
                "The password contains characters that are not valid Unicode.",
                field="password",
                code=INVALID_CHARACTERS,
            ) from None
        minimum = self.config.min_length_with_mfa if has_mfa else self.config.min_length
        if self._length(password) < minimum:
            raise ValidationFailed(f"Use at least {minimum} characters.", field="password", code=TOO_SHORT)
        folded = unicodedata.normalize("NFC", password).casefold()
        if self._is_guessable(folded):
            raise ValidationFailed(
                "This password is too common or too easy to guess. Choose another one.",
                field="password",
                code=COMMON,
            )
        if any(part in folded for part in self._identity_parts(username, email)):
            raise ValidationFailed(
                "The password must not contain your username, your email address or the product name.",
                field="password",
                code=CONTAINS_IDENTITY,
            )

    @staticmethod
    def _length(password: str) -> int:
        return len(unicodedata.normalize("NFC", password))

    @staticmethod
    def _is_guessable(folded: str) -> bool:
        common = _common_passwords()
        if folded in common or folded.strip() in common or _is_sequential(folded):
            return True
        unit = _repeated_unit(folded)
        # "aaaa…", "abcabc…", and a common word doubled ("passwordpassword").
        return unit is not None and (len(unit) <= _MAX_REPEATED_UNIT or unit in common)

    def _identity_parts(self, username: str | None, email: str | None) -> list[str]:
        local_part = email.rsplit("@", 1)[0] if email else None
        parts = (username, local_part, self.config.product_name)
        folded = (unicodedata.normalize("NFC", part).casefold() for part in parts if part)
        return [part for part in folded if len(part) >= _MIN_IDENTITY_PART]
