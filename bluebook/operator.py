"""``bluebook ref``, ``bluebook halt``, ``bluebook resume``: an operator's controls, used on the
running server of a data directory.

``set`` makes a price stand for an underlying (``TSLA``, ``BTC``) in place of the feed's until
``clear`` hands it back; ``list`` shows what stands. Each goes to the server's admin route
(``api.operator``) with the directory's admin token; the server's pump sends the price to the
engine as a journaled ``SetReference`` within a second. References live in a running server's
gating, so with no server running there is nothing to set: the command says so.

``halt SYMBOL`` (``--reason operator``, ``corporate_action`` or ``token_paused``; ``--all`` for
every symbol) turns a halt reason on, ``resume`` turns it off (and ``resume --reason
circuit_breaker`` ends a level-3 breaker), each as a journaled ``SetTradingStatus``
(``api.operator``); the symbol reopens with its auction once no cause is left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from bluebook.accounts import CommandFailed, admin_call
from bluebook.datadir import ServerInfo, admin_token, running_server


def halt(data_dir: Path, symbol: str, reason: str, on: bool) -> dict[str, Any]:
    server = _server(data_dir, "halts are set on a running `bluebook run` or `bluebook api`")
    body = {"symbol": symbol, "reason": reason, "on": on}
    return admin_call(server.url + "/v1/admin/halts", admin_token(data_dir), "POST", body)


def _server(data_dir: Path, what: str) -> ServerInfo:
    server = running_server(data_dir)
    if server is None:
        raise CommandFailed(f"no server runs on {data_dir}: {what}")
    return server


def reference(
    data_dir: Path, action: str, underlying: str = "", price: str = "", status: str = "open"
) -> dict[str, Any]:
    server = _server(
        data_dir, "reference prices are set on a running `bluebook run` or `bluebook api --gating`"
    )
    url, token = server.url + "/v1/admin/references", admin_token(data_dir)
    if action == "set":
        return admin_call(url, token, "POST", {"underlying": underlying, "price": price, "status": status})
    if action == "clear":
        return admin_call(f"{url}/{quote(underlying, safe='')}", token, "DELETE")
    return admin_call(url, token, "GET")
