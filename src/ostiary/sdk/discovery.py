"""OpenID Connect Discovery 1.0 §4 / RFC 8414 §3: reading an issuer's metadata.

`{issuer}/.well-known/openid-configuration` is tried first, then RFC 8414's
`/.well-known/oauth-authorization-server{path}`. The document's `issuer` must equal the issuer
asked for, character for character (OIDC Discovery §4.3, RFC 8414 §3.3): otherwise a server could
hand out another issuer's endpoints (mix-up). `parse_metadata` is pure, so a synchronous caller
(the `ostiary login` CLI) validates documents the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ostiary.sdk._http import DEFAULT_TIMEOUT, check_url, read_json
from ostiary.sdk.errors import DiscoveryError, VerificationUnavailable

_ENDPOINTS = (
    "jwks_uri",
    "token_endpoint",
    "introspection_endpoint",
    "revocation_endpoint",
    "device_authorization_endpoint",
    "userinfo_endpoint",
)


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    jwks_uri: str | None = None
    token_endpoint: str | None = None
    introspection_endpoint: str | None = None
    revocation_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def discovery_urls(issuer: str) -> list[str]:
    """Where the metadata of `issuer` may be, in the order to try."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    oidc = urlunsplit((parts.scheme, parts.netloc, f"{path}/.well-known/openid-configuration", "", ""))
    rfc8414 = urlunsplit(
        (parts.scheme, parts.netloc, f"/.well-known/oauth-authorization-server{path}", "", "")
    )
    return [oidc, rfc8414]


def parse_metadata(
    issuer: str, document: bytes | Mapping[str, Any], *, allow_insecure_http: bool = False
) -> ProviderMetadata:
    """Validate a metadata document for `issuer` (see the module docstring)."""
    if not isinstance(document, Mapping):
        try:
            document = json.loads(document)
        except (ValueError, UnicodeDecodeError):
            raise DiscoveryError("the metadata document is not JSON") from None
        if not isinstance(document, dict):
            raise DiscoveryError("the metadata document is not a JSON object")
    if document.get("issuer") != issuer:
        raise DiscoveryError(
            f"the metadata names issuer {document.get('issuer')!r}, not {issuer!r} (it must match exactly)"
        )
    endpoints: dict[str, str | None] = {}
    for name in _ENDPOINTS:
        value = document.get(name)
        if value is None:
            endpoints[name] = None
            continue
        if not isinstance(value, str):
            raise DiscoveryError(f"the metadata field {name} is not a URL")
        try:
            endpoints[name] = check_url(value, what=name, allow_insecure_http=allow_insecure_http)
        except ValueError as exc:
            raise DiscoveryError(str(exc)) from None
    return ProviderMetadata(issuer=issuer, raw=MappingProxyType(dict(document)), **endpoints)


async def from_discovery(
    issuer: str,
    *,
    http: httpx.AsyncClient | None = None,
    allow_insecure_http: bool = False,
) -> ProviderMetadata:
    """Fetch and validate the metadata of `issuer` (once, at startup: it is not cached here).

    Pass `http` to choose timeouts, proxies or TLS settings; by default a client with a 5 s timeout
    that follows no redirects is used and closed.
    """
    try:
        check_url(issuer, what="issuer", allow_insecure_http=allow_insecure_http)
    except ValueError as exc:
        raise DiscoveryError(str(exc)) from None
    client = http or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=False)
    failures: list[str] = []
    try:
        for url in discovery_urls(issuer):
            try:
                async with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                    if response.status_code != 200:
                        failures.append(f"{url}: HTTP {response.status_code}")
                        continue
                    document = await read_json(response, what="metadata document")
            except httpx.HTTPError as exc:
                raise DiscoveryError(f"cannot reach {issuer}: {type(exc).__name__}") from None
            except VerificationUnavailable as exc:
                raise DiscoveryError(f"{url}: {exc.reason}") from None
            if not isinstance(document, dict):
                raise DiscoveryError(f"{url}: the metadata document is not a JSON object")
            return parse_metadata(issuer, document, allow_insecure_http=allow_insecure_http)
    finally:
        if http is None:
            await client.aclose()
    raise DiscoveryError(f"no metadata document for {issuer} ({'; '.join(failures)})")
