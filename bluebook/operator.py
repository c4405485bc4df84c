"""``bluebook ref``: an operator's reference prices, set on the running server of a data directory.

``set`` makes a price stand for an underlying (``TSLA``, ``BTC``) in place of the feed's until
``clear`` hands it back; ``list`` shows what stands. Each goes to the server's admin route
(``api.operator``) with the directory's admin token; the server's pump sends the price to the
engine as a journaled ``SetReference`` within a second. References live in a running server's
gating, so with no server running there is nothing to set: the command says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from bluebook.accounts import CommandFailed, admin_call
from bluebook.datadir import admin_token, running_server


def reference(
    data_dir: Path, action: str, underlying: str = "", price: str = "", status: str = "open"
) -> dict[str, Any]:
    server = running_server(data_dir)
    if server is None:
        raise CommandFailed(f"no server runs on {data_dir}: reference prices are set on a running "
                            "`bluebook run` or `bluebook api --gating`")  # fmt: skip
    url, token = server.url + "/v1/admin/references", admin_token(data_dir)
    if action == "set":
        return admin_call(url, token, "POST", {"underlying": underlying, "price": price, "status": status})
    if action == "clear":
        return admin_call(f"{url}/{quote(underlying, safe='')}", token, "DELETE")
    return admin_call(url, token, "GET")
