"""The device authorization grant (RFC 8628) from the client side, over httpx: discovery, the code
pair, and polling for the token.

`discover` reads the issuer's metadata (OIDC Discovery / RFC 8414); `start_device_authorization`
asks its `device_authorization_endpoint` for a code pair (§3.1–3.2); `poll_for_token` polls the
token endpoint (§3.4–3.5) every `interval` seconds, 5 s slower after each `slow_down`, until the
token comes, the user denies, the code expires, or MAX_WAIT has passed. Responses are read up to
MAX_BODY bytes, and only plain http(s) URLs without control characters are ever shown or opened.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ostiary.cli.credentials import LoginError
from ostiary.core.clock import Clock, SystemClock
from ostiary.sdk._http import check_url
from ostiary.sdk.discovery import ProviderMetadata, discovery_urls, parse_metadata
from ostiary.sdk.errors import DiscoveryError

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MAX_WAIT = 15 * 60  # seconds; the server's expires_in bounds it further
MAX_INTERVAL = 60
MAX_BODY = 64 * 1024
_SHOWN = re.compile(r"[\x21-\x7e]{1,256}")  # what we print from the server: no control characters


def _json_of(response: httpx.Response, what: str) -> Any:
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_BODY:
            raise LoginError(f"the {what} response is too large")
    try:
        return json.loads(body)
    except ValueError:
        raise LoginError(f"the {what} response (HTTP {response.status_code}) is not JSON") from None


def discover(http: httpx.Client, issuer: str) -> ProviderMetadata:
    failures: list[str] = []
    for url in discovery_urls(issuer):
        try:
            with http.stream("GET", url, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    failures.append(f"HTTP {response.status_code} at {url}")
                    continue
                document = _json_of(response, "metadata")
        except httpx.HTTPError as exc:
            raise LoginError(f"cannot reach {issuer}: {exc or type(exc).__name__}") from None
        try:
            return parse_metadata(issuer, document if isinstance(document, dict) else b"[]")
        except DiscoveryError as exc:
            raise LoginError(f"bad metadata at {url}: {exc}") from None
    raise LoginError(f"{issuer} publishes no OAuth metadata ({'; '.join(failures)})")


def post_form(http: httpx.Client, url: str, form: dict[str, str], what: str) -> tuple[int, Any]:
    with http.stream("POST", url, data=form, headers={"Accept": "application/json"}) as response:
        return response.status_code, _json_of(response, what)


@dataclass(frozen=True)
class DeviceAuthorization:
    """RFC 8628 §3.2: the device authorization response."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int

    @classmethod
    def from_json(cls, body: Any) -> DeviceAuthorization:
        if not isinstance(body, dict):
            raise LoginError("the device authorization response is not a JSON object")
        try:
            code, user_code, uri = body["device_code"], body["user_code"], body["verification_uri"]
            if not (
                isinstance(code, str) and code and isinstance(user_code, str) and _SHOWN.fullmatch(user_code)
            ):
                raise ValueError
            complete = body.get("verification_uri_complete")
            expires_in, interval = body["expires_in"], body.get("interval", 5)
            if not isinstance(expires_in, int) or not isinstance(interval, int) or expires_in <= 0:
                raise ValueError
            return cls(
                code,
                user_code,
                _browsable(uri),
                _browsable(complete) if complete else None,
                expires_in,
                min(max(interval, 1), MAX_INTERVAL),
            )
        except (KeyError, ValueError):
            raise LoginError("the device authorization response is incomplete or malformed") from None


def _browsable(uri: object) -> str:
    """Only plain http(s) URLs are shown or opened: never `file:`, `javascript:`, or escape codes."""
    if not isinstance(uri, str) or not _SHOWN.fullmatch(uri):
        raise ValueError
    check_url(uri, what="verification URI", allow_insecure_http=True)
    return uri


def start_device_authorization(
    http: httpx.Client, metadata: ProviderMetadata, client_id: str, scope: str | None
) -> DeviceAuthorization:
    endpoint = metadata.device_authorization_endpoint
    if endpoint is None:
        raise LoginError(
            f"{metadata.issuer} does not offer the device flow (no device_authorization_endpoint)"
        )
    form = {"client_id": client_id, **({"scope": scope} if scope else {})}
    status, body = post_form(http, endpoint, form, "device authorization")
    if status != 200:
        error = body.get("error") if isinstance(body, dict) else None
        raise LoginError(f"the server refused the device authorization request ({error or f'HTTP {status}'})")
    return DeviceAuthorization.from_json(body)


def poll_for_token(
    http: httpx.Client,
    token_endpoint: str,
    client_id: str,
    device: DeviceAuthorization,
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_wait: float = MAX_WAIT,
) -> dict[str, Any]:
    """RFC 8628 §3.4–3.5: poll until a token response, or raise `LoginError`."""
    clock = clock or SystemClock()
    deadline = clock.now() + min(device.expires_in, max_wait)
    interval = device.interval
    form = {"grant_type": DEVICE_CODE_GRANT, "device_code": device.device_code, "client_id": client_id}
    while True:
        sleep(interval)
        if clock.now() >= deadline:
            raise LoginError("the code expired before it was approved; run `ostiary login` again")
        try:
            status, body = post_form(http, token_endpoint, form, "token")
        except (httpx.HTTPError, LoginError):
            interval = min(interval * 2, MAX_INTERVAL)  # §3.5: back off on a failing connection
            continue
        if status == 200:
            if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
                raise LoginError("the token response has no access_token")
            if str(body.get("token_type", "")).lower() != "bearer":
                raise LoginError("the token response is not a Bearer token")
            return body
        error = body.get("error") if isinstance(body, dict) else None
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval = min(interval + 5, MAX_INTERVAL)
        elif error == "access_denied":
            raise LoginError("the request was denied")
        elif error == "expired_token":
            raise LoginError("the code expired before it was approved; run `ostiary login` again")
        elif status >= 500:
            interval = min(interval * 2, MAX_INTERVAL)
        else:
            raise LoginError(f"the server refused the login ({error or f'HTTP {status}'})")


def can_open_browser() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
