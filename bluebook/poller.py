"""``Poller``: a daemon thread that does one thing every few seconds (``bluebook.gating_feed``'s
references, ``bluebook.pauses``' vault pauses).

``poll`` runs every ``every_s`` seconds until ``stop``. A poll that raises is logged and its error
kept for ``health`` until a later poll succeeds: what it reads (a price feed, a chain) may answer
again, and what depends on it (gating) judges staleness by itself meanwhile.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, name: str, every_s: float) -> None:
        self.every_s = every_s
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def poll(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def health(self) -> str:
        return "ok" if self.last_error is None else self.last_error

    def _run(self) -> None:
        while True:
            try:
                self.poll()
                self.last_error = None
            except Exception as error:  # it may answer at the next turn
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("%s: %s", self._thread.name, self.last_error)
            if self._stop.wait(self.every_s):
                return
