"""policy rules (ABAC), ACL tuples and the ACL schema

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_rules",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("effect", sa.String(length=10), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("condition", sa.JSON(), nullable=True),
        sa.Column("requires_permission", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_rules")),
    )
    op.create_table(
        "acl_tuples",
        sa.Column("subject", sa.String(length=250), nullable=False),
        sa.Column("relation", sa.String(length=100), nullable=False),
        sa.Column("resource", sa.String(length=250), nullable=False),
        sa.PrimaryKeyConstraint("subject", "relation", "resource", name=op.f("pk_acl_tuples")),
    )
    with op.batch_alter_table("acl_tuples", schema=None) as batch_op:
        batch_op.create_index("ix_acl_tuples_resource", ["resource"], unique=False)
    op.create_table(
        "acl_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("relations", sa.JSON(), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acl_config")),
    )


def downgrade() -> None:
    op.drop_table("acl_config")
    with op.batch_alter_table("acl_tuples", schema=None) as batch_op:
        batch_op.drop_index("ix_acl_tuples_resource")
    op.drop_table("acl_tuples")
    op.drop_table("policy_rules")
