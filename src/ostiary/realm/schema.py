"""The realm file's shape (YAML or JSON), validated strictly: unknown keys are errors with their path."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PermissionEntry(Strict):
    name: Name
    description: str = ""


class RoleEntry(Strict):
    name: Name
    description: str = ""
    permissions: list[Name] = Field(default_factory=list)
    includes: list[Name] = Field(default_factory=list)


class GroupEntry(Strict):
    name: Name
    description: str = ""
    roles: list[Name] = Field(default_factory=list)
    parent: Name | None = None


class UserEntry(Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=150)]
    email: Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    password: str | None = Field(default=None, repr=False)
    password_hash: str | None = Field(default=None, repr=False)
    roles: list[Name] = Field(default_factory=list)
    groups: list[Name] = Field(default_factory=list)
    disabled: bool = False

    @model_validator(mode="after")
    def _one_password(self) -> UserEntry:
        if self.password is not None and self.password_hash is not None:
            raise ValueError("give either password or password_hash, not both")
        return self


class ClientEntry(Strict):
    """An OAuth client (RFC 7591 §2 names). Field rules are ClientRegistry's (oauth2/client_metadata.py)."""

    client_id: str
    client_secret: str | None = Field(default=None, repr=False)  # omitted: public, or keep the stored one
    name: str | None = None
    redirect_uris: list[str] = Field(default_factory=list)
    grant_types: list[str] = Field(default_factory=lambda: ["authorization_code"])
    scopes: list[str] = Field(default_factory=list)
    # None: client_secret_basic with a secret, else public ("none") — unless stored as confidential.
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post", "none"] | None = None
    access_token_format: Literal["jwt", "opaque"] = "jwt"
    first_party: bool = False
    post_logout_redirect_uris: list[str] = Field(default_factory=list)
    application_type: Literal["web", "native"] = "web"
    lifetimes: dict[str, StrictInt] = Field(default_factory=dict)
    id_token_signed_response_alg: Literal["RS256", "ES256", "EdDSA"] = "RS256"
    disabled: bool = False


class RealmFile(Strict):
    permissions: list[PermissionEntry | Name] = Field(default_factory=list)
    roles: list[RoleEntry] = Field(default_factory=list)
    groups: list[GroupEntry] = Field(default_factory=list)
    users: list[UserEntry] = Field(default_factory=list)
    # Checked by the policy engine's own parsers (ostiary.policy.rules / .acl), path-named errors.
    policies: list[Any] = Field(default_factory=list)
    acl: dict[str, Any] | None = None
    clients: list[ClientEntry] = Field(default_factory=list)

    def permission_entries(self) -> list[PermissionEntry]:
        return [p if isinstance(p, PermissionEntry) else PermissionEntry(name=p) for p in self.permissions]
