"""Engine: every symbol's book and every account, behind one entry point, ``apply(command)``.

Rules:

- Deterministic: the same commands give the same events, byte for byte. No clock, no randomness:
  time is the command's ``ts``; order ids are the ``seq`` of the command that placed them; trade
  ids count up per symbol.
- Commands arrive with ``seq`` exactly one above the last and ``ts`` never going backwards (the
  sequencer guarantees both; a breach raises ``SequenceError``). Every event carries the ``seq``.
- A rejected command changes nothing and yields one ``Rejected`` event with its code (after
  whatever housekeeping or, in the closed session, a re-anchoring of the band did first).
- Before a command is applied, GTD orders whose ``expire_at <= ts`` expire, and client order ids
  older than the retention window are forgotten.
- Pre-trade risk: an order holds what it could spend before it reaches the book (see
  ``matcher.accounts``); fills move held funds between the two accounts and the fee account;
  cancels, expiries and STP release them. No balance goes negative; every asset is conserved.
- A client order id is remembered per account for the retention window whether its order is
  open or done; a repeat inside the window returns ``Duplicate`` with the original's id and state.
  Rejected orders do not take their client id. An id whose order is still open when its window
  ends is kept one more window from then (checked again at its end), so an id is never forgotten
  early: at least the window after placement and while open, at most one window after it closed.
- Gating (on after ``SetSessions``, see ``matcher.gating``): an order on a halted symbol is
  collected without matching (a limit order that can rest; others are refused); cancels work,
  and amends only cut quantity. The halt ends with the reopening auction (``matcher.reopening``)
  on the first command at or after its end. Time-driven gating changes run with housekeeping.
- Amend checks the new size against the symbol's maximums (lots already filled + new leaves
  ≤ ``max_qty``; new leaves × new price ≤ ``max_notional``), not its minimums: a partly filled
  order may be cut below ``min_qty``. Its hold changes before the book sees it.

Speed: ``apply`` is a closure built once (``_build_apply``) over the dicts it reads on every
command; placing and cancelling, nearly all traffic, run inline in it, reading each symbol's
book commands, balance slots and limits from one tuple (``refresh_hot``). A GTC limit passes most
of its validation with a few comparisons and enters the book through ``submit_limit``, which
skips the checks the engine has made. The books settle fills and releases into the balance rows
themselves, in the match loop (each has a ``Ledger``): the engine takes holds, the book moves them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from matcher.accounts import Accounts, Ledger, buy_hold_per_lot
from matcher.auction import clearing_price
from matcher.book import (
    O_ACCOUNT,
    O_CLIENT_ID,
    O_ID,
    O_LEAVES,
    O_PRICE,
    O_SIDE,
    Order,
    OrderBook,
    order_filled,
    order_status,
)
from matcher.commands import (
    AmendOrder,
    CancelAll,
    CommandKind,
    Deposit,
    SetReference,
    SetSessions,
    SetTradingStatus,
    Tick,
    Withdraw,
)
from matcher.config import MarketConfig, SymbolConfig
from matcher.enums import CancelReason, OrderType, Side, Stp, TimeInForce
from matcher.errors import SequenceError
from matcher.events import (
    ACCEPTED,
    AUCTION_INDICATIVE,
    DEPOSITED,
    DUPLICATE,
    HALTED,
    REJECTED,
    RESUMED,
    WITHDRAWN,
)
from matcher.gating import AT_EDGE, COLLECT, REVIEW, Gate, table_of
from matcher.halts import OPERATED, HaltReason
from matcher.rejects import Reject
from matcher.reopening import uncross

Events = list[tuple[Any, ...]]

BUY = int(Side.BUY)
SELL = int(Side.SELL)
LIMIT = int(OrderType.LIMIT)
MARKET = int(OrderType.MARKET)
GTC = int(TimeInForce.GTC)
GTD = int(TimeInForce.GTD)
IOC = int(TimeInForce.IOC)
R_USER = int(CancelReason.USER)
R_ADMIN = int(CancelReason.ADMIN)
FOK = int(TimeInForce.FOK)
PLACE_ORDER = int(CommandKind.PLACE_ORDER)
CANCEL_ORDER = int(CommandKind.CANCEL_ORDER)
NO_EXPIRY = 1 << 63
_VALID_TIF = frozenset(int(t) for t in TimeInForce)
_VALID_STP = frozenset(int(s) for s in Stp)
UNKNOWN_SYMBOL = int(Reject.UNKNOWN_SYMBOL)
UNKNOWN_ORDER = int(Reject.UNKNOWN_ORDER)
INVALID_SIDE = int(Reject.INVALID_SIDE)
NOTIONAL_BELOW_MIN = int(Reject.NOTIONAL_BELOW_MIN)
NOTIONAL_ABOVE_MAX = int(Reject.NOTIONAL_ABOVE_MAX)
INSUFFICIENT_FUNDS = int(Reject.INSUFFICIENT_FUNDS)
NO_LIQUIDITY = int(Reject.NO_LIQUIDITY)
SYMBOL_HALTED = int(Reject.SYMBOL_HALTED)
#: The halt reasons ``SetTradingStatus`` may name (it may only turn the breaker off).
_STATUS_REASONS = frozenset(int(r) for r in (*OPERATED, HaltReason.CIRCUIT_BREAKER))


class Market:
    """One symbol's book and the integers its risk checks need, flattened for the hot path."""

    __slots__ = ("config", "book", "base", "quote", "lot", "k", "max_fee_bps", "limits", "ledger")

    def __init__(
        self,
        config: SymbolConfig,
        base: int,
        quote: int,
        quote_per_tick_lot: int,
        accounts: Accounts,
        fee_account: int,
    ) -> None:
        self.config = config
        self.base = base
        self.quote = quote
        self.lot = config.lot_size
        self.k = quote_per_tick_lot
        self.ledger = Ledger(accounts.rows, 2 * base, 2 * quote, self.lot, fee_account)
        self.rebuild_book()
        self.max_fee_bps = max(config.maker_bps, config.taker_bps, 0)
        self.limits = (config.min_qty, config.max_qty, config.min_notional, config.max_notional)

    def rebuild_book(self, next_trade_id: int = 1) -> None:
        """Start this symbol over with an empty book (restoring fills it with ``book.load``)."""
        config = self.config
        self.book = OrderBook(
            config.name,
            maker_bps=config.maker_bps,
            taker_bps=config.taker_bps,
            quote_per_tick_lot=self.k,
            next_trade_id=next_trade_id,
            typed_fills=False,
            ledger=self.ledger,
            min_notional=config.min_notional,
            max_notional=config.max_notional,
        )

    def hold_of(self, side: int, price: int, leaves: int) -> tuple[int, int]:
        """(asset index, amount) that ``leaves`` lots of an order at ``price`` hold."""
        if side == BUY:
            return self.quote, leaves * buy_hold_per_lot(price, self.k, self.max_fee_bps)
        return self.base, leaves * self.lot


