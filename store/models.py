"""SQL tables (SQLAlchemy 2.0), the same on SQLite and PostgreSQL.

Two kinds of data live here (DESIGN.md, "The flow"):

- Projections of the journal: ``orders``, ``order_history``, ``trades``, ``deposits``,
  ``withdrawals``, ``balances`` and ``projection_cursor``. They can always be rebuilt from the
  journal (``bluebook rebuild-store``); never edit them by hand.
- Records of their own that nothing can rebuild: ``accounts``, ``api_keys``, ``login_nonces``
  and ``ws_guarded_sessions`` (issued by the API), ``settlement_batches``, ``settlement_batch_items``,
  ``settlement_transactions``, ``settlement_alerts`` and ``chain_cursors`` (the settlement
  worker's truth), and the settlement columns of ``trades`` and ``withdrawals`` (a rebuild keeps
  them).

Amounts, prices and quantities are engine integers (int64 range, as in the journal), stored as
BIGINT; decimals appear only at the API edge.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# ----------------------------------------------------------------- reference data


class Asset(Base):
    __tablename__ = "assets"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    chain_decimals: Mapped[int] = mapped_column(Integer)
    engine_decimals: Mapped[int] = mapped_column(Integer)
    token_address: Mapped[str | None] = mapped_column(String(42))


class Symbol(Base):
    __tablename__ = "symbols"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    base: Mapped[str] = mapped_column(ForeignKey("assets.name"))
    quote: Mapped[str] = mapped_column(ForeignKey("assets.name"))
    tick_size: Mapped[int] = mapped_column(BigInteger)
    lot_size: Mapped[int] = mapped_column(BigInteger)
    maker_bps: Mapped[int] = mapped_column(Integer)
    taker_bps: Mapped[int] = mapped_column(Integer)


class Account(Base):
    """An engine account id and the EVM address it belongs to.

    ``vault_id`` is the account's compact id in the settlement vault, which the vault assigns at the
    address's first deposit (so it need not equal ``id``); the deposit watcher fills it in from
    ``Deposited`` events, and it never changes once set. Null until the first deposit is seen.
    """

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    address: Mapped[str] = mapped_column(String(42), unique=True)
    vault_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)


class ApiKey(Base):
    __tablename__ = "api_keys"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    label: Mapped[str] = mapped_column(String(64), default="")
    scopes: Mapped[str] = mapped_column(String(64))
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    ed25519_public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    ip_allowlist: Mapped[str] = mapped_column(String(512), default="")
    created_at_ns: Mapped[int] = mapped_column(BigInteger)
    revoked_at_ns: Mapped[int | None] = mapped_column(BigInteger)


class LoginNonce(Base):
    """A sign-in nonce the API issued: accepted until ``expires_at_ns``, and only once."""

    __tablename__ = "login_nonces"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    issued_at_ns: Mapped[int] = mapped_column(BigInteger)
    expires_at_ns: Mapped[int] = mapped_column(BigInteger, index=True)
    used_at_ns: Mapped[int | None] = mapped_column(BigInteger)


class GuardedSession(Base):
    """A WebSocket session that opted in to cancel-on-disconnect and has not ended cleanly: while
    its row exists, the account's orders are cancelled when the session goes, or at the next
    start if the server went first (``api.mmsessions``)."""

    __tablename__ = "ws_guarded_sessions"
    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger, index=True)
    key_id: Mapped[str] = mapped_column(String(64))
    opened_at_ns: Mapped[int] = mapped_column(BigInteger)


# ------------------------------------------------------------------ projections


class Order(Base):
    """Each order's current state, as of ``updated_seq``."""

    __tablename__ = "orders"
    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    symbol: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[int] = mapped_column(BigInteger)
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    side: Mapped[int] = mapped_column(Integer)
    order_type: Mapped[int] = mapped_column(Integer)
    tif: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    qty: Mapped[int] = mapped_column(BigInteger)
    leaves: Mapped[int] = mapped_column(BigInteger)
    filled: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[int] = mapped_column(Integer)
    created_seq: Mapped[int] = mapped_column(BigInteger)
    updated_seq: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_orders_account_status", "account_id", "status"),
        Index("ix_orders_account_client_id", "account_id", "client_order_id"),
    )


class OrderHistory(Base):
    """Every change to an order, in sequence: accepted, filled, cancelled, amended.

    Keyed by (seq, position of the change among that command's), so a rebuild gives equal rows.
    """

    __tablename__ = "order_history"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    order_id: Mapped[int] = mapped_column(BigInteger, index=True)
    change: Mapped[str] = mapped_column(String(16))
    price: Mapped[int] = mapped_column(BigInteger)
    qty: Mapped[int] = mapped_column(BigInteger)
    leaves: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[int | None] = mapped_column(Integer)


