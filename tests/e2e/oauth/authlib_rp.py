"""A third-party web app signing its users in with ostiary: Authlib's Starlette client, unmodified.

Run as its own process (`python authlib_rp.py`, configured by RP_* variables) under uvicorn on a
loopback port. Authlib does the protocol: discovery from `server_metadata_url`, PKCE S256, `state`
and `nonce` kept in the (signed-cookie) session, the code exchange with client_secret_basic, and the
ID-token checks (signature against the JWKS, iss, aud, exp, nonce, at_hash). This app only adds what
a careful RP adds on top and what the tests need to see:

- RFC 9207 `iss` in the authorization response, compared with the discovered issuer (Authlib does not
  check it itself);
- `/callback` shows the verified ID-token claims and the UserInfo response as JSON in
  `<pre id="result">`, or the error with the `state` the server sent back and whether it is the one
  this app sent.
"""

from __future__ import annotations

import html
import json
import os
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import uvicorn
from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

ISSUER = os.environ["RP_ISSUER"]
PORT = int(os.environ["RP_PORT"])
REDIRECT_URI = f"http://127.0.0.1:{PORT}/callback"

oauth = OAuth()
oauth.register(
    "ostiary",
    client_id=os.environ["RP_CLIENT_ID"],
    client_secret=os.environ["RP_CLIENT_SECRET"],
    server_metadata_url=ISSUER + "/.well-known/openid-configuration",
    client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
)


def page(title: str, result: dict[str, Any], status: int = 200) -> HTMLResponse:
    body = html.escape(json.dumps(result, indent=2, sort_keys=True))
    return HTMLResponse(
        f"<!doctype html><title>{title}</title><h1>{title}</h1><pre id='result'>{body}</pre>", status
    )


async def home(request: Request) -> Response:
    return HTMLResponse("<!doctype html><title>Authlib RP</title><a href='/login'>Sign in with ostiary</a>")


async def login(request: Request) -> Response:
    extra = {"prompt": request.query_params["prompt"]} if "prompt" in request.query_params else {}
    redirect = await oauth.ostiary.authorize_redirect(request, REDIRECT_URI, **extra)
    # Kept to report, on an error response, whether the server returned our state unchanged.
    request.session["sent_state"] = parse_qs(urlsplit(redirect.headers["location"]).query)["state"][0]
    return redirect


async def callback(request: Request) -> Response:
    metadata = await oauth.ostiary.load_server_metadata()
    iss = request.query_params.get("iss")
    sent_state = request.session.get("sent_state")
    returned_state = request.query_params.get("state")
    seen = {
        "iss": iss,
        "state": returned_state,
        "state_matches": bool(sent_state) and secrets.compare_digest(sent_state, returned_state or ""),
    }
    if iss != metadata["issuer"]:  # RFC 9207 §2.4: a mix-up defence, before anything else
        return page("Wrong issuer", {**seen, "error": "iss_mismatch"}, 400)
    try:
        token = await oauth.ostiary.authorize_access_token(request)
    except OAuthError as exc:
        return page("Sign-in failed", {**seen, "error": exc.error, "description": exc.description}, 400)
    userinfo = await oauth.ostiary.userinfo(token=token)
    result = {
        **seen,
        "id_token_claims": dict(token["userinfo"]),  # validated by Authlib's parse_id_token
        "userinfo": dict(userinfo),
        "scope": token.get("scope"),
        "token_type": token.get("token_type"),
        "has_refresh_token": "refresh_token" in token,
    }
    return page("Signed in", result)


app = Starlette(
    routes=[Route("/", home), Route("/login", login), Route("/callback", callback)],
    middleware=[Middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32), same_site="lax")],
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
