"""initial schema: reference data, projections, settlement records

Revision ID: 0001
Revises:
Create Date: 2026-11-26 05:42:55.857660
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("address", name=op.f("uq_accounts_address")),
    )
    op.create_table(
        "assets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("chain_decimals", sa.Integer(), nullable=False),
        sa.Column("engine_decimals", sa.Integer(), nullable=False),
        sa.Column("token_address", sa.String(length=42), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_assets")),
    )
    op.create_table(
        "balances",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("available", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "asset", name=op.f("pk_balances")),
    )
    op.create_table(
        "chain_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_chain_cursors")),
    )
    op.create_table(
        "deposits",
        sa.Column("ref", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_deposits")),
    )
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deposits_account_id"), ["account_id"], unique=False)

    op.create_table(
        "order_history",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("leaves", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("seq", "position", name=op.f("pk_order_history")),
    )
    with op.batch_alter_table("order_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_history_order_id"), ["order_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("side", sa.Integer(), nullable=False),
        sa.Column("order_type", sa.Integer(), nullable=False),
        sa.Column("tif", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("leaves", sa.BigInteger(), nullable=False),
        sa.Column("filled", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_account_client_id", ["account_id", "client_order_id"], unique=False)
        batch_op.create_index("ix_orders_account_status", ["account_id", "status"], unique=False)

    op.create_table(
        "projection_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_projection_cursor")),
    )
    op.create_table(
        "settlement_batches",
        sa.Column("batch_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("payload_hash", sa.String(length=66), nullable=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("final_at_ns", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_settlement_batches")),
    )
    with op.batch_alter_table("settlement_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_batches_state"), ["state"], unique=False)

    op.create_table(
        "trades",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("trade_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("taker_order_id", sa.BigInteger(), nullable=False),
        sa.Column("maker_order_id", sa.BigInteger(), nullable=False),
        sa.Column("taker_account", sa.BigInteger(), nullable=False),
        sa.Column("maker_account", sa.BigInteger(), nullable=False),
        sa.Column("taker_side", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("quote_qty", sa.BigInteger(), nullable=False),
        sa.Column("taker_fee", sa.BigInteger(), nullable=False),
        sa.Column("maker_fee", sa.BigInteger(), nullable=False),
        sa.Column("settlement_status", sa.String(length=12), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("symbol", "trade_id", name=op.f("pk_trades")),
    )
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trades_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trades_maker_account"), ["maker_account"], unique=False)
        batch_op.create_index(batch_op.f("ix_trades_seq"), ["seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_trades_settlement_status"), ["settlement_status"], unique=False)
        batch_op.create_index(batch_op.f("ix_trades_taker_account"), ["taker_account"], unique=False)

    op.create_table(
        "withdrawals",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("settlement_status", sa.String(length=12), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_withdrawals")),
    )
    with op.batch_alter_table("withdrawals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_withdrawals_account_id"), ["account_id"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=64), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("ed25519_public_key", sa.LargeBinary(), nullable=True),
        sa.Column("ip_allowlist", sa.String(length=512), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at_ns", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_api_keys_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_account_id"), ["account_id"], unique=False)

    op.create_table(
        "settlement_batch_items",
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=True),
        sa.Column("trade_id", sa.BigInteger(), nullable=True),
        sa.Column("withdrawal_seq", sa.BigInteger(), nullable=True),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["settlement_batches.batch_id"],
            name=op.f("fk_settlement_batch_items_batch_id_settlement_batches"),
        ),
        sa.PrimaryKeyConstraint("batch_id", "position", name=op.f("pk_settlement_batch_items")),
    )
    op.create_table(
        "symbols",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("base", sa.String(length=32), nullable=False),
        sa.Column("quote", sa.String(length=32), nullable=False),
        sa.Column("tick_size", sa.BigInteger(), nullable=False),
        sa.Column("lot_size", sa.BigInteger(), nullable=False),
        sa.Column("maker_bps", sa.Integer(), nullable=False),
        sa.Column("taker_bps", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["base"], ["assets.name"], name=op.f("fk_symbols_base_assets")),
        sa.ForeignKeyConstraint(["quote"], ["assets.name"], name=op.f("fk_symbols_quote_assets")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_symbols")),
    )


def downgrade() -> None:
    op.drop_table("symbols")
    op.drop_table("settlement_batch_items")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_account_id"))

    op.drop_table("api_keys")
    with op.batch_alter_table("withdrawals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_withdrawals_account_id"))

    op.drop_table("withdrawals")
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trades_taker_account"))
        batch_op.drop_index(batch_op.f("ix_trades_settlement_status"))
        batch_op.drop_index(batch_op.f("ix_trades_seq"))
        batch_op.drop_index(batch_op.f("ix_trades_maker_account"))
        batch_op.drop_index(batch_op.f("ix_trades_batch_id"))

    op.drop_table("trades")
    with op.batch_alter_table("settlement_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_batches_state"))

    op.drop_table("settlement_batches")
    op.drop_table("projection_cursor")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_account_status")
        batch_op.drop_index("ix_orders_account_client_id")

    op.drop_table("orders")
    with op.batch_alter_table("order_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_history_order_id"))

    op.drop_table("order_history")
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deposits_account_id"))

    op.drop_table("deposits")
    op.drop_table("chain_cursors")
    op.drop_table("balances")
    op.drop_table("assets")
    op.drop_table("accounts")
