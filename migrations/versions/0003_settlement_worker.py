"""settlement worker: vault ids of accounts, every signed transaction of a batch, alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 07:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vault_id", sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_accounts_vault_id"), ["vault_id"])
    op.create_table(
        "settlement_transactions",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=False),
        sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("max_priority_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("signed_at_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["settlement_batches.batch_id"],
            name=op.f("fk_settlement_transactions_batch_id_settlement_batches"),
        ),
        sa.PrimaryKeyConstraint("tx_hash", name=op.f("pk_settlement_transactions")),
    )
    with op.batch_alter_table("settlement_transactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_transactions_batch_id"), ["batch_id"], unique=False)
    op.create_table(
        "settlement_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=1024), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("symbol", sa.String(length=32), nullable=True),
        sa.Column("trade_id", sa.BigInteger(), nullable=True),
        sa.Column("withdrawal_seq", sa.BigInteger(), nullable=True),
        sa.Column("raised_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("resolved_at_ns", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_alerts")),
    )
    with op.batch_alter_table("settlement_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_alerts_kind"), ["kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("settlement_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_alerts_kind"))
    op.drop_table("settlement_alerts")
    with op.batch_alter_table("settlement_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_transactions_batch_id"))
    op.drop_table("settlement_transactions")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_accounts_vault_id"), type_="unique")
        batch_op.drop_column("vault_id")
