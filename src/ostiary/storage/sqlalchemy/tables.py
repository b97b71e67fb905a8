"""The relational schema (SQLAlchemy Core). Alembic migrations are written against this."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(150), nullable=False),
    Column("username_key", String(150), nullable=False, unique=True),  # case-folded for lookups
    Column("email", String(320)),
    Column("email_key", String(320), unique=True),
    Column("email_verified", Boolean, nullable=False, default=False),
    Column("password_hash", String(512)),
    Column("password_changed_at", Float),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("mfa_enabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("tokens_not_before", Float),  # tokens issued earlier are refused (migration 0009)
)

permissions = Table(
    "permissions",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("description", Text, nullable=False, default=""),
)

roles = Table(
    "roles",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("description", Text, nullable=False, default=""),
)

role_permissions = Table(
    "role_permissions",
    metadata,
    Column("role", String(200), ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True),
    Column("permission", String(200), ForeignKey("permissions.name", ondelete="CASCADE"), primary_key=True),
)

role_includes = Table(
    "role_includes",
    metadata,
    Column("role", String(200), ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True),
    Column("included", String(200), ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True),
)

groups = Table(
    "groups",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("parent", String(200), ForeignKey("groups.name", ondelete="SET NULL")),
)

group_roles = Table(
    "group_roles",
    metadata,
    Column("group_name", String(200), ForeignKey("groups.name", ondelete="CASCADE"), primary_key=True),
    Column("role", String(200), ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(200), ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True),
)

user_groups = Table(
    "user_groups",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("group_name", String(200), ForeignKey("groups.name", ondelete="CASCADE"), primary_key=True),
)

# One row; bumped by every change that affects authorization, so caches know when to rebuild.
rbac_version = Table(
    "rbac_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    Column("idle_expires_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("auth_time", Float, nullable=False),
    Column("csrf_secret", String(128), nullable=False),
    Column("ip", String(64), nullable=False, default=""),
    Column("user_agent", String(256), nullable=False, default=""),
    Column("amr", String(200), nullable=False, default=""),
    Index("ix_sessions_user_id", "user_id"),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", Float, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("event", String(100), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("actor", String(200)),
    Column("subject", String(200)),
    Column("ip", String(64)),
    Column("user_agent", String(256)),
    Column("request_id", String(64)),
    Column("client_id", String(200)),
    Column("details", JSON, nullable=False),
    Index("ix_audit_events_event", "event"),
    Index("ix_audit_events_subject", "subject"),
)

# --- Stateless tokens (docs/tokens.md) -----------------------------------------------------------

# Signing keys: the private part only as AES-256-GCM ciphertext (tokens/key_material.py).
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("encrypted_private_key", LargeBinary, nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("state", String(10), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("activated_at", Float),
    Column("retired_at", Float),
)

# A refresh-token family: one login on one device, and every token rotated from it.
refresh_families = Table(
    "refresh_families",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("client_id", String(200), nullable=False),
    Column("device", String(256), nullable=False, default=""),
    Column("scope", Text, nullable=False, default=""),
    Column("auth_time", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),  # absolute: no rotation extends it
    Column("access_expires_at", Float, nullable=False),  # of the last access token issued
    Column("revoked_at", Float),
    Column("revoke_reason", String(40)),
    Index("ix_refresh_families_user_id", "user_id"),
    Index("ix_refresh_families_client_id", "client_id"),  # `revoke_client` (migration 0009)
)

# Refresh tokens by SHA-256 digest; `replay` is the AES-GCM sealed successor for the retry window.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("family_id", String(64), ForeignKey("refresh_families.id", ondelete="CASCADE"), nullable=False),
    Column("state", String(10), nullable=False),  # active | rotated | revoked
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),  # sliding (idle) expiry of this token
    Column("rotated_at", Float),
    Column("parent_digest", String(64)),
    Column("successor_digest", String(64)),
    Column("replay", LargeBinary),
    Index("ix_refresh_tokens_family_id", "family_id"),
)

# --- Policies: ABAC rules and ACL tuples (docs/authorization.md) -----------------------------------

# ABAC rules; `condition` is the `when` JSON, compiled by the policy engine when it is built.
policy_rules = Table(
    "policy_rules",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("position", Integer, nullable=False),  # declaration order
    Column("effect", String(10), nullable=False),
    Column("actions", JSON, nullable=False),
    Column("condition", JSON),
    Column("requires_permission", Boolean, nullable=False, default=False),
    Column("description", Text, nullable=False, default=""),
)

# ACL tuples (subject, relation, resource), e.g. ("user:42", "owner", "posts:7").
acl_tuples = Table(
    "acl_tuples",
    metadata,
    Column("subject", String(250), primary_key=True),
    Column("relation", String(100), primary_key=True),
    Column("resource", String(250), primary_key=True),
    Index("ix_acl_tuples_resource", "resource"),
)

# One row: the ACL schema (implied relations per resource type, action -> relation).
acl_config = Table(
    "acl_config",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("relations", JSON),
    Column("actions", JSON, nullable=False),
)

# --- OAuth 2.0 / OIDC (storage/interfaces/oauth_*.py) -----------------------------------------------

# Registered clients (RFC 7591 §2 metadata); the secret only as an HMAC digest. Tuples are JSON lists.
oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_digest", String(128)),
    Column("redirect_uris", JSON, nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("response_types", JSON, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("token_endpoint_auth_method", String(40), nullable=False),
    Column("access_token_format", String(10), nullable=False),
    Column("first_party", Boolean, nullable=False, default=False),
    Column("post_logout_redirect_uris", JSON, nullable=False),
    Column("application_type", String(10), nullable=False),
    Column("id_token_signed_response_alg", String(10), nullable=False),
    Column("lifetimes", JSON, nullable=False),  # ClientLifetimes as an object of seconds
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("tokens_not_before", Float),  # access tokens issued earlier are refused (migration 0009)
)

# Live authorization codes by SHA-256 digest (RFC 6749 §4.1.2); a row is deleted when redeemed.
oauth_codes = Table(
    "oauth_codes",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("client_id", String(200), nullable=False),
    Column("user_id", String(36), nullable=False),
    Column("grant_id", String(64), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("redirect_uri_provided", Boolean, nullable=False),
    Column("scope", JSON, nullable=False),
    Column("code_challenge", String(128)),
    Column("code_challenge_method", String(10)),
    Column("issued_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("auth_time", Float, nullable=False),
    Column("amr", JSON, nullable=False),
    Column("acr", String(200)),
    Column("nonce", Text),
    Column("sid", String(128)),
    Index("ix_oauth_codes_expires_at", "expires_at"),
)

# Codes already redeemed, remembered so a late replay still finds the grant to revoke (SEC-29).
oauth_redeemed_codes = Table(
    "oauth_redeemed_codes",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("grant_id", String(64), nullable=False),
    Column("forget_after", Float, nullable=False),
    Index("ix_oauth_redeemed_codes_forget_after", "forget_after"),
)

# Remembered consents (SEC-41): the sorted union of scopes a user approved for a client.
oauth_consents = Table(
    "oauth_consents",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("client_id", String(200), primary_key=True),
    Column("scopes", JSON, nullable=False),
    Column("granted_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Device authorizations (RFC 8628 §3.2–3.5) by the digests of both codes; deleted when redeemed.
oauth_device_codes = Table(
    "oauth_device_codes",
    metadata,
    Column("device_code_digest", String(64), primary_key=True),
    Column("user_code_digest", String(64), nullable=False, unique=True),
    Column("client_id", String(200), nullable=False),
    Column("scope", JSON, nullable=False),
    Column("grant_id", String(64), nullable=False),
    Column("issued_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("poll_interval", Integer, nullable=False),
    Column("status", String(10), nullable=False),  # pending | approved | denied
    Column("user_id", String(36)),
    Column("auth_time", Float),
    Column("amr", JSON, nullable=False),
    Column("last_polled_at", Float),
    Column("decided_at", Float),  # when the user approved or denied (migration 0010)
    Index("ix_oauth_device_codes_expires_at", "expires_at"),
)

# Revoked grants, remembered so tokens minted for them later are refused too (SEC-29).
oauth_revoked_grants = Table(
    "oauth_revoked_grants",
    metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("revoked_at", Float, nullable=False),
    Column("remember_until", Float, nullable=False),
    Index("ix_oauth_revoked_grants_remember_until", "remember_until"),
)

# Opaque access tokens by SHA-256 digest (RFC 7662); a revoked one keeps its row with `revoked_at`.
oauth_access_tokens = Table(
    "oauth_access_tokens",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("client_id", String(200), nullable=False),
    Column("subject", String(250), nullable=False),  # user id or `client:<client_id>`
    Column("scope", JSON, nullable=False),
    Column("grant_id", String(64), nullable=False),
    Column("issued_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("user_id", String(36)),
    Column("auth_time", Float),
    Column("sid", String(128)),
    Column("revoked_at", Float),
    Index("ix_oauth_access_tokens_grant_id", "grant_id"),
    Index("ix_oauth_access_tokens_expires_at", "expires_at"),
    Index("ix_oauth_access_tokens_client_id", "client_id"),  # `revoke_client` (migration 0009)
)

# --- MFA: TOTP, recovery codes, pending second steps (storage/interfaces/mfa.py, docs/mfa.md) -------

# One TOTP credential per user; the seed only as AES-256-GCM ciphertext (authn/totp.py, SEC-50).
mfa_totp = Table(
    "mfa_totp",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("encrypted_seed", LargeBinary, nullable=False),
    Column("active", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("activated_at", Float),
    Column("last_used_step", Integer, nullable=False, default=-1),  # SEC-47: each step once
)

# Recovery codes by HMAC-SHA256 digest; a used code's row is deleted.
mfa_recovery_codes = Table(
    "mfa_recovery_codes",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
)

# A login between its password and its second factor, by SHA-256 of the token (SEC-49).
mfa_challenges = Table(
    "mfa_challenges",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", String(20), nullable=False),
    Column("amr", String(200), nullable=False, default=""),
    Column("auth_time", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_mfa_challenges_expires_at", "expires_at"),
)

# --- Email: single-use links and known login devices (storage/interfaces/email_tokens.py, docs/email.md)

# Links sent by mail by SHA-256 digest; `purpose` namespaces them (SEC-75); a used link's row is deleted.
email_tokens = Table(
    "email_tokens",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("purpose", String(20), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("binding", String(64)),  # SHA-256 of the requesting browser's nonce (magic links)
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_email_tokens_user_id", "user_id"),
    Index("ix_email_tokens_expires_at", "expires_at"),
)

# (user, HMAC of network prefix + User-Agent) pairs seen at login, for the new-device notice.
known_devices = Table(
    "known_devices",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("fingerprint", String(64), primary_key=True),
    Column("first_seen_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
)

# --- API keys (storage/interfaces/api_keys.py, docs/api_keys.md) -------------------------------------

# Stateful keys by SHA-256 digest with their unique public lookup prefix; stateless keys (signed JWTs)
# as metadata under their jti, for listing and the revocation list. `revoked_at` may lie in the future
# (the grace of a rotation).
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(10), nullable=False),  # stateful | stateless
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("prefix", String(16), unique=True),
    Column("digest", String(64)),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("last_used_at", Float),
    Column("last_used_ip", String(45)),
    Column("revoked_at", Float),
    Column("revoke_reason", String(40)),
    Column("rotated_from", String(36)),
    Column("replaced_by", String(36)),
    Index("ix_api_keys_user_id", "user_id"),
    Index("ix_api_keys_revoked_at", "revoked_at"),
)

# --- Passkeys / WebAuthn (storage/interfaces/passkeys.py, docs/passkeys.md) --------------------------

# One row per registered credential; `credential_key` (SHA-256 of the credential id) is unique across
# all users (SEC-51). The counter is unsigned 32-bit in WebAuthn, hence BigInteger.
passkeys = Table(
    "passkeys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("credential_key", String(64), nullable=False, unique=True),
    Column("credential_id", LargeBinary, nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("sign_count", BigInteger, nullable=False, default=0),
    Column("user_handle", LargeBinary, nullable=False),
    Column("name", String(100), nullable=False),
    Column("discoverable", Boolean, nullable=False, default=False),
    Column("transports", String(200), nullable=False, default=""),
    Column("aaguid", String(36), nullable=False, default=""),
    Column("backed_up", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),
    Index("ix_passkeys_user_id", "user_id"),
)

# Ceremony challenges by SHA-256 of the random bytes; single use (DELETE … RETURNING), short-lived.
passkey_challenges = Table(
    "passkey_challenges",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("purpose", String(20), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE")),
    Column("binding", String(64)),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_passkey_challenges_expires_at", "expires_at"),
)
