"""trade times: each fill's command time, so settlement lag is measured from the fill

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 10:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_at_ns", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_column("created_at_ns")
