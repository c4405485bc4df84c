"""Binance's JSON shapes for bluebook's orders, trades and balances (decimal strings, ms times).

A market order reports price ``"0"`` (its engine price is only a protection bound); a post-only
limit order is ``LIMIT_MAKER``; an order the engine expired for self-trade prevention reports
``EXPIRED``. Fees are charged in the quote asset, so ``commissionAsset`` is always the quote.
"""

from __future__ import annotations

from typing import Any

from api.binance.names import BinanceNames
from api.binance.orderlog import Execution, OrderState, TradeFact
from matcher.enums import OrderStatus, OrderType, Side, Stp, TimeInForce

NS_PER_MS = 1_000_000
STATUS = {
    int(OrderStatus.NEW): "NEW",
    int(OrderStatus.PARTIALLY_FILLED): "PARTIALLY_FILLED",
    int(OrderStatus.FILLED): "FILLED",
    int(OrderStatus.CANCELLED): "CANCELED",
    int(OrderStatus.EXPIRED): "EXPIRED",
}
SIDES = {"BUY": int(Side.BUY), "SELL": int(Side.SELL)}
SIDE_NAMES = {value: name for name, value in SIDES.items()}
TIFS = {"GTC": int(TimeInForce.GTC), "IOC": int(TimeInForce.IOC), "FOK": int(TimeInForce.FOK)}
TIF_NAMES = {int(tif): tif.name for tif in TimeInForce}
STPS = {stp.name: int(stp) for stp in Stp}
STP_NAMES = {value: name for name, value in STPS.items()}


def order_type_name(state: OrderState) -> str:
    if state.order_type == OrderType.MARKET:
        return "MARKET"
    return "LIMIT_MAKER" if state.post_only else "LIMIT"


class Views:
    def __init__(self, names: BinanceNames) -> None:
        self.names = names
        self.units = names.units

    def price(self, symbol: str, ticks: int) -> str:
        return self.units.price_text(symbol, ticks)

    def qty(self, symbol: str, lots: int) -> str:
        return self.units.qty_text(symbol, lots)

    def quote(self, symbol: str, amount: int) -> str:
        return self.units.amount_text(self.units.symbols[symbol].quote, amount)

    def ack(self, state: OrderState) -> dict[str, Any]:
        """``newOrderRespType=ACK``; ``transactTime`` is the order's last change (a cancel's own)."""
        return {
            "symbol": self.names.symbol_id(state.symbol),
            "orderId": state.order_id,
            "orderListId": -1,
            "clientOrderId": state.client_order_id or "",
            "transactTime": state.updated_ns // NS_PER_MS,
        }

    def result(self, state: OrderState) -> dict[str, Any]:
        """``newOrderRespType=RESULT``: the order as it stands after its own command."""
        view = self.ack(state)
        view.update(self._fields(state))
        view["workingTime"] = state.created_ns // NS_PER_MS
        return view

    def order(self, state: OrderState) -> dict[str, Any]:
        """An order as ``GET /api/v3/order`` and ``openOrders`` give it."""
        s = state.symbol
        return {
            "symbol": self.names.symbol_id(s),
            "orderId": state.order_id,
            "orderListId": -1,
            "clientOrderId": state.client_order_id or "",
            **self._fields(state),
            "stopPrice": "0",
            "icebergQty": "0",
            "time": state.created_ns // NS_PER_MS,
            "updateTime": state.updated_ns // NS_PER_MS,
            "isWorking": state.leaves > 0,
            "workingTime": state.created_ns // NS_PER_MS,
            "origQuoteOrderQty": "0",
        }

    def _fields(self, state: OrderState) -> dict[str, Any]:
        s = state.symbol
        market = state.order_type == OrderType.MARKET
        return {
            "price": "0" if market else self.price(s, state.price),
            "origQty": self.qty(s, state.qty),
            "executedQty": self.qty(s, state.filled),
            "cummulativeQuoteQty": self.quote(s, state.quote),
            "status": STATUS[state.status],
            "timeInForce": TIF_NAMES[state.tif],
            "type": order_type_name(state),
            "side": SIDE_NAMES[state.side],
            "selfTradePreventionMode": STP_NAMES[state.stp],
        }

    def fill(self, symbol: str, trade: TradeFact) -> dict[str, Any]:
        """One entry of a FULL response's ``fills``."""
        return {
            "price": self.price(symbol, trade.price),
            "qty": self.qty(symbol, trade.qty),
            "commission": self.quote(symbol, trade.fee),
            "commissionAsset": self.names.asset_id(self.units.symbols[symbol].quote),
            "tradeId": trade.trade_id,
        }

    def execution_report(self, execution: Execution, event_ms: int) -> dict[str, Any]:
        """The user data stream's ``executionReport`` for one change."""
        state, trade, s = execution.order, execution.trade, execution.order.symbol
        market = state.order_type == OrderType.MARKET
        return {
            "e": "executionReport",
            "E": event_ms,
            "s": self.names.symbol_id(s),
            "c": state.client_order_id or "",
            "S": SIDE_NAMES[state.side],
            "o": order_type_name(state),
            "f": TIF_NAMES[state.tif],
            "q": self.qty(s, state.qty),
            "p": "0" if market else self.price(s, state.price),
            "P": "0",
            "F": "0",
            "g": -1,
            "C": "",
            "x": execution.kind,
            "X": STATUS[state.status],
            "r": "NONE",
            "i": state.order_id,
            "l": self.qty(s, trade.qty) if trade else "0",
            "z": self.qty(s, state.filled),
            "L": self.price(s, trade.price) if trade else "0",
            "n": self.quote(s, trade.fee) if trade else "0",
            "N": self.names.asset_id(self.units.symbols[s].quote) if trade else None,
            "T": execution.ts // NS_PER_MS,
            "t": trade.trade_id if trade else -1,
            "I": 0,
            "w": state.leaves > 0 and not market,
            "m": bool(trade and trade.maker),
            "M": False,
            "O": state.created_ns // NS_PER_MS,
            "Z": self.quote(s, state.quote),
            "Y": self.quote(s, trade.quote) if trade else "0",
            "Q": "0",
            "W": state.created_ns // NS_PER_MS,
            "V": STP_NAMES[state.stp],
        }