class Engine:
    """All books and accounts. ``apply(command)`` is the only way to change anything."""

    #: Apply one stamped command; return its events (possibly a single ``Rejected``).
    apply: Callable[[tuple[Any, ...]], Events]

    def __init__(self, config: MarketConfig) -> None:
        self.config = config
        self.accounts = Accounts([a.name for a in config.assets])
        self.accounts.row(config.fee_account)
        index = self.accounts.index
        self.markets: dict[str, Market] = {
            s.name: Market(
                s,
                index[s.base],
                index[s.quote],
                config.quote_per_tick_lot(s.name),
                self.accounts,
                config.fee_account,
            )
            for s in config.symbols
        }
        self._rows = self.accounts.rows
        self._fee_row = self._rows[config.fee_account]
        self._client_ids: dict[tuple[int, str], tuple[str, Order]] = {}
        #: (forget at, key, entry) in time order; an entry of a still-open order is kept longer.
        self._client_id_log: deque[tuple[int, tuple[int, str], tuple[str, Order]]] = deque()
        self._retention = config.client_id_retention_ns
        self._deposit_refs: set[str] = set()
        self._next_expiry = NO_EXPIRY
        #: The earliest command time at which a GTD order expires or a client id is forgotten.
        self._next_due = NO_EXPIRY
        #: Per symbol, what placing and cancelling need, each as one tuple (see ``refresh_hot``).
        self._placing: dict[str, tuple[Any, ...]] = {}
        self._cancelling: dict[str, tuple[Any, ...]] = {}
        #: Market-hours gating, on once a ``SetSessions`` command arrives (``matcher.gating``).
        self.gate: Gate | None = None
        self.refresh_hot()
        self.apply, self._clock, self._set_clock = _build_apply(self)

    @property
    def seq(self) -> int:
        """The seq of the last command applied (0 before the first)."""
        return self._clock()[0]

    @seq.setter
    def seq(self, seq: int) -> None:
        self._set_clock(seq, self.ts)

    @property
    def ts(self) -> int:
        """The time of the last command applied."""
        return self._clock()[1]

    @ts.setter
    def ts(self, ts: int) -> None:
        self._set_clock(self.seq, ts)

    def refresh_hot(self) -> None:
        """Rebuild, in place, the per-symbol tuples of the hot path (after a book is replaced).

        Placing: the book's ``place_limit``, min and max qty. Cancelling: the book's ``cancel``
        (for a halted symbol, one that publishes the auction's indication after it) and
        ``order``; the ``Market``.
        """
        halts = self.gate.halts if self.gate is not None else {}
        for name, m in self.markets.items():
            book = m.book
            cancel = self._indicating_cancel(name, book.cancel) if name in halts else book.cancel
            self._placing[name] = (book.place_limit, m.limits[0], m.limits[1])
            self._cancelling[name] = (cancel, book.order, m)

    def _indicating_cancel(self, symbol: str, cancel: Callable[..., Events]) -> Callable[..., Events]:
        def cancel_and_indicate(order_id: int, reason: int, seq: int) -> Events:
            return cancel(order_id, reason, seq) + self._indicative(symbol, seq, self.ts)

        return cancel_and_indicate

    # ------------------------------------------------------------ queries

    def book(self, symbol: str) -> OrderBook:
        return self.markets[symbol].book

    def balance(self, account: int, asset: str) -> tuple[int, int]:
        return self.accounts.balance(account, asset)

    def order_by_client_id(self, account: int, client_order_id: str) -> tuple[str, Order] | None:
        """(symbol, order record) of a client id still inside its retention window."""
        return self._client_ids.get((account, client_order_id))

    # ------------------------------------------------------------ orders

    def _remember(
        self, order: Order, symbol: str, account: int, cid: str | None, tif: int, expire_at: int, ts: int
    ) -> None:
        """Keep a new order's client id for the retention window; note a resting GTD's expiry."""
        if cid is not None:
            key = (account, cid)
            known = self._client_ids[key] = (symbol, order)
            forget_at = ts + self._retention
            self._client_id_log.append((forget_at, key, known))
            if forget_at < self._next_due:
                self._next_due = forget_at
        if tif == GTD and order[O_LEAVES] and expire_at < self._next_expiry:
            self._next_expiry = expire_at
            if expire_at < self._next_due:
                self._next_due = expire_at

    def _check_order(
        self,
        market: Market,
        side: int,
        order_type: int,
        price: int,
        qty: int,
        tif: int,
        post_only: bool,
        stp: int,
        expire_at: int,
        ts: int,
    ) -> Reject | None:
        """The validation reject for an order's fields, or None when they are well-formed."""
        if not isinstance(side, int) or (side != BUY and side != SELL):
            return Reject.INVALID_SIDE
        if not isinstance(order_type, int) or (order_type != LIMIT and order_type != MARKET):
            return Reject.INVALID_ORDER_TYPE
        if not isinstance(tif, int) or tif not in _VALID_TIF:
            return Reject.INVALID_TIME_IN_FORCE
        if not isinstance(stp, int) or stp not in _VALID_STP:
            return Reject.INVALID_STP
        if type(qty) is not int or qty < 1:
            return Reject.INVALID_QTY
        if type(price) is not int or price < 0 or (price == 0 and order_type == LIMIT):
            return Reject.INVALID_PRICE
        min_qty, max_qty, _, _ = market.limits
        if qty < min_qty:
            return Reject.QTY_BELOW_MIN
        if qty > max_qty:
            return Reject.QTY_ABOVE_MAX
        if post_only and (order_type != LIMIT or (tif != GTC and tif != GTD)):
            return Reject.POST_ONLY_NOT_LIMIT
        if tif == GTD and expire_at <= ts:
            return Reject.INVALID_EXPIRY
        return None

    def _protection_price(self, market: Market, side: int) -> int:
        """The bound of a market order without one: the best opposite price ± the protection."""
        bps = market.config.market_protection_bps
        if side == BUY:
            best = market.book.best_ask()
            return 0 if best is None else best * (10_000 + bps) // 10_000
        best = market.book.best_bid()
        return 0 if best is None else max(1, -(-best * (10_000 - bps) // 10_000))

    def _cancel_all(self, cmd: CancelAll) -> Events:
        _, seq, _ts, account, symbol = cmd
        if symbol and symbol not in self.markets:
            return _rejected(seq, symbol, 0, account, Reject.UNKNOWN_SYMBOL, None)
        events: Events = []
        for market in [self.markets[symbol]] if symbol else self.markets.values():
            cancelled = market.book.cancel_all(account, seq=seq)
            events += cancelled
            if cancelled and self.gate is not None and market.config.name in self.gate.halts:
                events += self._indicative(market.config.name, seq, _ts)
        return events

    def _set_reference(self, cmd: SetReference) -> Events:
        """Record a symbol's (or the breaker index's) reference price (gating must be on; an
        unknown symbol is refused). The band moves: a book now at its edge starts a limit-state
        watch, a halted book's indication is published again, and a halt may end here."""
        _, seq, ts, _, symbol, price, source_ns, _, _ = cmd
        gate = self.gate
        index = gate is not None and symbol == gate.rules.index_symbol != ""
        if symbol not in self.markets and not index:
            return _rejected(seq, symbol, 0, 0, Reject.UNKNOWN_SYMBOL, None)
        if gate is None or type(price) is not int or price <= 0 or type(source_ns) is not int:
            return _rejected(seq, symbol, 0, 0, Reject.INVALID_PRICE, None)
        events = gate.set_reference(symbol, price, source_ns, ts, seq)
        if not index:
            book = self.markets[symbol].book
            gate.watch_book(symbol, ts, book.best_bid(), book.best_ask())
            if symbol in gate.halts:
                events += self._indicative(symbol, seq, ts)
        return self._advance_gate(ts, seq, events)

    def _set_sessions(self, cmd: SetSessions) -> Events:
        """Turn gating on with this session table (every symbol without a reference halts), or
        replace the table (references and halts are kept)."""
        _, seq, ts, _, edges, kinds, end, closes = cmd
        table = table_of(edges, kinds, end, closes)
        events: Events = []
        if self.gate is None:
            self.gate = Gate(table, self.config.gating_rules)
            events = self.gate.start({name: m.config.tier for name, m in self.markets.items()}, ts, seq)
        else:
            self.gate.set_table(table, ts)
        return self._advance_gate(ts, seq, events)

    def _set_trading_status(self, cmd: SetTradingStatus) -> Events:
        """Turn an operated halt reason on or off for one symbol or (symbol "") all; a corporate
        action cancels the open orders of the symbols it halts."""
        _, seq, ts, _, symbol, reason, on = cmd
        if symbol and symbol not in self.markets:
            return _rejected(seq, symbol, 0, 0, Reject.UNKNOWN_SYMBOL, None)
        gate = self.gate
        if (
            gate is None
            or reason not in _STATUS_REASONS
            or on not in (0, 1)
            or (on and reason not in OPERATED)
        ):
            return _rejected(seq, symbol, 0, 0, Reject.INVALID_AMOUNT, None)
        events = gate.set_status(symbol, HaltReason(reason), bool(on), ts, seq)
        if on and reason == HaltReason.CORPORATE_ACTION:
            for market in [self.markets[symbol]] if symbol else self.markets.values():
                cancelled: Events = []
                for order in market.book.resting_orders():
                    cancelled += market.book.cancel(order[O_ID], R_ADMIN, seq)
                events += cancelled
        return self._advance_gate(ts, seq, events)

    # ------------------------------------------------------------ halts

    def _advance_gate(self, ts: int, seq: int, before: Events) -> Events:
        """Bring gating to ``ts`` (``Gate.advance``) and run the auctions of the halts that end;
        return ``before`` (the command's events so far) and those events."""
        gate = self.gate
        assert gate is not None
        advanced, reopening = gate.advance(ts, seq, self._quotes)
        events = before + advanced
        for symbol in reopening:
            market = self.markets[symbol]
            reference, low, high = gate.auction_terms(symbol, ts)
            events += uncross(market, self._rows, self._fee_row, reference, low, high, seq)
            gate.resume(symbol)
            events.append((RESUMED, seq, symbol))
            gate.watch_book(symbol, ts, market.book.best_bid(), market.book.best_ask())
        if reopening or any(event[0] == HALTED for event in events):
            self.refresh_hot()
        self._next_due = min(self._next_due, gate.next_due)
        return events

    def _quotes(self, symbol: str) -> tuple[int | None, int | None]:
        book = self.markets[symbol].book
        return book.best_bid(), book.best_ask()

    def _indicative(self, symbol: str, seq: int, ts: int) -> Events:
        """The auction indication of a halted symbol's book, if it changed since the last one."""
        gate = self.gate
        assert gate is not None
        bids, asks = self.markets[symbol].book.levels()
        reference, low, high = gate.auction_terms(symbol, ts)
        changed = gate.indicate(symbol, clearing_price(bids, asks, reference, low, high))
        return [] if changed is None else [(AUCTION_INDICATIVE, seq, symbol, *changed)]

    def _place(self, command: tuple[Any, ...]) -> Events:
        """Place any order but a well-formed GTC limit (``apply`` takes those): the full field
        check, gating, a market order's protection price, the hold, then the book."""
        _, seq, ts, account, symbol, side, order_type, price, qty, tif, post_only, stp, cid, expire_at = (
            command
        )
        market = self.markets[symbol]
        invalid = self._check_order(market, side, order_type, price, qty, tif, post_only, stp, expire_at, ts)
        if invalid is not None:
            return _rejected(seq, symbol, seq, account, invalid, cid)
        gate = self.gate
        if gate is not None:  # after validation, before matching: the stages' order
            code, price = gate.check(symbol, side, order_type, price, qty, market.limits[1], ts)
            if code:
                if code < 0:  # halted, closed-session or band-edge orders take the slower path
                    return self._place_gated(command, code)
                return _rejected(seq, symbol, seq, account, code, cid)
        if order_type == MARKET:
            tif = IOC
            if not price:
                price = self._protection_price(market, side)
                if not price:
                    return _rejected(seq, symbol, seq, account, NO_LIQUIDITY, cid)
        refused, row, slot, hold = self._take_hold(market, account, side, price, qty)
        if refused:
            return _rejected(seq, symbol, seq, account, refused, cid)
        book = market.book
        events = book.submit(
            seq, account, side, price, qty, tif, order_type, post_only, stp, cid, expire_at, seq
        )
        if post_only and events[0][0] != ACCEPTED:  # it would have taken: the hold goes back
            row[slot] += hold
            row[slot + 1] -= hold
            return events
        if cid is not None or tif == GTD:
            self._remember(book.last_order(), symbol, account, cid, tif, expire_at, ts)
        return events

    def _take_hold(
        self, market: Market, account: int, side: int, price: int, qty: int
    ) -> tuple[int, list[int], int, int]:
        """Check an order's notional and funds and take its hold: (0, the balance row, the slot
        of available, the hold), or (the reject code, ...) with nothing taken."""
        if side != BUY and side != SELL:
            return INVALID_SIDE, [], 0, 0
        _, _, min_notional, max_notional = market.limits
        notional = price * qty * market.k
        if not min_notional <= notional <= max_notional:
            return NOTIONAL_BELOW_MIN if notional < min_notional else NOTIONAL_ABOVE_MAX, [], 0, 0
        asset, hold = market.hold_of(side, price, qty)
        row = self._rows.get(account)
        slot = 2 * asset
        if row is None or row[slot] < hold:
            return INSUFFICIENT_FUNDS, [], 0, 0
        row[slot] -= hold
        row[slot + 1] += hold
        return 0, row, slot, hold

    def _place_gated(self, command: tuple[Any, ...], code: int) -> Events:
        """Place an order that ``Gate.check`` sent to this slower path (``COLLECT``, ``REVIEW``,
        ``AT_EDGE``), once its fields have passed validation: the hot path's risk and entry
        steps, plus collecting without matching, re-anchoring first, or watching the edge."""
        _, seq, ts, account, symbol, side, order_type, price, qty, tif, post_only, stp, cid, expire_at = (
            command
        )
        gate = self.gate
        assert gate is not None
        market = self.markets[symbol]
        book = market.book
        events: Events = []
        if code == REVIEW:  # the closed session: the band may first re-anchor on the mid
            events = gate.reanchor(symbol, ts, seq, book.best_bid(), book.best_ask())
            code, price = gate.check(
                symbol, side, order_type, price, qty, market.limits[1], ts, reviewed=True
            )
            if code > 0:
                return events + _rejected(seq, symbol, seq, account, code, cid)
        if code == COLLECT and (tif == IOC or tif == FOK):
            return _rejected(seq, symbol, seq, account, SYMBOL_HALTED, cid)
        if order_type == MARKET:
            tif = IOC
        refused, row, slot, hold = self._take_hold(market, account, side, price, qty)
        if refused:
            return events + _rejected(seq, symbol, seq, account, refused, cid)
        if code == COLLECT:
            order = [seq, account, side, price, qty, qty, 0, cid, expire_at, tif, post_only, stp]
            book.load(order)
            placed = [(ACCEPTED, seq, symbol, seq, account, side, price, qty, order_type, tif, cid)]
        else:
            placed = book.submit(
                seq, account, side, price, qty, tif, order_type, post_only, stp, cid, expire_at, seq
            )
            if post_only and placed[0][0] != ACCEPTED:
                row[slot] += hold
                row[slot + 1] -= hold
                return events + placed
            order = book.last_order()
            if code == AT_EDGE:
                self._next_due = min(self._next_due, ts + 1)
        if cid is not None or tif == GTD:
            self._remember(order, symbol, account, cid, tif, expire_at, ts)
        events += placed
        if code == COLLECT:
            events += self._indicative(symbol, seq, ts)
        return events

    def _amend(self, cmd: AmendOrder) -> Events:
        _, seq, _ts, account, symbol, order_id, price, qty = cmd
        market = self.markets.get(symbol)
        if market is None:
            return _rejected(seq, symbol, order_id, account, Reject.UNKNOWN_SYMBOL, None)
        order = self._own_order(market, account, order_id, None)
        if order is None:
            return _rejected(seq, symbol, order_id, account, Reject.UNKNOWN_ORDER, None)
        cid = order[O_CLIENT_ID]
        if type(price) is not int or type(qty) is not int or price < 0 or qty < 0:
            return _rejected(seq, symbol, order_id, account, Reject.INVALID_AMEND, cid)
        side = order[O_SIDE]
        old_price = order[O_PRICE]
        old_leaves = order[O_LEAVES]
        new_price = price or old_price
        new_leaves = qty or old_leaves
        min_qty, max_qty, min_notional, max_notional = market.limits
        halted = self.gate is not None and symbol in self.gate.halts
        if halted and (new_price != old_price or new_leaves > old_leaves):
            return _rejected(seq, symbol, order_id, account, Reject.SYMBOL_HALTED, cid)  # only down
        if self.gate is not None and new_price != old_price:
            code, _ = self.gate.check(symbol, side, LIMIT, new_price, new_leaves, max_qty, _ts, reviewed=True)
            if code > 0:
                return _rejected(seq, symbol, order_id, account, Reject(code), cid)
            if code == AT_EDGE:
                self._next_due = min(self._next_due, _ts + 1)
        if order_filled(order) + new_leaves > max_qty:
            return _rejected(seq, symbol, order_id, account, Reject.QTY_ABOVE_MAX, cid)
        if new_price * new_leaves * market.k > max_notional:
            return _rejected(seq, symbol, order_id, account, Reject.NOTIONAL_ABOVE_MAX, cid)
        asset, old_hold = market.hold_of(side, old_price, old_leaves)
        _, new_hold = market.hold_of(side, new_price, new_leaves)
        row = self.accounts.rows[account]
        slot = 2 * asset
        delta = new_hold - old_hold
        if delta > row[slot]:
            return _rejected(seq, symbol, order_id, account, Reject.INSUFFICIENT_FUNDS, cid)
        row[slot] -= delta
        row[slot + 1] += delta
        events = market.book.amend(order_id, price=new_price, qty=new_leaves, seq=seq)
        if events[0][0] == REJECTED:
            row[slot] += delta
            row[slot + 1] -= delta
            return events
        if halted:
            events += self._indicative(symbol, seq, _ts)
        return events

    def _own_order(self, market: Market, account: int, order_id: int, cid: str | None) -> Order | None:
        """The account's resting order on this market, by id or (id 0) by client id."""
        if not order_id and cid is not None:
            known = self._client_ids.get((account, cid))
            if known is None or known[0] != market.config.name:
                return None
            order_id = known[1][O_ID]
        order = market.book.order(order_id)
        if order is None or order[O_ACCOUNT] != account:
            return None
        return order

    # ------------------------------------------------------------ money

    def _deposit(self, cmd: Deposit) -> Events:
        _, seq, _ts, account, asset, amount, ref = cmd
        index = self.accounts.index.get(asset)
        if index is None:
            return _rejected(seq, "", 0, account, Reject.UNKNOWN_ASSET, None)
        if type(amount) is not int or amount < 1:
            return _rejected(seq, "", 0, account, Reject.INVALID_AMOUNT, None)
        if ref in self._deposit_refs:
            return _rejected(seq, "", 0, account, Reject.DUPLICATE_DEPOSIT, None)
        self._deposit_refs.add(ref)
        self.accounts.credit(account, index, amount)
        return [(DEPOSITED, seq, account, asset, amount, ref)]

    def _withdraw(self, cmd: Withdraw) -> Events:
        _, seq, _ts, account, asset, amount = cmd
        index = self.accounts.index.get(asset)
        if index is None:
            return _rejected(seq, "", 0, account, Reject.UNKNOWN_ASSET, None)
        if type(amount) is not int or amount < 1:
            return _rejected(seq, "", 0, account, Reject.INVALID_AMOUNT, None)
        if not self.accounts.debit(account, index, amount):
            return _rejected(seq, "", 0, account, Reject.INSUFFICIENT_FUNDS, None)
        return [(WITHDRAWN, seq, account, asset, amount)]

    # ------------------------------------------------------------ time

    def _tick(self, cmd: Tick) -> Events:
        return []

    def _housekeeping(self, ts: int, seq: int) -> Events:
        """Forget old client ids, expire due GTD orders and bring gating to ``ts``; return the
        expiries' and gating's events."""
        log = self._client_id_log
        if log and log[0][0] <= ts:
            self._forget_client_ids(ts)
        events = self._expire(ts, seq) if ts >= self._next_expiry else []
        gate = self.gate
        self._next_due = min(self._next_expiry, log[0][0] if log else NO_EXPIRY)
        if gate is not None:
            if ts >= gate.next_due:
                events = self._advance_gate(ts, seq, events)
            self._next_due = min(self._next_due, gate.next_due)
        return events

    def _expire(self, ts: int, seq: int) -> Events:
        events: Events = []
        next_expiry = NO_EXPIRY
        for market in self.markets.values():
            book = market.book
            due = book.next_expiry()
            if due is not None and due <= ts:
                expired = book.expire(ts, seq=seq)
                events += expired
                if expired and self.gate is not None and market.config.name in self.gate.halts:
                    events += self._indicative(market.config.name, seq, ts)
                due = book.next_expiry()
            if due is not None and due < next_expiry:
                next_expiry = due
        self._next_expiry = next_expiry
        return events

    def _forget_client_ids(self, ts: int) -> None:
        log = self._client_id_log
        ids = self._client_ids
        while log and log[0][0] <= ts:
            _, key, entry = log.popleft()
            if ids.get(key) is not entry:
                continue
            if entry[1][O_LEAVES]:
                log.append((ts + self._retention, key, entry))
            else:
                del ids[key]

    # ------------------------------------------------------------ checking

    def validate(self) -> None:
        """Raise ``InvariantError`` unless every book is sound (a halted symbol's may be
        crossed), money is conserved, no balance is negative and every held balance equals what
        its account's open orders need."""
        holds: dict[tuple[int, int], int] = {}
        halts = self.gate.halts if self.gate is not None else {}
        for name, market in self.markets.items():
            market.book.validate(crossed_ok=name in halts)
            for order in market.book.resting_orders():
                asset, amount = market.hold_of(order[O_SIDE], order[O_PRICE], order[O_LEAVES])
                key = (order[O_ACCOUNT], asset)
                holds[key] = holds.get(key, 0) + amount
        self.accounts.validate(holds)


def _rejected(seq: int, symbol: str, order_id: int, account: int, code: int, cid: str | None) -> Events:
    return [(REJECTED, seq, symbol, order_id, account, int(code), cid)]


def _build_apply(
    engine: Engine,
) -> tuple[Callable[[tuple[Any, ...]], Events], Callable[[], tuple[int, int]], Callable[[int, int], None]]:
    """Make ``engine.apply``: a closure over the dicts it reads on every command, with placing and
    cancelling (nearly all traffic) inline; the other commands go to the engine's methods. The
    last command's seq and time live in the closure too: also returned, a reader and a writer
    of them (``Engine.seq`` and ``Engine.ts``)."""
    placing = engine._placing
    cancelling = engine._cancelling
    client_ids = engine._client_ids
    handlers: dict[int, Callable[[Any], Events]] = {
        CommandKind.CANCEL_ALL: engine._cancel_all,
        CommandKind.AMEND_ORDER: engine._amend,
        CommandKind.DEPOSIT: engine._deposit,
        CommandKind.WITHDRAW: engine._withdraw,
        CommandKind.TICK: engine._tick,
        CommandKind.SET_REFERENCE: engine._set_reference,
        CommandKind.SET_SESSIONS: engine._set_sessions,
        CommandKind.SET_TRADING_STATUS: engine._set_trading_status,
    }
    last_seq = 0
    last_ts = 0

    def apply(command: tuple[Any, ...]) -> Events:
        nonlocal last_seq, last_ts
        kind = command[0]
        if kind == PLACE_ORDER:
            _, seq, ts, account, symbol, side, order_type, price, qty, tif, post_only, stp, cid, expire_at = (
                command
            )
            if seq != last_seq + 1 or ts < last_ts:
                raise SequenceError(f"command ({seq}, {ts}) does not follow ({last_seq}, {last_ts})")
            if ts >= engine._next_due:
                # Housekeeping moves ``_next_due`` past ``ts``: the command then takes this path.
                return engine._housekeeping(ts, seq) + apply(command)
            last_seq = seq
            last_ts = ts
            try:
                place_limit, min_qty, max_qty = placing[symbol]
            except KeyError:
                return _rejected(seq, symbol, seq, account, UNKNOWN_SYMBOL, cid)
            if cid is not None:
                known = client_ids.get((account, cid))
                if known is not None:
                    order = known[1]
                    status, filled, leaves = order_status(order), order_filled(order), order[O_LEAVES]
                    return [(DUPLICATE, seq, known[0], order[O_ID], account, cid, status, filled, leaves)]
            # The common order, a GTC limit, passes these few checks; anything else takes the full
            # check, which names the reject. (Enum fields compare equal to their ints; the
            # journal's codec admits only ints, so nothing else arrives there.) Each comparison
            # jumps straight to a short branch, the form CPython 3.11 specializes for ints.
            if tif != GTC or order_type != LIMIT or type(qty) is not int or type(price) is not int:
                return engine._place(command)
            if qty < min_qty or qty > max_qty or price < 1:
                return engine._place(command)
            try:
                if stp not in _VALID_STP:
                    return engine._place(command)
            except TypeError:  # an unhashable STP: the full check names it
                return engine._place(command)
            gate = engine.gate
            if gate is not None:  # after validation, before matching: the stages' order
                code, price = gate.check(symbol, side, order_type, price, qty, max_qty, ts)
                if code:
                    if code < 0:  # halted, closed-session or band-edge orders take the slower path
                        return engine._place_gated(command, code)
                    return _rejected(seq, symbol, seq, account, code, cid)
            # The book checks the side, the notional and the funds, takes the hold, and settles
            # the fills (``matcher.book``, "Money").
            events: Events = place_limit(seq, account, side, price, qty, post_only, stp, cid)
            if cid is not None and events[0][0] == ACCEPTED:
                engine._remember(engine.markets[symbol].book.last_order(), symbol, account, cid, GTC, 0, ts)
            return events
        if kind == CANCEL_ORDER:
            _, seq, ts, account, symbol, order_id, cid = command
            if seq != last_seq + 1 or ts < last_ts:
                raise SequenceError(f"command ({seq}, {ts}) does not follow ({last_seq}, {last_ts})")
            if ts >= engine._next_due:
                return engine._housekeeping(ts, seq) + apply(command)
            last_seq = seq
            last_ts = ts
            try:
                book_cancel, resting, market = cancelling[symbol]
            except KeyError:
                return _rejected(seq, symbol, order_id, account, UNKNOWN_SYMBOL, cid)
            if not order_id:
                own = engine._own_order(market, account, 0, cid)
                order_id = own[O_ID] if own is not None else 0
            resting_order: Order | None = resting(order_id)
            if resting_order is None or resting_order[O_ACCOUNT] != account:
                return _rejected(seq, symbol, order_id, account, UNKNOWN_ORDER, cid)
            cancelled: Events = book_cancel(order_id, R_USER, seq)  # which gives the hold back
            return cancelled
        handler = handlers.get(kind) if type(kind) is int else None
        if handler is None:
            raise TypeError(f"not a command the engine knows: {command!r}")
        seq = command[1]
        ts = command[2]
        if seq != last_seq + 1 or ts < last_ts:
            raise SequenceError(f"command ({seq}, {ts}) does not follow ({last_seq}, {last_ts})")
        last_seq = seq
        last_ts = ts
        if ts >= engine._next_due:
            return engine._housekeeping(ts, seq) + handler(command)
        return handler(command)

    def clock() -> tuple[int, int]:
        return last_seq, last_ts

    def set_clock(seq: int, ts: int) -> None:
        nonlocal last_seq, last_ts
        last_seq = seq
        last_ts = ts

    return apply, clock, set_clock
