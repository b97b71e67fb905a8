"""RFC 7517 §4 / RFC 7638 §3: signing-key generation, public JWKs, thumbprints, encryption at rest.

Private keys never leave this module in the clear except as parsed `cryptography` objects: at rest
they are PKCS#8 DER sealed with AES-256-GCM under a subkey of the instance secret, with the key's
`kid` and `alg` as associated data, so a ciphertext cannot be moved to another record unnoticed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.utils import base64url_encode

from ostiary.core.jwt_verify import PublicKey
from ostiary.core.secrets import InstanceSecret

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

SUPPORTED_ALGS = ("ES256", "RS256", "EdDSA")
RSA_BITS = 3072  # 128-bit security (NIST SP 800-57); SEC-22 asks for at least 2048
ENCRYPTION_PURPOSE = "signing-key-encryption"
_BLOB_VERSION = b"\x01"
_NONCE_BYTES = 12

# RFC 7638 §3.2: the required public members per key type. A published JWK carries exactly these
# plus kid/alg/use, so a private member (d, p, q, dp, dq, qi, k) can never slip into the JWKS.
_PUBLIC_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


class KeyDecryptionError(Exception):
    """A stored private key could not be opened: wrong instance secret or tampered record."""


def generate_private_key(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported signing algorithm {alg!r}; choose one of {SUPPORTED_ALGS}")


def check_key_matches_alg(key: object, alg: str) -> PrivateKey:
    if alg == "ES256" and isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        return key
    if alg == "RS256" and isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return key
    if alg == "EdDSA" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise ValueError(f"the private key does not fit {alg!r}")


def _raw_jwk(public_key: PublicKey) -> dict[str, Any]:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return ECAlgorithm.to_jwk(public_key, as_dict=True)
    if isinstance(public_key, rsa.RSAPublicKey):
        return RSAAlgorithm.to_jwk(public_key, as_dict=True)
    return OKPAlgorithm.to_jwk(public_key, as_dict=True)


def _required_members(public_key: PublicKey) -> dict[str, str]:
    raw = _raw_jwk(public_key)
    return {name: str(raw[name]) for name in _PUBLIC_MEMBERS[str(raw["kty"])]}


def jwk_thumbprint(public_key: PublicKey) -> str:
    """RFC 7638 SHA-256 thumbprint: canonical JSON of the required members, base64url."""
    canonical = json.dumps(_required_members(public_key), separators=(",", ":"), sort_keys=True)
    return base64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest()).decode("ascii")


def public_jwk(public_key: PublicKey, *, kid: str, alg: str) -> dict[str, str]:
    """The JWK published in the JWKS: public members only, with `use`, `alg` and `kid` (SEC-22)."""
    return {**_required_members(public_key), "use": "sig", "alg": alg, "kid": kid}


def _aad(kid: str, alg: str) -> bytes:
    return f"ostiary-signing-key|{kid}|{alg}".encode()


def encrypt_private_key(private_key: PrivateKey, *, kid: str, alg: str, secret: InstanceSecret) -> bytes:
    plaintext = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(secret.derive(ENCRYPTION_PURPOSE)).encrypt(nonce, plaintext, _aad(kid, alg))
    return _BLOB_VERSION + nonce + sealed


def decrypt_private_key(blob: bytes, *, kid: str, alg: str, secret: InstanceSecret) -> PrivateKey:
    """Open a stored key and check it is the key its `kid` names (the thumbprint must match)."""
    if len(blob) <= 1 + _NONCE_BYTES or blob[:1] != _BLOB_VERSION:
        raise KeyDecryptionError(f"signing key {kid}: unknown encryption format")
    nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        plaintext = AESGCM(secret.derive(ENCRYPTION_PURPOSE)).decrypt(nonce, sealed, _aad(kid, alg))
    except InvalidTag:
        raise KeyDecryptionError(f"signing key {kid}: wrong instance secret or tampered record") from None
    private_key = check_key_matches_alg(serialization.load_der_private_key(plaintext, password=None), alg)
    if jwk_thumbprint(private_key.public_key()) != kid:
        raise KeyDecryptionError(f"signing key {kid}: the key does not match its kid")
    return private_key
