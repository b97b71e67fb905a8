"""RFC 9700 §4.1.3 and RFC 8252 §7.3: redirect URIs — checked strictly at registration, matched exactly.

Matching is a plain string comparison with a registered URI (RFC 9700 §2.1): no normalisation, no
prefixes, no patterns, so there is no parser for an attacker to confuse (SEC-24: `..;/`, several `@`,
`startsWith` without a host boundary, regexes without escaping). The one exception is RFC 8252 §7.3:
a native client registered with a loopback IP literal (`http://127.0.0.1/cb`, `http://[::1]/cb`) may
use any port, because the port is picked by the OS at run time. `localhost` never gets that rule and
is never interchangeable with an IP literal (RFC 8252 §8.3).

Registration (SEC-25) refuses what no exact match can make safe: script-bearing schemes, wildcards,
fragments, userinfo, dot segments, backslashes, and plain `http` outside loopback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from ostiary.oauth2.errors import InvalidRedirectUri
from ostiary.storage.interfaces.oauth_clients import ApplicationType

FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about", "filesystem"})
LOOPBACK_IP_HOSTS = frozenset({"127.0.0.1", "[::1]"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# Loopback redirect with its port cut out: group 1 = scheme + host, group 2 = everything after it.
_LOOPBACK = re.compile(r"^(http://(?:127\.0\.0\.1|\[::1\]))(?::[0-9]{1,5})?(/[^#]*)?$")
_MAX_LENGTH = 2000


def validate_redirect_uri(uri: str, application_type: ApplicationType) -> None:
    """Raise `InvalidRedirectUri` unless `uri` may be registered for this kind of client."""
    if not uri or len(uri) > _MAX_LENGTH:
        raise InvalidRedirectUri("A redirect URI must be 1 to 2000 characters.")
    if any(ord(ch) <= 0x20 or ord(ch) >= 0x7F for ch in uri):
        raise InvalidRedirectUri("A redirect URI must be printable ASCII without spaces.")
    match = _SCHEME.match(uri)
    if match is None:
        raise InvalidRedirectUri("A redirect URI must be absolute.")
    scheme = match.group(1).lower()
    if scheme in FORBIDDEN_SCHEMES:
        raise InvalidRedirectUri(f"The {scheme}: scheme is not allowed.")
    if "*" in uri:
        raise InvalidRedirectUri("Wildcards are not allowed in redirect URIs.")
    if "#" in uri:
        raise InvalidRedirectUri("A redirect URI must not have a fragment.")
    if "\\" in uri:
        raise InvalidRedirectUri("A redirect URI must not contain a backslash.")
    if match.group(1) != scheme:
        raise InvalidRedirectUri("Write the scheme in lower case (URIs are matched exactly).")
    parts = urlsplit(uri)
    if _has_dot_segment(parts.path):
        raise InvalidRedirectUri("A redirect URI must not contain . or .. path segments.")
    if scheme in ("http", "https"):
        _check_web_authority(uri, scheme, parts.netloc, application_type)
    elif application_type != "native" or "." not in scheme:
        # RFC 8252 §7.1: private-use schemes are for native apps, in reverse-DNS form.
        raise InvalidRedirectUri("Use https (or a reverse-DNS private-use scheme for a native app).")
    elif "@" in uri:
        raise InvalidRedirectUri("A redirect URI must not contain userinfo (@).")


def _check_web_authority(uri: str, scheme: str, netloc: str, application_type: ApplicationType) -> None:
    if "@" in netloc or "@" in uri:
        raise InvalidRedirectUri("A redirect URI must not contain userinfo (@).")
    parts = urlsplit(uri)
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise InvalidRedirectUri("The port is not valid.") from exc
    host = parts.hostname or ""
    if not host:
        raise InvalidRedirectUri("A redirect URI must name a host.")
    if netloc.lower() != netloc:
        raise InvalidRedirectUri("Write the host in lower case (URIs are matched exactly).")
    if scheme == "https":
        return
    bracketed = f"[{host}]" if ":" in host else host
    if bracketed in LOOPBACK_IP_HOSTS:
        return  # RFC 8252 §7.3; also fine for a web client in development
    if host == "localhost" and application_type == "native":
        return  # allowed, but only ever matched exactly (RFC 8252 §8.3)
    raise InvalidRedirectUri("Plain http is allowed only for loopback redirect URIs.")


def _has_dot_segment(path: str) -> bool:
    for segment in path.split("/"):
        decoded = unquote(segment).split(";", 1)[0]  # `..;/` is a dot segment to some servers
        if decoded in (".", ".."):
            return True
    return False


def validate_redirect_uris(uris: Iterable[str], application_type: ApplicationType) -> tuple[str, ...]:
    checked = tuple(uris)
    for uri in checked:
        validate_redirect_uri(uri, application_type)
    return checked


def redirect_uri_matches(requested: str, registered: str, application_type: ApplicationType) -> bool:
    """Exact string equality; for native clients also the RFC 8252 §7.3 any-port loopback rule."""
    if requested == registered:
        return True
    if application_type != "native":
        return False
    have = _LOOPBACK.match(requested)
    want = _LOOPBACK.match(registered)
    if have is None or want is None:
        return False
    return have.group(1) == want.group(1) and (have.group(2) or "") == (want.group(2) or "")


def find_redirect_uri(
    requested: str, registered: Iterable[str], application_type: ApplicationType
) -> str | None:
    """The requested URI if it matches one of `registered`, else None. Returns `requested` itself:
    with the loopback rule the port the client listens on is the one to redirect to."""
    for candidate in registered:
        if redirect_uri_matches(requested, candidate, application_type):
            return requested
    return None
