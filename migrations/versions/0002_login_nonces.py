"""login nonces: server-issued EIP-4361 nonces, each accepted once before it expires

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("issued_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("used_at_ns", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_login_nonces")),
    )
    with op.batch_alter_table("login_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_nonces_expires_at_ns"), ["expires_at_ns"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_nonces_expires_at_ns"))
    op.drop_table("login_nonces")
