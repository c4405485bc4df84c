"""web3.py access to the compiled contracts: load artifacts, deploy, send, read revert reasons.

Artifacts are the committed JSON files in ``settlement/artifacts`` (see ``build_contracts``).
``send`` waits for the receipt and raises ``Reverted`` (with the decoded custom error, when the
node gives its data) for a failed call, whether the node refused it at gas estimation or it was
mined and failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi import decode
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.types import TxReceipt

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


class Reverted(Exception):
    """A contract call failed; ``name`` and ``args`` decode its custom error when known."""

    def __init__(self, name: str, args: tuple[Any, ...] = (), data: str = "") -> None:
        super().__init__(f"{name}{args}" if args else name)
        self.name = name
        self.args_ = args
        self.data = data


@cache
def artifact(name: str) -> dict[str, Any]:
    """The compiled contract ``name``: ``abi``, ``bytecode``, ``deployedBytecode``, ``compiler``."""
    data: dict[str, Any] = json.loads((ARTIFACTS / f"{name}.json").read_text())
    return data


@cache
def _errors() -> dict[bytes, tuple[str, list[str]]]:
    """Every custom error of every artifact, by its 4-byte selector."""
    known: dict[bytes, tuple[str, list[str]]] = {}
    for path in sorted(ARTIFACTS.glob("*.json")):
        for entry in artifact(path.stem)["abi"]:
            if entry["type"] == "error":
                types = [field["type"] for field in entry["inputs"]]
                known[keccak(text=f"{entry['name']}({','.join(types)})")[:4]] = (entry["name"], types)
    return known


def decode_revert(data: str | bytes) -> Reverted:
    """Name the custom error in revert ``data`` (hex or bytes); unknown data is kept raw."""
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else data
    found = _errors().get(raw[:4])
    if found is None:
        return Reverted("unknown", (), "0x" + raw.hex())
    name, types = found
    values = tuple(
        Web3.to_checksum_address(value) if kind == "address" else value
        for kind, value in zip(types, decode(types, raw[4:]), strict=True)
    )
    return Reverted(name, values, "0x" + raw.hex())


def connect(url: str) -> Web3:
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    if not w3.is_connected():
        raise ConnectionError(f"no JSON-RPC node at {url}")
    return w3


def deploy(w3: Web3, name: str, *args: Any, sender: str) -> Contract:
    """Deploy the artifact ``name`` from ``sender`` and return the bound contract."""
    compiled = artifact(name)
    factory = w3.eth.contract(abi=compiled["abi"], bytecode=compiled["bytecode"])
    receipt = _wait(w3, _transact(lambda: factory.constructor(*args).transact({"from": sender})))
    return w3.eth.contract(address=receipt["contractAddress"], abi=compiled["abi"])


def at(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact(name)["abi"])


def send(call: ContractFunction, sender: str, gas: int | None = None) -> TxReceipt:
    """Send ``call`` from ``sender`` (an address the node signs for) and wait for its receipt."""
    params: dict[str, Any] = {"from": sender}
    if gas is not None:
        params["gas"] = gas
    return _wait(call.w3, _transact(lambda: call.transact(params)))  # type: ignore[arg-type]


def view(call: ContractFunction) -> Any:
    """``call.call()``, with a revert raised as ``Reverted``."""
    return _transact(call.call)


def simulate(call: ContractFunction, sender: str, block: str = "pending") -> int:
    """The gas ``call`` from ``sender`` would use on top of ``block`` (an ``eth_estimateGas``, which
    executes it); a revert is raised as ``Reverted``."""
    return int(_transact(lambda: call.estimate_gas({"from": sender}, block_identifier=block)))  # type: ignore[arg-type]


def call_as(call: ContractFunction, sender: str, block: str = "pending") -> Any:
    """``eth_call`` of ``call`` from ``sender`` on top of ``block``, with a revert raised as ``Reverted``."""
    return _transact(lambda: call.call({"from": sender}, block_identifier=block))  # type: ignore[arg-type]


def _transact(submit: Callable[[], Any]) -> Any:
    """``submit()``, with a refusal (at gas estimation, or of a call) raised as ``Reverted``."""
    try:
        return submit()
    except ContractCustomError as error:
        raise decode_revert(str(error.data)) from None
    except ContractPanicError as error:
        raise Reverted("Panic", (str(error),)) from None
    except ContractLogicError as error:
        raise Reverted(str(error.message or error)) from None


def _wait(w3: Web3, tx_hash: bytes) -> TxReceipt:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    if receipt["status"] != 1:
        raise Reverted("mined and failed", (receipt["transactionHash"].hex(),))
    return receipt
