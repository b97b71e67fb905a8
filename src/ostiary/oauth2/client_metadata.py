"""RFC 7591 §2 client metadata, checked at registration (SEC-25) before a client is stored.

The admin API, the CLI and the realm file all describe a client as a `ClientSpec` and all go through
`check_spec`, so one set of rules holds whichever door a client comes in by. Every problem names the
field it concerns (`redirect_uris[0]`, `lifetimes.access_token`) and all are reported at once, so a
realm file or an admin form is fixed in one pass (RFC 7591 §3.2.2 error codes).

A supplied secret (realm files only; everywhere else the server generates one) must carry the same
256 bits as a generated one (ClientSecretHasher): 43+ base64url characters, or 64+ hex digits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields

from ostiary.core.errors import ValidationFailed
from ostiary.oauth2.errors import InvalidRedirectUri, InvalidScope
from ostiary.oauth2.redirect_uris import validate_redirect_uri
from ostiary.oauth2.scopes import MAX_SCOPES, parse_scope
from ostiary.storage.interfaces.oauth_clients import ApplicationType, Client, ClientLifetimes

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", "password", DEVICE_CODE_GRANT)
# A public client has no secret, so it cannot prove it is itself without a user (RFC 9700 §2.4).
CONFIDENTIAL_ONLY_GRANTS = frozenset({"client_credentials", "password"})
# Grants that can issue a refresh token; client_credentials never does (RFC 6749 §4.4.3, SEC-32).
REFRESH_ISSUING_GRANTS = frozenset({"authorization_code", "password", DEVICE_CODE_GRANT})
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
ACCESS_TOKEN_FORMATS = ("jwt", "opaque")
APPLICATION_TYPES = ("web", "native")
ID_TOKEN_ALGS = ("RS256", "ES256", "EdDSA")
LIFETIME_FIELDS = tuple(f.name for f in fields(ClientLifetimes))

CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")
MAX_NAME = 200
MAX_URIS = 50
MIN_SECRET_CHARS = 43  # 43 base64url characters × 6 bits ≥ 256 bits
MIN_HEX_SECRET_CHARS = 64  # 64 hex digits × 4 bits = 256 bits
MAX_SECRET_CHARS = 512
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_HEX = re.compile(r"[0-9a-fA-F]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Problem = tuple[str, str]  # (field path, message)


@dataclass(frozen=True)
class ClientSpec:
    """What a caller asks to register, unchecked. `token_endpoint_auth_method="none"` ⇔ public."""

    client_id: str
    name: str | None = None  # defaults to the client_id
    redirect_uris: Sequence[str] = ()
    grant_types: Sequence[str] = ("authorization_code",)
    scopes: Sequence[str] = ()
    token_endpoint_auth_method: str = "client_secret_basic"
    access_token_format: str = "jwt"
    first_party: bool = False
    post_logout_redirect_uris: Sequence[str] = ()
    application_type: str = "web"
    id_token_signed_response_alg: str = "RS256"
    lifetimes: Mapping[str, int] = field(default_factory=dict)  # overrides of ClientLifetimes' defaults
    disabled: bool = False
    client_secret: str | None = field(default=None, repr=False)  # realm files only

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"


def spec_of(client: Client) -> ClientSpec:
    """The spec that describes a stored client: replace fields of it, then `ClientRegistry.update`."""
    return ClientSpec(
        client_id=client.client_id,
        name=client.name,
        redirect_uris=client.redirect_uris,
        grant_types=client.grant_types,
        scopes=client.scopes,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        access_token_format=client.access_token_format,
        first_party=client.first_party,
        post_logout_redirect_uris=client.post_logout_redirect_uris,
        application_type=client.application_type,
        id_token_signed_response_alg=client.id_token_signed_response_alg,
        lifetimes=asdict(client.lifetimes),
        disabled=client.disabled,
    )


class InvalidClientMetadata(ValidationFailed):
    """400 naming every bad field; `invalid_redirect_uri` when the first problem is a redirect URI."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0][0]
        code = "invalid_redirect_uri" if first.startswith("redirect_uris") else "invalid_client_metadata"
        text = "; ".join(f"{path}: {message}" for path, message in self.problems)
        super().__init__(text, field=first, code=code)


def secret_problem(secret: str) -> str | None:
    """Why a supplied client secret is too weak, or None when it carries 256 bits."""
    if len(secret) > MAX_SECRET_CHARS:
        return f"at most {MAX_SECRET_CHARS} characters"
    if not _BASE64URL.fullmatch(secret):
        return "use base64url characters only (A-Z a-z 0-9 - _), e.g. from secrets.token_urlsafe(32)"
    hex_only = _HEX.fullmatch(secret) is not None
    minimum = MIN_HEX_SECRET_CHARS if hex_only else MIN_SECRET_CHARS
    if len(secret) < minimum:
        kind = "hex digits" if hex_only else "base64url characters"
        return f"must carry 256 bits: at least {minimum} {kind} (got {len(secret)})"
    # A random secret of that length uses far more distinct characters; a pattern does not.
    if len(set(secret)) < (10 if hex_only else 16):
        return "looks like a pattern, not a random secret: generate one with secrets.token_urlsafe(32)"
    return None


def _check_list(name: str, items: Sequence[str], limit: int) -> list[Problem]:
    if isinstance(items, str):
        return [(name, "must be a list")]
    problems: list[Problem] = []
    if len(items) > limit:
        problems.append((name, f"at most {limit} entries"))
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item in seen:
            problems.append((f"{name}[{i}]", f"{item!r} is listed twice"))
        seen.add(item)
    return problems


