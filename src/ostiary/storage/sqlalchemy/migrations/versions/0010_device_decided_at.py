"""Device authorizations remember when the user decided (`decided_at`)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21 19:00:00.000000

A device-code approval given before the user's not-before (a password change, an administrator's
sign-out, a lockout) must mint nothing, as an authorization code issued before it mints nothing.
The record's `issued_at` precedes the approval, so the approval time is stored with the decision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_device_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decided_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_device_codes", schema=None) as batch_op:
        batch_op.drop_column("decided_at")
