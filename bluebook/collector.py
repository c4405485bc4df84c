"""Settings of the cyclic garbage collector for the long-running processes: the node and its
projector.

Both allocate records by the hundred thousand a second (the engine's events, the projection's
rows) that are tuples and lists forming no reference cycles, so reference counting frees them and
a collection finds nothing; with CPython's default threshold (700 allocations) a young
collection would still run every few commands, and the older ones would walk the whole
long-lived state (books and accounts, or the projection's open orders and balances).
"""

from __future__ import annotations

import gc

#: The young generation's collection threshold (CPython's default is 700 allocations).
YOUNG_GC_THRESHOLD = 20_000


def tune_gc() -> None:
    """Freeze every object alive now (the recovered state: long-lived, never garbage) out of all
    later collections, and make young collections rarer (``YOUNG_GC_THRESHOLD``)."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, older, oldest)