def _check_uris(name: str, uris: Sequence[str], application_type: ApplicationType) -> list[Problem]:
    problems = _check_list(name, uris, MAX_URIS)
    for i, uri in enumerate(uris):
        try:
            validate_redirect_uri(uri, application_type)
        except InvalidRedirectUri as exc:
            problems.append((f"{name}[{i}]", exc.message))
    return problems


def _check_grants(spec: ClientSpec) -> list[Problem]:
    grants = spec.grant_types
    if not grants:
        return [("grant_types", f"give at least one of {', '.join(GRANT_TYPES)}")]
    problems = _check_list("grant_types", grants, len(GRANT_TYPES))
    for i, grant in enumerate(grants):
        if grant not in GRANT_TYPES:
            problems.append((f"grant_types[{i}]", f"unknown grant type {grant!r}"))
        elif grant in CONFIDENTIAL_ONLY_GRANTS and spec.is_public:
            problems.append((f"grant_types[{i}]", f"a public client cannot use {grant} (it has no secret)"))
        elif grant == "refresh_token" and not REFRESH_ISSUING_GRANTS & set(grants):
            problems.append(
                (f"grant_types[{i}]", "refresh_token needs authorization_code, device_code or password")
            )
    if "authorization_code" in grants and not spec.redirect_uris:
        problems.append(("redirect_uris", "authorization_code needs at least one redirect URI"))
    return problems


def _check_scopes(scopes: Sequence[str]) -> list[Problem]:
    problems = _check_list("scopes", scopes, MAX_SCOPES)
    for i, scope in enumerate(scopes):
        try:
            valid = parse_scope(scope) == (scope,)
        except InvalidScope:
            valid = False
        if not valid:
            problems.append((f"scopes[{i}]", f"{scope!r} is not a scope token (RFC 6749 §3.3)"))
    return problems


def _check_lifetimes(lifetimes: Mapping[str, int]) -> list[Problem]:
    problems: list[Problem] = []
    for key, value in lifetimes.items():
        path = f"lifetimes.{key}"
        if key not in LIFETIME_FIELDS:
            problems.append((path, f"unknown lifetime; use {', '.join(LIFETIME_FIELDS)}"))
        elif not isinstance(value, int) or isinstance(value, bool):
            problems.append((path, "must be a whole number of seconds"))
        else:
            try:  # one field at a time, so the message belongs to this key
                ClientLifetimes(**{key: value})
            except ValueError as exc:
                problems.append((path, str(exc)))
    return problems


def _check_choice(name: str, value: str, choices: Sequence[str]) -> list[Problem]:
    return [] if value in choices else [(name, f"{value!r} is not one of {', '.join(choices)}")]


def check_spec(spec: ClientSpec) -> list[Problem]:
    """Every problem of `spec`, in field order; empty when it may be stored."""
    problems: list[Problem] = []
    if not isinstance(spec.client_id, str) or not CLIENT_ID.fullmatch(spec.client_id):
        problems.append(("client_id", "1 to 100 characters of A-Z a-z 0-9 . _ -"))
    if spec.name is not None and not (0 < len(spec.name) <= MAX_NAME and not _CONTROL.search(spec.name)):
        problems.append(("name", f"1 to {MAX_NAME} characters, no control characters"))
    problems += _check_choice("token_endpoint_auth_method", spec.token_endpoint_auth_method, AUTH_METHODS)
    problems += _check_choice("application_type", spec.application_type, APPLICATION_TYPES)
    problems += _check_grants(spec)
    if spec.application_type in APPLICATION_TYPES:
        app_type: ApplicationType = "native" if spec.application_type == "native" else "web"
        problems += _check_uris("redirect_uris", spec.redirect_uris, app_type)
        problems += _check_uris("post_logout_redirect_uris", spec.post_logout_redirect_uris, app_type)
    problems += _check_scopes(spec.scopes)
    problems += _check_choice("access_token_format", spec.access_token_format, ACCESS_TOKEN_FORMATS)
    problems += _check_choice(
        "id_token_signed_response_alg", spec.id_token_signed_response_alg, ID_TOKEN_ALGS
    )
    problems += _check_lifetimes(spec.lifetimes)
    if spec.client_secret is not None:
        if spec.is_public:
            problems.append(("client_secret", "a public client (token_endpoint_auth_method none) has none"))
        elif (weak := secret_problem(spec.client_secret)) is not None:
            problems.append(("client_secret", weak))
    return problems


def build_client(spec: ClientSpec, *, secret_digest: str | None, created_at: float) -> Client:
    """The `Client` to store for a spec that `check_spec` passed."""
    return Client(
        client_id=spec.client_id,
        name=spec.name or spec.client_id,
        secret_digest=None if spec.is_public else secret_digest,
        redirect_uris=tuple(spec.redirect_uris),
        grant_types=tuple(spec.grant_types),
        response_types=("code",) if "authorization_code" in spec.grant_types else (),
        scopes=tuple(spec.scopes),
        token_endpoint_auth_method=spec.token_endpoint_auth_method,  # type: ignore[arg-type]
        access_token_format=spec.access_token_format,  # type: ignore[arg-type]
        first_party=bool(spec.first_party),
        post_logout_redirect_uris=tuple(spec.post_logout_redirect_uris),
        application_type=spec.application_type,  # type: ignore[arg-type]
        id_token_signed_response_alg=spec.id_token_signed_response_alg,  # type: ignore[arg-type]
        lifetimes=ClientLifetimes(**spec.lifetimes),
        disabled=bool(spec.disabled),
        created_at=created_at,
    )