class Trade(Base):
    """A fill. Settlement columns belong to the settlement worker, not to the projection."""

    __tablename__ = "trades"
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    trade_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    taker_order_id: Mapped[int] = mapped_column(BigInteger)
    maker_order_id: Mapped[int] = mapped_column(BigInteger)
    taker_account: Mapped[int] = mapped_column(BigInteger, index=True)
    maker_account: Mapped[int] = mapped_column(BigInteger, index=True)
    taker_side: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)
    qty: Mapped[int] = mapped_column(BigInteger)
    quote_qty: Mapped[int] = mapped_column(BigInteger)
    taker_fee: Mapped[int] = mapped_column(BigInteger)
    maker_fee: Mapped[int] = mapped_column(BigInteger)
    settlement_status: Mapped[str] = mapped_column(String(12), default="unsettled", index=True)
    batch_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    #: The fill's command time (ns since the epoch); None for fills projected before it was kept.
    created_at_ns: Mapped[int | None] = mapped_column(BigInteger)


class Deposit(Base):
    __tablename__ = "deposits"
    ref: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int] = mapped_column(BigInteger, index=True)
    asset: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)


class Withdrawal(Base):
    __tablename__ = "withdrawals"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(BigInteger, index=True)
    asset: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    settlement_status: Mapped[str] = mapped_column(String(12), default="unsettled")
    batch_id: Mapped[int | None] = mapped_column(BigInteger)


class Balance(Base):
    __tablename__ = "balances"
    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    asset: Mapped[str] = mapped_column(String(32), primary_key=True)
    available: Mapped[int] = mapped_column(BigInteger)
    held: Mapped[int] = mapped_column(BigInteger)
    updated_seq: Mapped[int] = mapped_column(BigInteger)


class ProjectionCursor(Base):
    """The last journal seq the projection tables include."""

    __tablename__ = "projection_cursor"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


# ------------------------------------------------------------ settlement's own


class SettlementBatch(Base):
    __tablename__ = "settlement_batches"
    batch_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(12), index=True)
    item_count: Mapped[int] = mapped_column(Integer)
    payload_hash: Mapped[str | None] = mapped_column(String(66))
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    raw_tx: Mapped[bytes | None] = mapped_column(LargeBinary)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    created_at_ns: Mapped[int] = mapped_column(BigInteger)
    final_at_ns: Mapped[int | None] = mapped_column(BigInteger)


class SettlementTransaction(Base):
    """Every transaction signed for a batch (the first, and each fee-raised replacement), saved
    before it is broadcast; all share the batch's nonce, and a receipt for any of them counts."""

    __tablename__ = "settlement_transactions"
    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("settlement_batches.batch_id"), index=True)
    nonce: Mapped[int] = mapped_column(BigInteger)
    raw_tx: Mapped[bytes] = mapped_column(LargeBinary)
    max_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    max_priority_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    signed_at_ns: Mapped[int] = mapped_column(BigInteger)


class SettlementAlert(Base):
    """Something settlement cannot do on its own: an item held (its pre-flight reverts), a reorg
    deeper than the confirmation count, a vault that disagrees with the store. Open until an
    operator resolves it (README, "Settlement operations"); an open ``halt`` alert stops the worker.
    """

    __tablename__ = "settlement_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    detail: Mapped[str] = mapped_column(String(1024))
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    symbol: Mapped[str | None] = mapped_column(String(32))
    trade_id: Mapped[int | None] = mapped_column(BigInteger)
    withdrawal_seq: Mapped[int | None] = mapped_column(BigInteger)
    raised_at_ns: Mapped[int] = mapped_column(BigInteger)
    resolved_at_ns: Mapped[int | None] = mapped_column(BigInteger)


class SettlementBatchItem(Base):
    __tablename__ = "settlement_batch_items"
    batch_id: Mapped[int] = mapped_column(ForeignKey("settlement_batches.batch_id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    symbol: Mapped[str | None] = mapped_column(String(32))
    trade_id: Mapped[int | None] = mapped_column(BigInteger)
    withdrawal_seq: Mapped[int | None] = mapped_column(BigInteger)
    held: Mapped[bool] = mapped_column(Boolean, default=False)


class ChainCursor(Base):
    __tablename__ = "chain_cursors"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))


#: Tables that derive from the journal and that ``rebuild-store`` may empty and refill.
PROJECTION_TABLES = (Order, OrderHistory, Trade, Deposit, Withdrawal, Balance, ProjectionCursor)
