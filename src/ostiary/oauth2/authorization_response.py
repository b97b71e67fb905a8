"""RFC 6749 §4.1.2 / RFC 9207 §2 / OAuth 2.0 Form Post Response Mode: delivering the result.

Every authorization response, success or error, carries `iss` (RFC 9207, SEC-38) so a client
talking to several servers can tell which one answered (mix-up defence, RFC 9700 §4.4). `query`
gives a URL for a 303 redirect (SEC-39: never 307, which would replay a POSTed password); `form_post`
gives an auto-submitting HTML form whose every value is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode

ResponseMode = Literal["query", "form_post"]
RESPONSE_MODES_SUPPORTED: tuple[ResponseMode, ...] = ("query", "form_post")
REDIRECT_STATUS = 303

_HTML_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


@dataclass(frozen=True)
class AuthorizationResponse:
    """`location` (303) for `query`; `body` (200, HTML) for `form_post`."""

    response_mode: ResponseMode
    status: int
    location: str | None = None
    body: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def build_authorization_response(
    redirect_uri: str,
    params: Mapping[str, str | None],
    response_mode: ResponseMode,
    issuer: str,
    *,
    script_nonce: str | None = None,
) -> AuthorizationResponse:
    """`redirect_uri` must be the validated one. None values are left out; `iss` is always added.

    `script_nonce` is the CSP nonce of the page, if the web layer sets a nonce-based CSP.
    """
    values = {k: v for k, v in params.items() if v is not None and k != "iss"}
    values["iss"] = issuer
    if response_mode == "query":
        # §3.1.2: a registered query component is kept; ours is appended after it.
        separator = "&" if "?" in redirect_uri else "?"
        location = f"{redirect_uri}{separator}{urlencode(values)}"
        headers = {"Location": location, "Cache-Control": "no-store", "Pragma": "no-cache"}
        return AuthorizationResponse("query", REDIRECT_STATUS, location=location, headers=headers)
    return AuthorizationResponse(
        "form_post", 200, body=_form_post_page(redirect_uri, values, script_nonce), headers=_HTML_HEADERS
    )


def _form_post_page(action: str, values: Mapping[str, str], script_nonce: str | None) -> str:
    inputs = "\n".join(
        f'    <input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in values.items()
    )
    nonce = f' nonce="{html.escape(script_nonce)}"' if script_nonce else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head><meta charset="utf-8"><title>Submit this form</title>'
        '<meta name="referrer" content="no-referrer"></head>\n<body>\n'
        f'  <form method="post" action="{html.escape(action)}">\n{inputs}\n'
        '    <noscript><button type="submit">Continue</button></noscript>\n  </form>\n'
        f"  <script{nonce}>document.forms[0].submit();</script>\n"
        "</body>\n</html>\n"
    )
