"""``bluebook accounts`` against a running server and on the data directory directly; client order
ids across a server restart; one writer per data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bluebook.datadir import DataDirBusy, DataDirLock, running_server
from tests.api_support import Client, funded_client, start_server

ADDRESS = "0x00000000000000000000000000000000000000d4"


def bluebook(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bluebook.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_create_key_and_credit_work_directly_and_against_a_running_server(tmp_path: Path) -> None:
    data = str(tmp_path)
    direct_key = bluebook(
        "accounts", "create-key", "--data-dir", data, "--address", ADDRESS, "--scopes", "read"
    )
    assert direct_key.returncode == 0, direct_key.stderr
    issued = json.loads(direct_key.stdout)
    assert set(issued) >= {"api_key", "secret"} and issued["scopes"] == ["read"]
    refused = bluebook("accounts", "credit", "--data-dir", data, "--address", ADDRESS, "--asset", "USDC",
                       "--amount", "5")  # fmt: skip
    assert refused.returncode == 1 and "1012" in refused.stderr
    direct = bluebook("accounts", "credit", "--data-dir", data, "--address", ADDRESS, "--asset", "USDC",
                      "--amount", "1000", "--dev")  # fmt: skip
    assert direct.returncode == 0, direct.stderr
    assert json.loads(direct.stdout)["amount"] == "1000"
    server = start_server(tmp_path, dev=True)
    try:
        assert running_server(tmp_path) is not None
        with pytest.raises(DataDirBusy):
            DataDirLock(tmp_path).acquire()
        remote = bluebook("accounts", "credit", "--data-dir", data, "--address", ADDRESS, "--asset", "USDC",
                          "--amount", "0.5")  # fmt: skip
        assert remote.returncode == 0, remote.stderr
        remote_key = json.loads(
            bluebook("accounts", "create-key", "--data-dir", data, "--address", ADDRESS).stdout
        )
        client = Client(server.url, remote_key["api_key"], remote_key["secret"])
        balances = {b["asset"]: b["available"] for b in client.ok("GET", "/v1/balances")["balances"]}
        assert balances["USDC"] == "1000.5"  # both credits, each journaled once
        off_grid = bluebook("accounts", "credit", "--data-dir", data, "--address", ADDRESS, "--asset", "USDC",
                            "--amount", "0.0000001")  # fmt: skip
        assert off_grid.returncode == 1 and "6116" in off_grid.stderr
        second = bluebook("api", "--data-dir", data, "--port", "0")
        assert second.returncode == 1 and "another process" in second.stderr
    finally:
        server.stop()
    assert running_server(tmp_path) is None


def test_a_client_order_id_is_remembered_across_a_restart_and_credit_needs_dev(tmp_path: Path) -> None:
    server = start_server(tmp_path, dev=True)
    try:
        client = funded_client(server, ADDRESS)
        first = client.place(side="buy", price="100", qty="1", client_order_id="survives").json()
    finally:
        server.stop()
    server = start_server(tmp_path, dev=False)
    try:
        client = Client(server.url, client.key, client.secret)
        again = client.place(side="buy", price="100", qty="1", client_order_id="survives").json()
        assert again["duplicate"] is True and again["order"]["order_id"] == first["order"]["order_id"]
        assert len(client.ok("GET", "/v1/orders/open")["orders"]) == 1
        refused = bluebook("accounts", "credit", "--data-dir", str(tmp_path), "--address", ADDRESS, "--asset",
                           "USDC", "--amount", "1", "--dev")  # fmt: skip
        assert refused.returncode == 1 and "1012" in refused.stderr  # the server is not in --dev
    finally:
        server.stop()
