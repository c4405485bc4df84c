"""Reading Binance request parameters by hand, each failure with Binance's code and wording.

A missing or empty mandatory parameter is -1102, a malformed one -1100 (illegal characters) or
-1102 (out of range), a value outside a closed list its own code (side -1117, type -1116,
timeInForce -1115).
"""

from __future__ import annotations

from collections.abc import Mapping

from api.binance.errors import BinanceError, Code

Params = Mapping[str, str]


def missing(name: str) -> BinanceError:
    return BinanceError(
        Code.MANDATORY_PARAM, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def text(params: Params, name: str) -> str:
    """A mandatory parameter."""
    value = params.get(name)
    if not value:
        raise missing(name)
    return value


def integer(
    params: Params, name: str, default: int | None = None, low: int = 0, high: int = 2**63 - 1
) -> int:
    """An integer parameter from ``low`` to ``high``; mandatory when ``default`` is None."""
    value = params.get(name)
    if not value:
        if default is None:
            raise missing(name)
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise BinanceError(
            Code.ILLEGAL_CHARS,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,19}}$'.",
        )
    number = int(value)
    if not low <= number <= high:
        raise BinanceError(Code.MANDATORY_PARAM, f"Parameter '{name}' must be from {low} to {high}.")
    return number


def optional_integer(params: Params, name: str) -> int | None:
    return integer(params, name) if params.get(name) else None


def choice(
    params: Params, name: str, choices: Mapping[str, int], code: Code, default: str | None = None
) -> int:
    """One of ``choices`` (Binance's upper-case names); mandatory when ``default`` is None."""
    value = params.get(name) or default
    if value is None:
        raise missing(name)
    chosen = choices.get(value)
    if chosen is None:
        raise BinanceError(code)
    return chosen


def not_sent(params: Params, *names: str) -> None:
    """-1106 for a parameter this request must not have."""
    for name in names:
        if params.get(name):
            raise BinanceError(Code.PARAM_NOT_REQUIRED, f"Parameter '{name}' sent when not required.")
