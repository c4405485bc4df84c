"""ws guarded sessions: WebSocket sessions with cancel-on-disconnect, for the cancel at restart

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 07:00:00.000000
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
        "ws_guarded_sessions",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("opened_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_ws_guarded_sessions")),
    )
    with op.batch_alter_table("ws_guarded_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ws_guarded_sessions_account_id"), ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ws_guarded_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ws_guarded_sessions_account_id"))
    op.drop_table("ws_guarded_sessions")
