"""The packed batch that ``Settlement.settleBatch(batchId, payload)`` applies, byte for byte.

All integers are big-endian. Amounts are engine units (see ``matcher.config``); the contract
multiplies them by each asset's factor, 10**(chain_decimals - engine_decimals).

Payload::

    header       2 bytes   uint16 trade count
    trades       count x 32 bytes
    withdrawals  the rest, 16 bytes each

Trade, 32 bytes::

    bytes  0..3   uint32  buyer account id
    bytes  4..7   uint32  seller account id
    bytes  8..9   uint16  market id
    bytes 10..15  uint48  base amount (base engine units)
    bytes 16..21  uint48  quote amount before fees (quote engine units)
    bytes 22..26  int40   buyer fee (quote engine units; negative is a rebate)
    bytes 27..31  int40   seller fee (likewise)

The buyer pays ``quote + buyer_fee``, the seller receives ``quote - seller_fee``, and the fee
account (engine account 0 = vault account 0) receives ``buyer_fee + seller_fee``; the contract
refuses a trade where any of these three is negative. Which side was the taker is not needed:
``trade_from_fill`` puts the taker's fee on the taker's side and the maker's on the other, so the
ledger moves exactly as ``matcher.engine`` moved the balances.

Withdrawal, 16 bytes, paid to the account's own registered address::

    bytes  0..3   uint32  account id
    bytes  4..5   uint16  asset id
    bytes  6..15  uint80  amount (engine units)

The contract applies all trades, then all withdrawals, in payload order. ``markets_fit`` checks
that no fill a market's limits allow can overflow a field.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from matcher.config import MarketConfig
from matcher.enums import Side
from matcher.events import Fill

HEADER_BYTES = 2
TRADE_BYTES = 32
WITHDRAWAL_BYTES = 16
MAX_TRADES = 2**16 - 1
ACCOUNT_BITS = 32
ID_BITS = 16
AMOUNT_BITS = 48
FEE_BITS = 40
WITHDRAWAL_BITS = 80
#: EIP-7825's per-transaction gas cap: a batch's transaction must stay under it.
TX_GAS_CAP = 2**24


class PackingError(ValueError):
    """A value does not fit its field."""


@dataclass(frozen=True, slots=True)
class Trade:
    buyer: int
    seller: int
    market: int
    base: int
    quote: int
    buyer_fee: int
    seller_fee: int


@dataclass(frozen=True, slots=True)
class Withdrawal:
    account: int
    asset: int
    amount: int


def trade_from_fill(fill: Fill, market: int, lot_size: int) -> Trade:
    """The trade that settles ``fill`` on vault market ``market`` (``lot_size`` in base units)."""
    taker_buys = fill.taker_side == Side.BUY
    return Trade(
        buyer=fill.taker_account if taker_buys else fill.maker_account,
        seller=fill.maker_account if taker_buys else fill.taker_account,
        market=market,
        base=fill.qty * lot_size,
        quote=fill.quote_qty,
        buyer_fee=fill.taker_fee if taker_buys else fill.maker_fee,
        seller_fee=fill.maker_fee if taker_buys else fill.taker_fee,
    )


def _unsigned(name: str, value: int, bits: int) -> bytes:
    if not 0 <= value < 1 << bits:
        raise PackingError(f"{name}={value} does not fit {bits} unsigned bits")
    return value.to_bytes(bits // 8, "big")


def _signed(name: str, value: int, bits: int) -> bytes:
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise PackingError(f"{name}={value} does not fit {bits} signed bits")
    return value.to_bytes(bits // 8, "big", signed=True)


def pack_trade(trade: Trade) -> bytes:
    return b"".join(
        (
            _unsigned("buyer", trade.buyer, ACCOUNT_BITS),
            _unsigned("seller", trade.seller, ACCOUNT_BITS),
            _unsigned("market", trade.market, ID_BITS),
            _unsigned("base", trade.base, AMOUNT_BITS),
            _unsigned("quote", trade.quote, AMOUNT_BITS),
            _signed("buyer_fee", trade.buyer_fee, FEE_BITS),
            _signed("seller_fee", trade.seller_fee, FEE_BITS),
        )
    )


def pack_withdrawal(withdrawal: Withdrawal) -> bytes:
    return b"".join(
        (
            _unsigned("account", withdrawal.account, ACCOUNT_BITS),
            _unsigned("asset", withdrawal.asset, ID_BITS),
            _unsigned("amount", withdrawal.amount, WITHDRAWAL_BITS),
        )
    )


def pack_batch(trades: Sequence[Trade], withdrawals: Iterable[Withdrawal] = ()) -> bytes:
    """The ``settleBatch`` payload: header, trades, withdrawals."""
    if len(trades) > MAX_TRADES:
        raise PackingError(f"{len(trades)} trades; a batch holds at most {MAX_TRADES}")
    parts = [len(trades).to_bytes(HEADER_BYTES, "big")]
    parts.extend(pack_trade(t) for t in trades)
    parts.extend(pack_withdrawal(w) for w in withdrawals)
    return b"".join(parts)


def unpack_batch(payload: bytes) -> tuple[list[Trade], list[Withdrawal]]:
    """The inverse of ``pack_batch``; raises ``PackingError`` on a length the contract refuses."""
    if len(payload) < HEADER_BYTES:
        raise PackingError("payload shorter than its header")
    count = int.from_bytes(payload[:HEADER_BYTES], "big")
    end = HEADER_BYTES + count * TRADE_BYTES
    if len(payload) < end or (len(payload) - end) % WITHDRAWAL_BYTES:
        raise PackingError(f"{len(payload)} bytes do not hold {count} trades and whole withdrawals")
    trades = [_unpack_trade(payload[i : i + TRADE_BYTES]) for i in range(HEADER_BYTES, end, TRADE_BYTES)]
    withdrawals = [
        Withdrawal(
            int.from_bytes(payload[i : i + 4], "big"),
            int.from_bytes(payload[i + 4 : i + 6], "big"),
            int.from_bytes(payload[i + 6 : i + WITHDRAWAL_BYTES], "big"),
        )
        for i in range(end, len(payload), WITHDRAWAL_BYTES)
    ]
    return trades, withdrawals


def _unpack_trade(item: bytes) -> Trade:
    return Trade(
        buyer=int.from_bytes(item[0:4], "big"),
        seller=int.from_bytes(item[4:8], "big"),
        market=int.from_bytes(item[8:10], "big"),
        base=int.from_bytes(item[10:16], "big"),
        quote=int.from_bytes(item[16:22], "big"),
        buyer_fee=int.from_bytes(item[22:27], "big", signed=True),
        seller_fee=int.from_bytes(item[27:32], "big", signed=True),
    )


def markets_fit(config: MarketConfig) -> list[str]:
    """Why some fill the configured limits allow could not be packed; empty when all can.

    The largest fill of a symbol moves ``max_qty`` lots and at most ``max_notional`` quote units,
    and pays at most ``ceil(max_notional * bps / 10_000)`` in fees.
    """
    problems = []
    fee_limit = (1 << (FEE_BITS - 1)) - 1
    for s in config.symbols:
        if s.max_qty * s.lot_size >= 1 << AMOUNT_BITS:
            problems.append(f"{s.name}: max_qty of {s.max_qty} lots overflows the base field")
        if s.max_notional >= 1 << AMOUNT_BITS:
            problems.append(f"{s.name}: max_notional {s.max_notional} overflows the quote field")
        largest_fee = -(-s.max_notional * max(s.taker_bps, abs(s.maker_bps)) // 10_000)
        if largest_fee > fee_limit:
            problems.append(f"{s.name}: a fee of {largest_fee} overflows the fee fields")
    return problems
