"""API errors: one body shape, ``{"code": int, "msg": str}``, and stable codes grouped by kind.

Every rejection the API makes is an ``ApiError`` carrying an ``ErrorCode``; each code fixes its
HTTP status and a default message, so the status of a code never varies by route. Codes are
stable: never renumber or reuse one; add new ones at the end of their group.

| range | kind | status |
| --- | --- | --- |
| 1000–1099 | request authentication (signed requests) | 400, 401, 403 |
| 1100–1199 | login (EIP-4361) | 400, 401 |
| 2000–2099 | validation (bad input) | 400 |
| 3000–3099 | rate limits | 429, 418 |
| 4000–4099 | not found | 404 |
| 5000–5099 | server | 500, 503 |
| 6000–6999 | engine rejects: 6000 + the ``matcher.Reject`` value | 400, 404 |

Bad input is always a 4xx; 5001 is only for what the server itself got wrong, 5002 for an engine
that is not taking commands. An engine reject keeps its ``Reject`` number under the 6000 block
(``PRICE_OFF_TICK`` 108 is 6108), whether the API or the engine found it: the API checks the
price and quantity grid itself before anything reaches the engine.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """A stable API error code with its HTTP status and default message."""

    status: int
    message: str

    def __new__(cls, value: int, status: int, message: str) -> ErrorCode:
        member = int.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.message = message
        return member

    # request authentication
    AUTH_HEADER_MISSING = 1001, 401, "a required authentication header is missing"
    TIMESTAMP_MALFORMED = 1002, 400, "the timestamp is not an integer number of milliseconds"
    RECV_WINDOW_INVALID = 1003, 400, "the receive window must be an integer from 1 to 60000 ms"
    TIMESTAMP_STALE = 1004, 401, "the timestamp is older than the receive window"
    TIMESTAMP_IN_FUTURE = 1005, 401, "the timestamp is ahead of the server clock"
    KEY_UNKNOWN = 1006, 401, "unknown API key"
    SIGNATURE_INVALID = 1007, 401, "the signature does not match the request"
    KEY_REVOKED = 1008, 401, "the API key has been revoked"
    IP_NOT_ALLOWED = 1009, 403, "this API key may not be used from this IP address"
    SCOPE_MISSING = 1010, 403, "the API key lacks the scope this request needs"
    ADMIN_TOKEN_INVALID = 1011, 401, "the admin token is missing or wrong"
    CREDIT_NOT_ALLOWED = 1012, 403, "balances may be credited by hand only in development mode"

    # login (EIP-4361)
    LOGIN_MESSAGE_MALFORMED = 1101, 400, "the login message is not a valid EIP-4361 message"
    LOGIN_DOMAIN_MISMATCH = 1102, 401, "the login message names another domain"
    LOGIN_URI_MISMATCH = 1103, 401, "the login message names another URI"
    LOGIN_CHAIN_MISMATCH = 1104, 401, "the login message names another chain id"
    LOGIN_NONCE_UNKNOWN = 1105, 401, "the login nonce was not issued by this server"
    LOGIN_NONCE_EXPIRED = 1106, 401, "the login nonce has expired"
    LOGIN_NONCE_USED = 1107, 401, "the login nonce has been used already"
    LOGIN_MESSAGE_EXPIRED = 1108, 401, "the login message has expired"
    LOGIN_MESSAGE_NOT_YET_VALID = 1109, 401, "the login message is not valid yet"
    LOGIN_SIGNATURE_INVALID = 1110, 401, "the login signature is not the address's"

    # validation
    INVALID_PARAMETER = 2001, 400, "a parameter is invalid"
    MISSING_PARAMETER = 2002, 400, "a required parameter is missing"
    INVALID_ADDRESS = 2003, 400, "not an EVM address (or a bad EIP-55 checksum)"
    INVALID_SCOPE = 2004, 400, "scopes must be a non-empty set of read, trade, withdraw"
    INVALID_IP_ALLOWLIST = 2005, 400, "the IP allowlist must be IP addresses or networks, comma separated"
    INVALID_PUBLIC_KEY = 2006, 400, "not an Ed25519 public key (32 raw bytes, hex or PEM)"
    INVALID_LABEL = 2007, 400, "the label must be printable text of at most 64 characters"
    KEY_LIMIT_REACHED = 2008, 400, "the account has as many active API keys as it may"
    BODY_MALFORMED = 2009, 400, "the body is not a JSON object"
    BATCH_TOO_LARGE = 2010, 400, "a batch holds from 1 to 100 actions"

    # rate limits
    RATE_LIMITED = 3001, 429, "too many requests; retry after the time given"
    BANNED = 3002, 418, "banned for a while after repeated rate limit violations"

    # not found
    NOT_FOUND = 4001, 404, "not found"
    KEY_NOT_FOUND = 4002, 404, "no such API key on this account"

    # server
    INTERNAL_ERROR = 5001, 500, "internal error"
    ENGINE_UNAVAILABLE = 5002, 503, "the engine is not taking commands; retry later"
    GATING_OFF = 5003, 503, "market-hours gating is off on this server, so it takes no reference prices"

    # engine rejects: 6000 + matcher.Reject
    UNKNOWN_SYMBOL = 6100, 400, "unknown symbol"
    UNKNOWN_ORDER = 6101, 404, "no such open order on this account"
    UNKNOWN_ASSET = 6102, 400, "unknown asset"
    INVALID_SIDE = 6103, 400, "side must be buy or sell"
    INVALID_ORDER_TYPE = 6104, 400, "type must be limit or market"
    INVALID_TIME_IN_FORCE = 6105, 400, "time_in_force must be GTC, IOC, FOK or GTD"
    INVALID_STP = 6106, 400, "stp must be none, expire_taker, expire_maker, expire_both or decrement"
    INVALID_PRICE = 6107, 400, "the price must be a positive decimal string"
    PRICE_OFF_TICK = 6108, 400, "the price is not a whole number of ticks"
    INVALID_QTY = 6109, 400, "the quantity must be a positive decimal string"
    QTY_OFF_LOT = 6110, 400, "the quantity is not a whole number of lots"
    QTY_BELOW_MIN = 6111, 400, "the quantity is below the symbol's minimum"
    QTY_ABOVE_MAX = 6112, 400, "the quantity is above the symbol's maximum"
    NOTIONAL_BELOW_MIN = 6113, 400, "price times quantity is below the symbol's minimum notional"
    NOTIONAL_ABOVE_MAX = 6114, 400, "price times quantity is above the symbol's maximum notional"
    INVALID_EXPIRY = 6115, 400, "a GTD order needs an expire_at in the future"
    INVALID_AMOUNT = 6116, 400, "the amount must be a positive decimal string in the asset's units"
    INVALID_AMEND = 6117, 400, "an amend needs a new price or quantity"
    POST_ONLY_NOT_LIMIT = 6118, 400, "post-only applies to GTC or GTD limit orders only"
    DUPLICATE_DEPOSIT = 6119, 400, "this deposit was credited already"
    INSUFFICIENT_FUNDS = 6200, 400, "insufficient available balance"
    ACCOUNT_FROZEN = 6201, 400, "the account is frozen"
    SYMBOL_HALTED = 6300, 400, "the symbol is halted"
    ORDER_TYPE_NOT_ALLOWED = 6301, 400, "this order type is not allowed in the current session"
    PRICE_OUTSIDE_BAND = 6302, 400, "the price is outside the symbol's band"
    SIZE_ABOVE_SESSION_CAP = 6303, 400, "the size is above the current session's cap"
    POST_ONLY_WOULD_TAKE = 6400, 400, "the post-only order would have traded"
    NO_LIQUIDITY = 6401, 400, "no liquidity for a market order without a protection price"


ENGINE_REJECTS = 6000


def reject_code(reject: int) -> ErrorCode:
    """The API code of an engine reject (a ``matcher.Reject`` value)."""
    return ErrorCode(ENGINE_REJECTS + int(reject))  # type: ignore[call-arg]  # a lookup by value


def error_body(code: ErrorCode, msg: str | None = None) -> dict[str, int | str]:
    """The JSON body of every error response: ``{"code": int, "msg": str}``."""
    return {"code": int(code), "msg": msg if msg is not None else code.message}


class ApiError(Exception):
    """A rejection to send to the client: its HTTP status, stable code and message.

    ``retry_after`` (whole seconds) becomes a ``Retry-After`` header. Messages reach clients and
    logs: never put a secret in one.
    """

    def __init__(self, code: ErrorCode, msg: str | None = None, *, retry_after: int | None = None) -> None:
        self.code = code
        self.msg = msg if msg is not None else code.message
        self.retry_after = retry_after
        super().__init__(f"{int(code)} {code.name}: {self.msg}")

    @property
    def status(self) -> int:
        return self.code.status

    def body(self) -> dict[str, int | str]:
        return error_body(self.code, self.msg)

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
