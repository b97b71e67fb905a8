"""Not-before revocation: `tokens_not_before` on users and OAuth clients; client_id indexes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00.000000

A bulk revocation (password change, disable, lockout; a disabled client or a rotated secret) sets
the timestamp, and introspection refuses tokens issued before it (compose/not_before.py). The two
indexes serve `revoke_client` on refresh families and opaque access tokens, which filter by
client_id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tokens_not_before", sa.Float(), nullable=True))
    with op.batch_alter_table("oauth_clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tokens_not_before", sa.Float(), nullable=True))
    with op.batch_alter_table("refresh_families", schema=None) as batch_op:
        batch_op.create_index("ix_refresh_families_client_id", ["client_id"], unique=False)
    with op.batch_alter_table("oauth_access_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_oauth_access_tokens_client_id", ["client_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oauth_access_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_oauth_access_tokens_client_id")
    with op.batch_alter_table("refresh_families", schema=None) as batch_op:
        batch_op.drop_index("ix_refresh_families_client_id")
    with op.batch_alter_table("oauth_clients", schema=None) as batch_op:
        batch_op.drop_column("tokens_not_before")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("tokens_not_before")
