"""Halts: why a symbol stops continuous trading, and the state it keeps while it is stopped.

A halted symbol is cancel-only for what rests and collects new limit orders without matching
(market, IOC and FOK orders are refused); it reopens with a call auction (``matcher.reopening``).

A halt holds one or more causes, each with the command time from which it may clear by itself:
``UNTIL_CLEARED`` for a cause that only a command clears (an operator resume, a fresh reference).
The halt ends at the first command at or after ``reopens_at()``, which is None while any cause
holds: then every cause is gone and at least the reopening auction's collection time has passed
since the halt began, except for an *opening* halt (the symbol has not traded under gating yet,
so nothing is interrupted), which reopens as soon as its causes are gone.
"""

from __future__ import annotations

from enum import IntEnum

#: A cause's clearing time when only a command (or a fresh reference) clears it.
UNTIL_CLEARED = 1 << 63


class HaltReason(IntEnum):
    """Why a symbol is halted; the values are stable (journaled, in events and snapshots)."""

    NO_REFERENCE = 1
    STALE_REFERENCE = 2
    #: The best bid sat at the band's high edge, or the best ask at its low edge, too long.
    LIMIT_STATE = 3
    CORPORATE_ACTION = 4
    TOKEN_PAUSED = 5
    OPERATOR = 6
    #: The market-wide circuit breaker on the index reference (every symbol).
    CIRCUIT_BREAKER = 7


#: The reasons a ``SetTradingStatus`` command may turn on (the others come from the reference,
#: the book or the index); ``CIRCUIT_BREAKER`` it may only turn off.
OPERATED = frozenset((HaltReason.CORPORATE_ACTION, HaltReason.TOKEN_PAUSED, HaltReason.OPERATOR))

DESCRIPTIONS = {
    HaltReason.NO_REFERENCE: "no reference price yet",
    HaltReason.STALE_REFERENCE: "the reference price is stale",
    HaltReason.LIMIT_STATE: "the book held at a band edge",
    HaltReason.CORPORATE_ACTION: "a corporate action",
    HaltReason.TOKEN_PAUSED: "the token is paused",
    HaltReason.OPERATOR: "halted by the operator",
    HaltReason.CIRCUIT_BREAKER: "the market-wide circuit breaker",
}


class Halt:
    """One halted symbol: since when, its causes (reason -> may clear at), whether it is an
    opening halt, and the last auction indication published (price, volume, imbalance)."""

    __slots__ = ("since", "causes", "opening", "indicative")

    def __init__(self, since: int, opening: bool) -> None:
        self.since = since
        self.causes: dict[int, int] = {}
        self.opening = opening
        self.indicative: tuple[int, int, int] | None = None

    def reopens_at(self, collect_ns: int) -> int | None:
        """The command time from which the halt ends, or None while a cause holds."""
        latest = max(self.causes.values(), default=0)
        if latest == UNTIL_CLEARED:
            return None
        return max(latest, self.since if self.opening else self.since + collect_ns)

    def drop_cleared(self, ts: int) -> None:
        """Forget the causes that cleared by themselves at or before ``ts``."""
        for reason in [r for r, at in self.causes.items() if at <= ts]:
            del self.causes[reason]

    def export(self) -> dict[str, object]:
        return {
            "since": self.since, "opening": self.opening,
            "causes": [[reason, at] for reason, at in sorted(self.causes.items())],
            "indicative": list(self.indicative) if self.indicative is not None else None,
        }  # fmt: skip

    @classmethod
    def restore(cls, state: dict[str, object]) -> Halt:
        since, opening, causes, indicative = (state[k] for k in ("since", "opening", "causes", "indicative"))
        assert isinstance(since, int) and isinstance(causes, list)
        halt = cls(since, bool(opening))
        halt.causes = {reason: at for reason, at in causes}
        halt.indicative = (
            (indicative[0], indicative[1], indicative[2]) if isinstance(indicative, list) else None
        )
        return halt
