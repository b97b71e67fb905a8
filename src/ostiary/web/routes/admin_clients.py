"""Admin API for OAuth clients (guarded by `clients:manage`): RFC 7591 metadata, managed by an admin.

Every write goes through `ClientRegistry`, which checks the metadata (SEC-25: redirect URIs, grant
types, secrets) and answers 400 naming each bad field. A client secret appears in exactly two kinds of
answer — the one that created it and the one that rotated it (or a PATCH that made a public client
confidential) — with `Cache-Control: no-store`; GET never shows it, nor its digest. Every write is
audited with its actor (SEC-72), without the secret.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ostiary.compose.clients import build_client_registry
from ostiary.core.errors import ValidationFailed
from ostiary.oauth2.client_registry import ClientRegistry, ClientSpec, spec_of
from ostiary.storage.interfaces.oauth_clients import Client
from ostiary.web.authorization import Authorized, require
from ostiary.web.deps import services_of
from ostiary.web.routes.admin_common import audit_admin

router = APIRouter(prefix="/admin/clients", tags=["admin: clients"])
MANAGE = "clients:manage"
CAN_MANAGE = Depends(require(MANAGE))
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientFields(Strict):
    name: str | None = Field(default=None, description="shown on the consent page; default: the client_id")
    redirect_uris: list[str] = Field(default_factory=list, description="matched exactly (SEC-24)")
    grant_types: list[str] = Field(default_factory=lambda: ["authorization_code"])
    scopes: list[str] = Field(default_factory=list, description="the scopes this client may ever get")
    token_endpoint_auth_method: str = Field(
        default="client_secret_basic", description="client_secret_basic | client_secret_post | none (public)"
    )
    access_token_format: str = Field(default="jwt", description="jwt | opaque")
    first_party: bool = Field(default=False, description="true: no consent page")
    post_logout_redirect_uris: list[str] = Field(default_factory=list)
    application_type: str = Field(default="web", description="web | native (RFC 8252)")
    id_token_signed_response_alg: str = Field(default="RS256", description="RS256 | ES256 | EdDSA")
    lifetimes: dict[str, StrictInt] = Field(default_factory=dict, description="seconds, per token kind")


class ClientIn(ClientFields):
    client_id: str = Field(description="1 to 100 characters of A-Z a-z 0-9 . _ -")


class ClientPatch(Strict):
    """Fields to change; the others stay. `lifetimes` is merged into the stored ones."""

    name: str | None = None
    redirect_uris: list[str] | None = None
    grant_types: list[str] | None = None
    scopes: list[str] | None = None
    token_endpoint_auth_method: str | None = None
    access_token_format: str | None = None
    first_party: bool | None = None
    post_logout_redirect_uris: list[str] | None = None
    application_type: str | None = None
    id_token_signed_response_alg: str | None = None
    lifetimes: dict[str, StrictInt] | None = None


class ClientOut(BaseModel):
    client_id: str
    name: str
    confidential: bool
    token_endpoint_auth_method: str
    redirect_uris: list[str]
    grant_types: list[str]
    response_types: list[str]
    scopes: list[str]
    access_token_format: str
    first_party: bool
    post_logout_redirect_uris: list[str]
    application_type: str
    id_token_signed_response_alg: str
    lifetimes: dict[str, int]
    disabled: bool
    created_at: float


class ClientWithSecret(ClientOut):
    client_secret: str | None = Field(description="shown once, only when a secret was just generated")


class SecretOut(BaseModel):
    client_id: str
    client_secret: str = Field(description="shown once; the previous secret no longer works")


def registry_of(request: Request) -> ClientRegistry:
    """One registry per app (its lock serialises read-modify-write updates within the process)."""
    registry = getattr(request.app.state, "client_registry", None)
    if not isinstance(registry, ClientRegistry):
        registry = build_client_registry(services_of(request))
        request.app.state.client_registry = registry
    return registry


def client_json(client: Client) -> dict[str, Any]:
    """A client as the admin API shows it: everything but the secret digest."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "confidential": client.is_confidential,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": list(client.response_types),
        "scopes": list(client.scopes),
        "access_token_format": client.access_token_format,
        "first_party": client.first_party,
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "application_type": client.application_type,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "lifetimes": asdict(client.lifetimes),
        "disabled": client.disabled,
        "created_at": client.created_at,
    }


def _spec(body: ClientIn) -> ClientSpec:
    return ClientSpec(**body.model_dump())


@router.get("", response_model=list[ClientOut])
async def list_clients(request: Request, _: Authorized = CAN_MANAGE) -> list[dict[str, Any]]:
    return [client_json(c) for c in await registry_of(request).list()]


@router.post("", response_model=ClientWithSecret, status_code=201)
async def create_client(
    body: ClientIn, request: Request, response: Response, authz: Authorized = CAN_MANAGE
) -> dict[str, Any]:
    client, secret = await registry_of(request).create(_spec(body))
    response.headers.update(NO_STORE)
    await audit_admin(
        request,
        authz,
        "admin.client_create",
        client.client_id,
        confidential=client.is_confidential,
        grant_types=list(client.grant_types),
    )
    return {**client_json(client), "client_secret": secret}


@router.get("/{client_id}", response_model=ClientOut)
async def get_client(client_id: str, request: Request, _: Authorized = CAN_MANAGE) -> dict[str, Any]:
    return client_json(await registry_of(request).get(client_id))


@router.patch("/{client_id}", response_model=ClientWithSecret)
async def update_client(
    client_id: str, body: ClientPatch, request: Request, response: Response, authz: Authorized = CAN_MANAGE
) -> dict[str, Any]:
    registry = registry_of(request)
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key != "name":
            raise ValidationFailed(f"{key}: may not be null", field=key)
    current = spec_of(await registry.get(client_id))
    if "lifetimes" in changes:
        changes["lifetimes"] = {**current.lifetimes, **changes["lifetimes"]}
    client, secret = await registry.update(replace(current, **changes))
    response.headers.update(NO_STORE)
    await audit_admin(request, authz, "admin.client_update", client_id, fields=sorted(changes))
    return {**client_json(client), "client_secret": secret}


@router.post("/{client_id}/rotate-secret", response_model=SecretOut)
async def rotate_secret(
    client_id: str, request: Request, response: Response, authz: Authorized = CAN_MANAGE
) -> dict[str, str]:
    _, secret = await registry_of(request).rotate_secret(client_id)
    response.headers.update(NO_STORE)
    await audit_admin(request, authz, "admin.client_rotate_secret", client_id)
    return {"client_id": client_id, "client_secret": secret}


@router.post("/{client_id}/disable", response_model=ClientOut)
async def disable_client(client_id: str, request: Request, authz: Authorized = CAN_MANAGE) -> dict[str, Any]:
    client = await registry_of(request).disable(client_id)
    await audit_admin(request, authz, "admin.client_disable", client_id)
    return client_json(client)


@router.post("/{client_id}/enable", response_model=ClientOut)
async def enable_client(client_id: str, request: Request, authz: Authorized = CAN_MANAGE) -> dict[str, Any]:
    client = await registry_of(request).enable(client_id)
    await audit_admin(request, authz, "admin.client_enable", client_id)
    return client_json(client)
