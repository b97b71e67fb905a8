"""Settings from OSTIARY_* environment variables and `.env`, with secure defaults.

Each component receives a narrow view (a small frozen dataclass) built from these, never the whole
object, so that what a component depends on is visible in its constructor.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OSTIARY_", env_file=".env", extra="ignore")

    # Where the server lives and keeps its state.
    issuer: str = "http://127.0.0.1:8000"
    data_dir: Path = Path(".ostiary")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = Field(default=None, repr=False)
    allow_insecure_http: bool = False
    auto_migrate: bool = True

    # HTTP edge.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = 64 * 1024
    metrics_public: bool = False
    metrics_token: str | None = Field(default=None, repr=False)
    docs_public: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Browser sessions and CSRF.
    session_idle_seconds: int = Field(default=3600, ge=60)
    session_absolute_seconds: int = Field(default=86400, ge=300)
    session_touch_interval_seconds: int = Field(default=60, ge=0)
    # Redis store only: how long a worker may answer a session from memory (push-invalidated on logout
    # and revocation by every worker; 0 = read Redis on every request). See docs/architecture.md.
    session_cache_seconds: float = Field(default=1.0, ge=0, le=1.0)
    reauth_window_seconds: int = Field(default=600, ge=60)

    # Passwords (NIST SP 800-63B rev 4).
    password_min_length: int = Field(default=15, ge=8)
    password_min_length_with_mfa: int = Field(default=8, ge=8)
    password_max_length: int = Field(default=256, ge=64, le=4096)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19456, ge=8192)
    argon2_parallelism: int = Field(default=1, ge=1)
    hash_workers: int = Field(default=0, ge=0)  # 0 = number of CPUs
    hash_queue_limit: int = Field(default=32, ge=1)

    # Lockout and rate limits (SEC-60..63).
    lockout_free_attempts: int = Field(default=5, ge=1)
    lockout_max_delay_seconds: int = Field(default=900, ge=1)
    lockout_hard_limit: int = Field(default=100, ge=5, le=100)
    rate_limit_login_per_ip: str = "60/minute"
    rate_limit_login_per_ip_user: str = "10/minute"
    rate_limit_register_per_ip: str = "10/minute"
    rate_limit_enabled: bool = True

    # Stateless tokens (docs/tokens.md): JWT access tokens, signing keys, rotating refresh tokens.
    access_token_ttl: int = Field(default=600, ge=60, le=3600)  # SEC-40: at most one hour
    access_token_alg: Literal["ES256", "RS256", "EdDSA"] = "ES256"
    access_token_audience: str | None = None  # default: the issuer URL
    signing_key_reload_seconds: int = Field(default=30, ge=1, le=3600)
    signing_key_publish_delay_seconds: int = Field(default=360, ge=0)
    refresh_idle_seconds: int = Field(default=14 * 86400, ge=300)
    refresh_absolute_seconds: int = Field(default=30 * 86400, ge=300)
    refresh_retry_window_seconds: int = Field(default=10, ge=0, le=120)
    refresh_early_leeway_seconds: int = Field(default=60, ge=0)
    refresh_revoke_on_lockout: bool = True
    rate_limit_refresh_per_ip: str = "120/minute"
    bearer_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)

    # Second factors (docs/mfa.md): TOTP, recovery codes, the MFA step of a login (SEC-47..50).
    mfa_challenge_seconds: int = Field(default=300, ge=30, le=300)  # the half-logged-in state
    mfa_max_failures: int = Field(default=5, ge=1, le=100)  # wrong codes before the factor locks
    mfa_lock_seconds: int = Field(default=300, ge=1)  # doubles with each further wrong code
    mfa_max_lock_seconds: int = Field(default=86400, ge=1)
    totp_issuer_name: str = Field(default="ostiary", min_length=1, max_length=100)
    totp_enrollment_seconds: int = Field(default=600, ge=60, le=3600)
    rate_limit_mfa_per_ip: str = "60/minute"

    # Email (docs/email.md): the sender, single-use links, login notices (SEC-06, SEC-64, SEC-75).
    mail_backend: Literal["smtp", "outbox"] | None = None  # default: smtp when a host is set
    mail_from: str | None = None  # default: ostiary <no-reply@issuer host>
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"  # "tls" = implicit TLS (465)
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_ca_file: Path | None = None  # a private CA for the relay; default: the system store
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    email_verify_ttl_seconds: int = Field(default=86400, ge=300, le=7 * 86400)
    password_reset_ttl_seconds: int = Field(default=3600, ge=300, le=3600)  # SEC-06: at most 1 h
    magic_link_ttl_seconds: int = Field(default=900, ge=60, le=900)
    magic_link_enabled: bool = True
    login_notices_enabled: bool = True  # mail on a login from a new device or network
    rate_limit_mail_per_ip: str = "10/minute"
    rate_limit_mail_per_address: str = "5/hour"

    # API keys (docs/api_keys.md): stateful and stateless keys of a user (SEC-52..54).
    api_key_default_ttl_seconds: int = Field(default=90 * 86400, ge=60)
    api_key_max_ttl_seconds: int = Field(default=365 * 86400, ge=60, le=5 * 365 * 86400)
    api_key_max_per_user: int = Field(default=50, ge=1, le=10_000)
    api_key_max_rotation_grace_seconds: int = Field(default=7 * 86400, ge=0, le=30 * 86400)
    api_key_recheck_seconds: int = Field(default=30, ge=1, le=300)  # cache bound beside the version
    api_key_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)
    rate_limit_api_key_failures_per_ip: str = "20/minute"
    rate_limit_api_key_failures_per_prefix: str = "20/minute"

    # Passkeys / WebAuthn (docs/passkeys.md): rp_id = the issuer's host, origin = the issuer (SEC-51).
    passkeys_enabled: bool = True  # also off by itself when the issuer's host is an IP address
    webauthn_rp_name: str = Field(default="ostiary", min_length=1, max_length=100)
    webauthn_challenge_seconds: int = Field(default=300, ge=30, le=600)
    rate_limit_passkey_per_ip: str = "60/minute"

    # OAuth 2.0 / OpenID Connect provider (docs/oauth.md): off = no handler built, no route mounted.
    oauth_enabled: bool = True

    # Background purge of expired codes, device codes, revoked grants, opaque tokens and ended
    # refresh families in SQL (compose/maintenance.py); every worker runs it. 0 = never.
    purge_interval_seconds: int = Field(default=600, ge=0, le=86400)

    @field_validator("trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("issuer")
    @classmethod
    def _issuer_shape(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("OSTIARY_ISSUER must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("OSTIARY_ISSUER must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value

    @model_validator(mode="after")
    def _plain_http_only_on_loopback(self) -> Settings:
        if self.is_plain_http and not self.is_loopback_issuer and not self.allow_insecure_http:
            raise ValueError(
                "OSTIARY_ISSUER uses plain http:// on a non-loopback host; use https:// or set "
                "OSTIARY_ALLOW_INSECURE_HTTP=true if you really mean it"
            )
        if self.session_absolute_seconds < self.session_idle_seconds:
            raise ValueError("OSTIARY_SESSION_ABSOLUTE_SECONDS must be at least the idle timeout")
        if self.refresh_absolute_seconds < self.refresh_idle_seconds:
            raise ValueError("OSTIARY_REFRESH_ABSOLUTE_SECONDS must be at least the idle timeout")
        if self.api_key_max_ttl_seconds < self.api_key_default_ttl_seconds:
            raise ValueError("OSTIARY_API_KEY_MAX_TTL_SECONDS must be at least the default lifetime")
        return self

    @model_validator(mode="after")
    def _mail_transport(self) -> Settings:
        if self.mail_backend == "smtp" and not self.smtp_host:
            raise ValueError("OSTIARY_MAIL_BACKEND=smtp needs OSTIARY_SMTP_HOST")
        # Never send SMTP credentials in clear text off this machine.
        if self.smtp_security == "none" and self.smtp_username and self.smtp_host not in LOOPBACK_HOSTS:
            raise ValueError("SMTP credentials over OSTIARY_SMTP_SECURITY=none are refused off loopback")
        return self

    @property
    def resolved_mail_backend(self) -> Literal["smtp", "outbox"]:
        return self.mail_backend or ("smtp" if self.smtp_host else "outbox")

    @property
    def resolved_mail_from(self) -> str:
        return self.mail_from or f"ostiary <no-reply@{urlsplit(self.issuer).hostname}>"

    @property
    def is_plain_http(self) -> bool:
        return urlsplit(self.issuer).scheme == "http"

    @property
    def is_loopback_issuer(self) -> bool:
        return (urlsplit(self.issuer).hostname or "") in LOOPBACK_HOSTS

    @property
    def secure_cookies(self) -> bool:
        """Secure + __Host- cookies everywhere except plain-HTTP development."""
        return not self.is_plain_http

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+ostiary:///{(self.data_dir / 'ostiary.db').resolve()}"
