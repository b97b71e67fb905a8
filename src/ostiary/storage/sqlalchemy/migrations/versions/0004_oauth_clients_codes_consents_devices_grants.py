"""OAuth clients, authorization codes, consents, device authorizations, revoked grants, opaque tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_digest", sa.String(length=128), nullable=True),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("response_types", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(length=40), nullable=False),
        sa.Column("access_token_format", sa.String(length=10), nullable=False),
        sa.Column("first_party", sa.Boolean(), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=False),
        sa.Column("application_type", sa.String(length=10), nullable=False),
        sa.Column("id_token_signed_response_alg", sa.String(length=10), nullable=False),
        sa.Column("lifetimes", sa.JSON(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oauth_clients")),
    )
    op.create_table(
        "oauth_codes",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("redirect_uri_provided", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=10), nullable=True),
        sa.Column("issued_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("auth_time", sa.Float(), nullable=False),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("acr", sa.String(length=200), nullable=True),
        sa.Column("nonce", sa.Text(), nullable=True),
        sa.Column("sid", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_oauth_codes")),
    )
    with op.batch_alter_table("oauth_codes", schema=None) as batch_op:
        batch_op.create_index("ix_oauth_codes_expires_at", ["expires_at"], unique=False)

    op.create_table(
        "oauth_redeemed_codes",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("forget_after", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_oauth_redeemed_codes")),
    )
    with op.batch_alter_table("oauth_redeemed_codes", schema=None) as batch_op:
        batch_op.create_index("ix_oauth_redeemed_codes_forget_after", ["forget_after"], unique=False)

    op.create_table(
        "oauth_consents",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("granted_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oauth_consents_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "client_id", name=op.f("pk_oauth_consents")),
    )
    op.create_table(
        "oauth_device_codes",
        sa.Column("device_code_digest", sa.String(length=64), nullable=False),
        sa.Column("user_code_digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("poll_interval", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("auth_time", sa.Float(), nullable=True),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("last_polled_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("device_code_digest", name=op.f("pk_oauth_device_codes")),
        sa.UniqueConstraint("user_code_digest", name=op.f("uq_oauth_device_codes_user_code_digest")),
    )
    with op.batch_alter_table("oauth_device_codes", schema=None) as batch_op:
        batch_op.create_index("ix_oauth_device_codes_expires_at", ["expires_at"], unique=False)

    op.create_table(
        "oauth_revoked_grants",
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=False),
        sa.Column("remember_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("grant_id", name=op.f("pk_oauth_revoked_grants")),
    )
    with op.batch_alter_table("oauth_revoked_grants", schema=None) as batch_op:
        batch_op.create_index("ix_oauth_revoked_grants_remember_until", ["remember_until"], unique=False)

    op.create_table(
        "oauth_access_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=250), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("auth_time", sa.Float(), nullable=True),
        sa.Column("sid", sa.String(length=128), nullable=True),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_oauth_access_tokens")),
    )
    with op.batch_alter_table("oauth_access_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_oauth_access_tokens_grant_id", ["grant_id"], unique=False)
        batch_op.create_index("ix_oauth_access_tokens_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oauth_access_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_oauth_access_tokens_expires_at")
        batch_op.drop_index("ix_oauth_access_tokens_grant_id")
    op.drop_table("oauth_access_tokens")
    with op.batch_alter_table("oauth_revoked_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_oauth_revoked_grants_remember_until")
    op.drop_table("oauth_revoked_grants")
    with op.batch_alter_table("oauth_device_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_oauth_device_codes_expires_at")
    op.drop_table("oauth_device_codes")
    op.drop_table("oauth_consents")
    with op.batch_alter_table("oauth_redeemed_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_oauth_redeemed_codes_forget_after")
    op.drop_table("oauth_redeemed_codes")
    with op.batch_alter_table("oauth_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_oauth_codes_expires_at")
    op.drop_table("oauth_codes")
    op.drop_table("oauth_clients")
