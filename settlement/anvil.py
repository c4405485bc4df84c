"""A local Anvil chain on 127.0.0.1, started as the binary inside the npm package and stopped by pid.

``@foundry-rs/anvil`` ships its binary in a platform package,
``node_modules/@foundry-rs/anvil-<os>-<arch>/bin/anvil``; we run that file directly. The package's
``anvil`` command is a node wrapper whose child outlives a SIGKILL of the wrapper, so it is never
used. ``Anvil`` picks a free port, waits until the chain answers JSON-RPC, and on exit sends SIGTERM
to the pid it started, then SIGKILL after a grace period. It enforces EIP-7825's per-transaction
gas cap (2**24), so an oversized batch fails here as it would on a chain after Osaka.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
#: ``platform.machine()`` -> the npm package's architecture suffix.
ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
START_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0


def anvil_binary(root: Path = ROOT) -> Path:
    """The anvil executable installed by ``npm ci`` for this machine; ``BLUEBOOK_ANVIL`` overrides."""
    override = os.environ.get("BLUEBOOK_ANVIL")
    if override:
        return Path(override)
    system = platform.system().lower()
    arch = ARCHITECTURES.get(platform.machine().lower(), platform.machine().lower())
    path = root / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `make setup` (it runs `npm ci`)")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rpc(url: str, method: str, params: list[object] | None = None) -> object:
    """One JSON-RPC call; raises ``RuntimeError`` with the node's message on an error reply."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


class Anvil:
    """A running Anvil process; use as a context manager, or call ``start`` and ``stop``."""

    def __init__(self, *extra_args: str, own_session: bool = False) -> None:
        """``own_session``: start it in a session of its own, so that a Ctrl-C at the terminal
        reaches only its owner, which stops it in its turn (after what still talks to it)."""
        self.extra_args = extra_args
        self.own_session = own_session
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("anvil is not running")
        return self.process.pid

    def start(self, attempts: int = 3) -> Anvil:
        """Start on a free port; another port is tried if the chosen one was taken meanwhile."""
        binary = anvil_binary()
        for _ in range(attempts):
            port = free_port()
            args = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--enable-tx-gas-limit"]
            self.process = subprocess.Popen(
                [*args, *self.extra_args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=self.own_session,
            )
            self.url = f"http://127.0.0.1:{port}"
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"anvil did not start after {attempts} attempts")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                rpc(self.url, "eth_chainId")
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """SIGTERM the pid we started, SIGKILL it if it has not exited within the grace period."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
