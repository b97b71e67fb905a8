"""RFC 6749 §3.1, §3.2: the framework-free request and its parameter rules (SEC-69).

Parameters are kept as `dict[str, list[str]]` so that a repeated parameter stays visible: §3.1 and
§3.2 say request parameters MUST NOT be included more than once, and validating one copy while a
client library uses another is the parameter-pollution bug of CVE-2026-9689. A parameter sent
without a value is treated as omitted (§3.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from ostiary.oauth2.errors import InvalidRequest

Params = Mapping[str, list[str]]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 100  # far above any real OAuth request; bounds the work a hostile body can cause
# Parameters a client may legitimately repeat (RFC 8707 §2: `resource`).
MULTI_VALUED = frozenset({"resource"})


@dataclass(frozen=True)
class OAuthRequest:
    """What the protocol core needs of an HTTP request; the web layer builds it."""

    method: str
    form: Params = field(default_factory=dict)
    query: Params = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    client_ip: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def parse_params(raw: str | bytes) -> dict[str, list[str]]:
    """Parse a query string or form body into name → every value, in order."""
    text = raw.decode("utf-8", errors="strict") if isinstance(raw, bytes) else raw
    params: dict[str, list[str]] = {}
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise InvalidRequest("Too many parameters.") from exc
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return params


def single(params: Params, name: str, *, required: bool = False) -> str | None:
    """The one value of `name`, or None when absent or empty; a repeated parameter is refused."""
    values = [v for v in params.get(name, ()) if v != ""]
    if len(params.get(name, ())) > 1:
        raise InvalidRequest(f"The {name} parameter is repeated.")
    if not values:
        if required:
            raise InvalidRequest(f"The {name} parameter is missing.")
        return None
    return values[0]


def required(params: Params, name: str) -> str:
    """The one value of `name`; absent, empty or repeated → `invalid_request`."""
    value = single(params, name)
    if value is None:
        raise InvalidRequest(f"The {name} parameter is missing.")
    return value


def reject_repeated(params: Params) -> None:
    """§3.2: no request parameter may be repeated (except the RFC 8707 multi-valued ones)."""
    for name, values in params.items():
        if len(values) > 1 and name not in MULTI_VALUED:
            raise InvalidRequest(f"The {name} parameter is repeated.")


def reject_overlap(first: Params, second: Params) -> None:
    """A parameter in both the query and the body is ambiguous: refuse it rather than pick one."""
    both = sorted(set(first) & set(second))
    if both:
        raise InvalidRequest(f"The {both[0]} parameter is sent in both the query and the body.")


def parse_media_type(content_type: str) -> str:
    """A Content-Type value without parameters, lower-cased ("" for "")."""
    return content_type.split(";", 1)[0].strip().lower()


def media_type(request: OAuthRequest) -> str:
    return parse_media_type(request.header("content-type") or "")


def token_request_params(request: OAuthRequest) -> Params:
    """§3.2: POST, `application/x-www-form-urlencoded`, no parameter repeated or also in the query."""
    if request.method.upper() != "POST":
        raise InvalidRequest("The token endpoint accepts only POST.")
    if media_type(request) != FORM_CONTENT_TYPE:
        raise InvalidRequest(f"The request body must be {FORM_CONTENT_TYPE}.")
    reject_overlap(request.query, request.form)
    reject_repeated(request.form)
    return request.form


def authorization_request_params(request: OAuthRequest) -> Params:
    """§3.1: GET uses the query; POST (OIDC Core §3.1.2.1) the form, with no overlap with the query."""
    if request.method.upper() == "GET":
        return request.query
    if request.method.upper() != "POST":
        raise InvalidRequest("The authorization endpoint accepts GET and POST.")
    if media_type(request) != FORM_CONTENT_TYPE:
        raise InvalidRequest(f"The request body must be {FORM_CONTENT_TYPE}.")
    reject_overlap(request.query, request.form)
    return request.form
