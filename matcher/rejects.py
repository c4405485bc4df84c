"""Reject codes: one stable ``IntEnum`` grouped by the stage that refuses a command.

A reject leaves the engine's state unchanged. The hundreds digit is the stage: 1xx validation,
2xx risk, 3xx gating, 4xx matching. Codes are data on the wire (the API maps each to an HTTP status
and a Binance-style ``{code, msg}``): add new members, never renumber or reuse one.
"""

from __future__ import annotations

from enum import IntEnum


class Reject(IntEnum):
    # validation: the command is malformed or out of the symbol's limits
    UNKNOWN_SYMBOL = 100
    UNKNOWN_ORDER = 101
    UNKNOWN_ASSET = 102
    INVALID_SIDE = 103
    INVALID_ORDER_TYPE = 104
    INVALID_TIME_IN_FORCE = 105
    INVALID_STP = 106
    INVALID_PRICE = 107
    PRICE_OFF_TICK = 108
    INVALID_QTY = 109
    QTY_OFF_LOT = 110
    QTY_BELOW_MIN = 111
    QTY_ABOVE_MAX = 112
    NOTIONAL_BELOW_MIN = 113
    NOTIONAL_ABOVE_MAX = 114
    INVALID_EXPIRY = 115
    INVALID_AMOUNT = 116
    INVALID_AMEND = 117
    POST_ONLY_NOT_LIMIT = 118
    DUPLICATE_DEPOSIT = 119
    # risk: the account cannot afford or is not allowed to trade
    INSUFFICIENT_FUNDS = 200
    ACCOUNT_FROZEN = 201
    # gating: the market's session or reference price forbids it
    SYMBOL_HALTED = 300
    ORDER_TYPE_NOT_ALLOWED = 301
    PRICE_OUTSIDE_BAND = 302
    SIZE_ABOVE_SESSION_CAP = 303
    # matching: the book's state forbids it
    POST_ONLY_WOULD_TAKE = 400
    NO_LIQUIDITY = 401

    @property
    def stage(self) -> str:
        return _STAGES[self.value // 100]


_STAGES = {1: "validation", 2: "risk", 3: "gating", 4: "matching"}
