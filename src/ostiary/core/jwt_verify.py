"""RFC 8725 §3 / RFC 9068 §4: verification of signed JWTs with one algorithm pinned per key.

Signature checking and JOSE decoding are joserfc's (one parse of the compact form, then one
signature check against the key chosen from the header); this module only decides *which* key and
algorithm may be used, refuses whatever a token asks for that we never issue (embedded keys,
remote key URLs, critical extensions, other media types), and checks the claims with an injectable
clock. It does no I/O: keys come only from the caller's key set. When `kid` is unknown the error's
`reason` is ``"unknown_kid"`` so that a caller holding a remote JWKS cache (the SDK) may refresh it
and retry; nothing here ever follows `jku`/`x5u`.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

from ostiary.core.clock import Clock, SystemClock
from ostiary.core.errors import NotAuthenticated


class InvalidToken(NotAuthenticated):
    """A bearer JWT was refused. `reason` is short and safe to log; never echo the token."""

    code = "invalid_token"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__("The token is invalid.")


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

# Asymmetric algorithms only: an HMAC or "none" entry here would reopen RFC 8725 §2.1.
_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "RS256": (rsa.RSAPublicKey,),
    "RS384": (rsa.RSAPublicKey,),
    "RS512": (rsa.RSAPublicKey,),
    "PS256": (rsa.RSAPublicKey,),
    "PS384": (rsa.RSAPublicKey,),
    "PS512": (rsa.RSAPublicKey,),
    "ES256": (ec.EllipticCurvePublicKey,),
    "ES384": (ec.EllipticCurvePublicKey,),
    "ES512": (ec.EllipticCurvePublicKey,),
    "EdDSA": (ed25519.Ed25519PublicKey,),
}
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class VerificationKey:
    """A parsed public key and the single algorithm it may verify."""

    kid: str
    alg: str
    public_key: PublicKey
    # The same key for joserfc, imported once here and never per token.
    jose_key: ECKey | RSAKey | OKPKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        allowed = _KEY_TYPES.get(self.alg)
        if allowed is None:
            raise ValueError(f"unsupported verification algorithm {self.alg!r}")
        if not isinstance(self.public_key, allowed):
            raise ValueError(f"key {self.kid!r} does not match algorithm {self.alg}")
        if isinstance(self.public_key, rsa.RSAPublicKey) and self.public_key.key_size < MIN_RSA_BITS:
            raise ValueError("RSA verification keys must have at least 2048 bits")
        key = self.public_key
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name != _EC_CURVES[self.alg]:
            raise ValueError(f"key {self.kid!r} is not on the curve of {self.alg}")
        object.__setattr__(self, "jose_key", _jose_key(key))

    @classmethod
    def from_jwk(cls, jwk_data: Mapping[str, Any]) -> VerificationKey:
        """Parse one public JWK (e.g. from a JWKS); `kid` and `alg` are required, private parts refused."""
        kid, alg = jwk_data.get("kid"), jwk_data.get("alg")
        if not isinstance(kid, str) or not kid or not isinstance(alg, str) or alg not in _KEY_TYPES:
            raise ValueError("a verification JWK needs a kid and a supported asymmetric alg")
        if jwk_data.get("use", "sig") != "sig" or "d" in jwk_data or "k" in jwk_data:
            raise ValueError("not a public signature key")
        key = jwt.PyJWK(dict(jwk_data), algorithm=alg).key
        return cls(kid=kid, alg=alg, public_key=key)


def _jose_key(key: PublicKey) -> ECKey | RSAKey | OKPKey:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ECKey.import_key(key)
    if isinstance(key, rsa.RSAPublicKey):
        return RSAKey.import_key(key)
    return OKPKey.import_key(key)


KeySource = Mapping[str, VerificationKey] | Callable[[], Mapping[str, VerificationKey]]

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_MAX_HEADER_CHARS = 1024
# Headers that would make the token choose its own key or semantics (RFC 8725 §3.10, RFC 7515
# §4.1.11, RFC 7797): we issue none of them, so their presence alone is a refusal.
_FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit", "b64", "enc", "zip"})
_REQUIRED_CLAIMS = ("iss", "sub", "exp", "iat")
_MAX_LEEWAY = 60
# RFC 9864 deprecates the name "EdDSA" for "Ed25519"; ostiary still signs as "EdDSA" (what relying
# parties support today), so joserfc's per-verification warning about the name is noise here.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)
# One joserfc registry per algorithm, each allowing only that algorithm (the key's pinned one).
_REGISTRIES = {alg: jws.JWSRegistry(algorithms=[alg]) for alg in _KEY_TYPES}


def _is_number(value: object) -> bool:
    # json.loads accepts NaN and Infinity, which compare as "never expires" / "always valid".
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


class JwtVerifier:
    """Verify compact JWS tokens from one issuer, for one audience (or several), of one `typ`.

    `expected_typ=None` is for ID tokens: `typ` must then be absent or `JWT`, so explicitly typed
    tokens (`at+jwt`, `logout+jwt`) cannot be replayed where an ID token is expected (SEC-20).
    `allow_expired=True` skips only the `exp` check (an RP-initiated logout's `id_token_hint` may be
    old, never forged): `exp` must still be present and a number, and `nbf` and `iat` still count.
    """

    def __init__(
        self,
        issuer: str,
        audience: str | Collection[str] | None,
        keys: KeySource,
        *,
        expected_typ: str | None = "at+jwt",
        leeway: int = 60,
        max_token_bytes: int = 8192,
        clock: Clock | None = None,
        allow_expired: bool = False,
    ) -> None:
        if not issuer:
            raise ValueError("an issuer is required")
        if not 0 <= leeway <= _MAX_LEEWAY:
            raise ValueError("leeway must be between 0 and 60 seconds")
        self._issuer = issuer
        self._audiences = (
            None if audience is None else frozenset([audience] if isinstance(audience, str) else audience)
        )
        if self._audiences is not None and not all(self._audiences):
            raise ValueError("audiences must be non-empty strings")
        if self._audiences == frozenset():
            raise ValueError("give at least one audience, or None to skip the audience check")
        self._keys = keys
        self._typs = (
            frozenset({None, "JWT", "application/jwt"})
            if expected_typ is None
            else frozenset({expected_typ, f"application/{expected_typ}"})
        )
        self._leeway = leeway
        self._max_token_bytes = max_token_bytes
        self._clock = clock or SystemClock()
        self._allow_expired = allow_expired

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a valid token or raise `InvalidToken`."""
        return self.verify_with_kid(token)[0]

    def verify_with_kid(self, token: str) -> tuple[dict[str, Any], str]:
        """The claims of a valid token and the `kid` of the key that verified it (for a cache that
        must forget the token when the key leaves the ring), or `InvalidToken`."""
        signed = self._read(token)
        header = signed.headers()
        self._check_header(header)
        key = self._select_key(header)
        try:
            valid = jws.validate_compact(signed, key.jose_key, registry=_REGISTRIES[key.alg])
        except (JoseError, ValueError, TypeError):
            raise InvalidToken("malformed") from None
        if not valid:
            raise InvalidToken("bad_signature")
        try:
            claims = json.loads(signed.payload)
        except ValueError:
            raise InvalidToken("malformed") from None
        if not isinstance(claims, dict):
            raise InvalidToken("malformed")
        self._check_claims(claims)
        return claims, str(header["kid"])  # the key set's name for it (a str: `_select_key` checked)

    def _read(self, token: object) -> jws.CompactSignature:
        # Cheap input validation before any decoding: size, compact form, charset, header size.
        if not isinstance(token, str) or len(token) > self._max_token_bytes:
            raise InvalidToken("too_large" if isinstance(token, str) else "malformed")
        if not _COMPACT_JWS.fullmatch(token):
            raise InvalidToken("malformed")
        if token.index(".") > _MAX_HEADER_CHARS:
            raise InvalidToken("too_large")
        try:
            signed = jws.extract_compact(token.encode("ascii"))
        except (JoseError, ValueError, TypeError, AttributeError):
            raise InvalidToken("malformed") from None
        if not isinstance(signed.headers(), dict):
            raise InvalidToken("malformed")
        return signed

    def _check_header(self, header: Mapping[str, Any]) -> None:
        if not _FORBIDDEN_HEADERS.isdisjoint(header):
            raise InvalidToken("unsupported_header")
        typ = header.get("typ")
        if not (typ is None or isinstance(typ, str)) or typ not in self._typs:
            raise InvalidToken("wrong_typ")

    def _select_key(self, header: Mapping[str, Any]) -> VerificationKey:
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not isinstance(alg, str):
            raise InvalidToken("malformed")
        keys = self._keys() if callable(self._keys) else self._keys
        key = keys.get(kid)
        if key is None:
            raise InvalidToken("unknown_kid")
        if alg != key.alg:  # exact, case-sensitive: "none", "nOnE", "HS256" can never match
            raise InvalidToken("alg_mismatch")
        return key

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        for name in _REQUIRED_CLAIMS:
            if name not in claims:
                raise InvalidToken(f"missing_{name}")
        if not isinstance(claims["iss"], str) or claims["iss"] != self._issuer:
            raise InvalidToken("wrong_issuer")  # exact match, never a substring (CVE-2024-53861)
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise InvalidToken("malformed")
        if "jti" in claims and not isinstance(claims["jti"], str):
            raise InvalidToken("malformed")
        self._check_times(claims)
        if self._audiences is not None:
            aud = claims.get("aud")
            values = [aud] if isinstance(aud, str) else aud
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise InvalidToken("wrong_audience")
            if self._audiences.isdisjoint(values):
                raise InvalidToken("wrong_audience")

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now, leeway = self._clock.now(), self._leeway
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
        if not (_is_number(exp) and _is_number(iat) and _is_number(nbf)):
            raise InvalidToken("malformed")
        if now >= exp + leeway and not self._allow_expired:
            raise InvalidToken("expired")
        if nbf > now + leeway:
            raise InvalidToken("not_yet_valid")
        if iat > now + leeway:
            raise InvalidToken("issued_in_future")
