"""Child process of the crash test: sequence a seeded stream, print each acknowledged seq."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from bench import matching as bench
from bench.streams import multi_symbol_stream
from bluebook.sequencer import Sequencer, recover

START_NS = 1_767_225_600_000_000_000


def commands(events: int, seed: int) -> list:
    deposits = bench._deposits()
    return deposits + bench._engine_commands(
        multi_symbol_stream(events, seed, bench.SYMBOLS, 50, bench.MID), deposits
    )


def clock_from(seq: int):  # noqa: ANN201 - a deterministic clock: 1 µs a command
    return itertools.count(START_NS + seq * 1000, 1000).__next__


def main(data_dir: Path, events: int, seed: int, snapshot_every: int) -> None:
    engine, journal = recover(bench._engine_config(), data_dir, policy="batch")
    sequencer = Sequencer(engine, journal, clock=lambda: START_NS)  # one time, however it is grouped
    stream = commands(events, seed)[engine.seq :]
    for start in range(0, len(stream), 50):
        results = sequencer.process(stream[start : start + 50])
        print(results[-1][0][1], flush=True)  # acknowledged: committed
        if snapshot_every and engine.seq % snapshot_every < 50:
            sequencer.snapshot(data_dir / "snapshots")
    journal.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
