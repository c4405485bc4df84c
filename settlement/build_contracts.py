"""Compile ``settlement/contracts/**/*.sol`` with the pinned solcjs and write the artifacts.

``python -m settlement.build_contracts`` rewrites ``settlement/artifacts/<Contract>.json`` (ABI,
creation and runtime bytecode, compiler version) for every deployable contract; ``--check``
compiles into a temporary folder and exits 1 if the committed artifacts differ from the source.

Deterministic: the standard-JSON input names each source by its path under ``contracts/``, fixes
the optimizer, EVM version and via-IR pipeline, and keeps the metadata hash (so even a comment
change shows as a difference); JSON is written with sorted keys. Any compiler warning fails the
build, as an error does. Needs ``node`` and the ``solc`` package from ``npm ci``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = Path(__file__).resolve().parent / "contracts"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 10_000},
    "viaIR": True,
    "evmVersion": "cancun",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}
#: Reads a standard-JSON input on stdin, prints solc's output and version as one JSON object.
SOLCJS = """
const solc = require('solc');
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(solc.compile(input))}));
});
"""


class BuildError(Exception):
    """The compiler reported errors or warnings."""


def standard_input() -> dict[str, Any]:
    sources = {
        path.relative_to(CONTRACTS).as_posix(): {"content": path.read_text()}
        for path in sorted(CONTRACTS.rglob("*.sol"))
    }
    return {"language": "Solidity", "sources": sources, "settings": SETTINGS}


def compile_all() -> dict[str, dict[str, Any]]:
    """Compile every source; return ``{contract name: artifact}`` for contracts with bytecode."""
    result = subprocess.run(
        ["node", "-e", SOLCJS],
        input=json.dumps(standard_input()),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    answer = json.loads(result.stdout)
    output = answer["output"]
    problems = [e["formattedMessage"] for e in output.get("errors", [])]
    if problems:
        raise BuildError("\n".join(problems))
    artifacts: dict[str, dict[str, Any]] = {}
    for source, contracts in sorted(output["contracts"].items()):
        for name, compiled in sorted(contracts.items()):
            bytecode = compiled["evm"]["bytecode"]["object"]
            callable_ = any(entry["type"] in ("function", "constructor") for entry in compiled["abi"])
            if not bytecode or not callable_:
                continue  # an interface, an abstract contract, a library of internal functions
            if name in artifacts:
                raise BuildError(f"two contracts named {name}")
            artifacts[name] = {
                "contractName": name,
                "sourceName": source,
                "compiler": answer["version"],
                "abi": compiled["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
            }
    return artifacts


def write(artifacts: dict[str, dict[str, Any]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    for name, artifact in artifacts.items():
        (folder / f"{name}.json").write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")


def differences(built: Path, committed: Path) -> list[str]:
    """Names of artifact files that are missing, extra or different in ``committed``."""
    names = {p.name for p in built.glob("*.json")} | {p.name for p in committed.glob("*.json")}
    return sorted(
        name
        for name in names
        if not (committed / name).exists()
        or not (built / name).exists()
        or (committed / name).read_bytes() != (built / name).read_bytes()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m settlement.build_contracts", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed artifacts are stale")
    args = parser.parse_args(argv)
    try:
        artifacts = compile_all()
    except BuildError as error:
        print(error, file=sys.stderr)
        return 1
    if not args.check:
        write(artifacts, ARTIFACTS)
        print(f"wrote {len(artifacts)} artifacts to {ARTIFACTS.relative_to(ROOT)}", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        write(artifacts, Path(folder))
        stale = differences(Path(folder), ARTIFACTS)
    if stale:
        print("stale contract artifacts (run `python -m settlement.build_contracts`): " + ", ".join(stale))
        return 1
    print(f"{len(artifacts)} contract artifacts match the source", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
