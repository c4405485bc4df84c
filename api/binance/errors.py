"""Binance's error shape, ``{"code": int, "msg": str}``, with Binance's own negative codes.

Each ``Code`` fixes its HTTP status and default message as Binance sends them, so a client
library's mapping of codes to exceptions (ccxt's ``exceptions``) works unchanged. A bluebook
``ApiError`` met on a Binance route is translated by ``translate``: engine rejects by kind
(filters -1013, order rejections -2010, unknown order -2011), bad input -1102, rate limits -1003
(429, or 418 while banned, keeping ``Retry-After``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from api.errors import ApiError, ErrorCode


class Code(IntEnum):
    """A Binance error code with the HTTP status and message Binance gives it."""

    status: int
    message: str

    def __new__(cls, value: int, status: int, message: str) -> Code:
        member = int.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.message = message
        return member

    UNKNOWN = -1000, 500, "An unknown error occurred while processing the request."
    DISCONNECTED = -1001, 503, "Internal error; unable to process your request. Please try again."
    TOO_MANY_REQUESTS = -1003, 429, "Too much request weight used; retry after the time given."
    INVALID_TIMESTAMP = -1021, 400, "Timestamp for this request is outside of the recvWindow."
    INVALID_SIGNATURE = -1022, 400, "Signature for this request is not valid."
    ILLEGAL_CHARS = -1100, 400, "Illegal characters found in a parameter."
    MANDATORY_PARAM = -1102, 400, "A mandatory parameter was not sent, was empty/null, or malformed."
    PARAM_NOT_REQUIRED = -1106, 400, "A parameter was sent when not required."
    INVALID_TIF = -1115, 400, "Invalid timeInForce."
    INVALID_ORDER_TYPE = -1116, 400, "Invalid orderType."
    INVALID_SIDE = -1117, 400, "Invalid side."
    BAD_SYMBOL = -1121, 400, "Invalid symbol."
    INVALID_LISTEN_KEY = -1125, 400, "This listenKey does not exist."
    BAD_INTERVAL = -1120, 400, "Invalid interval."
    BAD_RECV_WINDOW = -1131, 400, "recvWindow must be less than 60000"
    FILTER_FAILURE = -1013, 400, "Filter failure."
    NEW_ORDER_REJECTED = -2010, 400, "Order rejected."
    CANCEL_REJECTED = -2011, 400, "Unknown order sent."
    NO_SUCH_ORDER = -2013, 400, "Order does not exist."
    BAD_API_KEY_FMT = -2014, 401, "API-key format invalid."
    REJECTED_MBX_KEY = -2015, 401, "Invalid API-key, IP, or permissions for action."
    CANCEL_REPLACE_PARTIAL = -2021, 409, "Order cancel-replace partially failed."
    CANCEL_REPLACE_FAILED = -2022, 400, "Order cancel-replace failed."


class BinanceError(Exception):
    """A refusal on a Binance route: its code, message, HTTP status and optional Retry-After."""

    def __init__(
        self,
        code: Code,
        msg: str | None = None,
        *,
        status: int | None = None,
        retry_after: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.msg = msg if msg is not None else code.message
        self.status = status if status is not None else code.status
        self.retry_after = retry_after
        self.data = data
        super().__init__(f"{int(code)}: {self.msg}")

    def body(self) -> dict[str, Any]:
        """``{"code", "msg"}``, and ``data`` when there is more to tell (cancel-replace)."""
        body: dict[str, Any] = {"code": int(self.code), "msg": self.msg}
        if self.data is not None:
            body["data"] = self.data
        return body

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


_FILTERS = {
    ErrorCode.INVALID_PRICE: "Invalid price.",
    ErrorCode.INVALID_QTY: "Invalid quantity.",
    ErrorCode.PRICE_OFF_TICK: "Filter failure: PRICE_FILTER",
    ErrorCode.PRICE_OUTSIDE_BAND: "Filter failure: PERCENT_PRICE_BY_SIDE",
    ErrorCode.QTY_OFF_LOT: "Filter failure: LOT_SIZE",
    ErrorCode.QTY_BELOW_MIN: "Filter failure: LOT_SIZE",
    ErrorCode.QTY_ABOVE_MAX: "Filter failure: LOT_SIZE",
    ErrorCode.NOTIONAL_BELOW_MIN: "Filter failure: NOTIONAL",
    ErrorCode.NOTIONAL_ABOVE_MAX: "Filter failure: NOTIONAL",
}
#: Binance's own wording where it has one (ccxt matches some of these messages exactly).
_REJECTIONS = {
    ErrorCode.INSUFFICIENT_FUNDS: "Account has insufficient balance for requested action.",
    ErrorCode.POST_ONLY_WOULD_TAKE: "Order would immediately match and take.",
    ErrorCode.SYMBOL_HALTED: "Market is closed.",
    ErrorCode.ORDER_TYPE_NOT_ALLOWED: "This order type is not possible in this trading phase.",
    ErrorCode.ACCOUNT_FROZEN: "This action is disabled on this account.",
}
_DIRECT = {
    ErrorCode.UNKNOWN_SYMBOL: Code.BAD_SYMBOL,
    ErrorCode.UNKNOWN_ORDER: Code.CANCEL_REJECTED,
    ErrorCode.INVALID_SIDE: Code.INVALID_SIDE,
    ErrorCode.INVALID_ORDER_TYPE: Code.INVALID_ORDER_TYPE,
    ErrorCode.INVALID_TIME_IN_FORCE: Code.INVALID_TIF,
    ErrorCode.ENGINE_UNAVAILABLE: Code.DISCONNECTED,
    ErrorCode.INTERNAL_ERROR: Code.UNKNOWN,
}


def translate(error: ApiError | BinanceError) -> BinanceError:
    """The Binance error for a bluebook one (see the module docstring); a Binance one as it is."""
    if isinstance(error, BinanceError):
        return error
    code = error.code
    if code in (ErrorCode.RATE_LIMITED, ErrorCode.BANNED):
        return BinanceError(
            Code.TOO_MANY_REQUESTS, error.msg, status=code.status, retry_after=error.retry_after
        )
    if code in _DIRECT:
        return BinanceError(_DIRECT[code])
    if code in _FILTERS:
        return BinanceError(Code.FILTER_FAILURE, _FILTERS[code])
    if code >= 6000:
        return BinanceError(Code.NEW_ORDER_REJECTED, _REJECTIONS.get(code, code.message))
    if 2000 <= code < 3000:
        return BinanceError(Code.MANDATORY_PARAM, error.msg)
    if 1000 <= code < 1100:
        return BinanceError(Code.REJECTED_MBX_KEY)
    return BinanceError(Code.UNKNOWN, error.msg)
