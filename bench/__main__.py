"""Run one benchmark by name: ``python -m bench NAME [--quick] [--seed S]``.

Each benchmark is a module in this package with ``main(*, quick: bool, seed: int) -> int`` that
prints one JSON object per line on stdout (diagnostics go to stderr) and returns the exit status.
Add a benchmark by adding its module to ``BENCHMARKS``; modules are imported only when chosen, so
one benchmark's missing dependency never stops another.
"""

from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS = {
    "matcher": "bench.matching",
    "journal": "bench.journal",
    "settlement": "bench.settlement",
    "api": "bench.api",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run one benchmark by name.")
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark to run")
    parser.add_argument("--quick", action="store_true", help="smaller streams, for a fast check")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated streams")
    args = parser.parse_args(argv)
    module = importlib.import_module(BENCHMARKS[args.name])
    return int(module.main(quick=args.quick, seed=args.seed))


if __name__ == "__main__":
    sys.exit(main())
