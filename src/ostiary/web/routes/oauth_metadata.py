"""RFC 8414 §3 and OpenID Connect Discovery 1.0 §4: the server metadata, from what is mounted.

One document at both well-known URLs. Every endpoint in it is found among the application's actual
routes, the grant types are the token endpoint's registered grants, and the ID-token algorithms are
those the key ring can sign with right now, so nothing is advertised that would then be refused
(SEC-42). The JWKS itself is served by web/routes/tokens.py.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from ostiary.oidc.discovery import ID_TOKEN_ALGS, ProviderFeatures, build_metadata
from ostiary.web.deps import services_of
from ostiary.web.policy_marks import endpoint_routes, policy
from ostiary.web.routes.oauth_authorize import AUTHORIZE_PATH, oauth_of
from ostiary.web.routes.oauth_token import TOKEN_PATH

log = logging.getLogger("ostiary.oauth2")
router = APIRouter(include_in_schema=False)

JWKS_PATH = "/.well-known/jwks.json"
# Where the optional endpoints live; each is advertised only if a route is mounted at its path.
USERINFO_PATH = "/userinfo"
INTROSPECTION_PATH = "/introspect"
REVOCATION_PATH = "/revoke"
END_SESSION_PATH = "/end_session"
DEVICE_AUTHORIZATION_PATH = "/device_authorization"
SCOPES: tuple[str, ...] = ("openid", "profile", "email", "offline_access")  # not the permissions
METADATA_HEADERS = {"Cache-Control": "public, max-age=300"}


def mounted_paths(request: Request) -> frozenset[str]:
    found: frozenset[str] | None = getattr(request.app.state, "mounted_paths", None)
    if found is None:  # routes do not change once the app is built
        found = frozenset(r.path for r in endpoint_routes(request.app.routes))
        request.app.state.mounted_paths = found
    return found


def provider_features(request: Request) -> ProviderFeatures:
    wiring = oauth_of(request)
    mounted = mounted_paths(request)

    def present(path: str) -> str | None:
        return path if path in mounted else None

    ring = services_of(request).tokens.keys.ring()
    signing = {k.alg for k in ring.keys if k.state == "active"}
    algs = tuple(alg for alg in ID_TOKEN_ALGS if alg in signing)
    scopes = SCOPES
    if "RS256" not in algs:
        # OIDC Core §15.1: no OpenID provider without RS256; say so rather than advertise it.
        log.error("no active RS256 signing key: OpenID Connect is not advertised")
        scopes = tuple(s for s in scopes if s != "openid")
    return ProviderFeatures(
        issuer=wiring.issuer,
        grant_types=wiring.token_endpoint.grant_types_supported,
        scopes=scopes,
        jwks_path=JWKS_PATH,
        token_path=TOKEN_PATH,
        authorization_path=present(AUTHORIZE_PATH),
        userinfo_path=present(USERINFO_PATH),
        introspection_path=present(INTROSPECTION_PATH),
        revocation_path=present(REVOCATION_PATH),
        end_session_path=present(END_SESSION_PATH),
        device_authorization_path=present(DEVICE_AUTHORIZATION_PATH),
        id_token_signing_algs=algs,
    )


@router.get("/.well-known/openid-configuration")
@policy("public")
async def openid_configuration(request: Request) -> Response:
    return JSONResponse(build_metadata(provider_features(request)), headers=METADATA_HEADERS)


@router.get("/.well-known/oauth-authorization-server")
@policy("public")
async def authorization_server_metadata(request: Request) -> Response:
    return JSONResponse(build_metadata(provider_features(request)), headers=METADATA_HEADERS)
