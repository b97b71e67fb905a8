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
        return self

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
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ostiary.db').resolve()}"
