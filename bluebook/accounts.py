"""``bluebook accounts``: issue an API key for an address, credit a balance in development.

Each works two ways. While a server runs on the data directory (``bluebook.datadir``), the
command goes to its admin endpoint with the directory's admin token, and the server decides (a
credit needs the server to run in ``--dev``). When none runs, the command takes the directory's
lock and works on it directly: keys in the SQL store; a credit as a ``Deposit`` journaled by a
node started for the purpose (``--dev`` required here). Either way a credit is a command in the
journal like any other, with a unique ref.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from api.accounts import credit_command, credit_outcome, issued_view
from api.auth import ADMIN_HEADER
from api.cipher import SecretCipher
from api.errors import ApiError, ErrorCode
from api.keys import KeyStore
from api.wire import Units
from bluebook.datadir import DataDirLock, admin_token, running_server
from bluebook.node import Node
from matcher.config import MarketConfig
from store.database import open_database
from store.migrate import upgrade


class CommandFailed(RuntimeError):
    """The command was refused; its message is the API's ``{code, msg}`` or the reason."""


def create_key(data_dir: Path, address: str, scopes: str, label: str, db_url: str | None) -> dict[str, Any]:
    server = running_server(data_dir)
    if server is not None:
        body = {"address": address, "scopes": scopes.split(","), "label": label}
        return admin_call(server.url + "/v1/admin/keys", admin_token(data_dir), "POST", body)
    with DataDirLock(data_dir):
        database = _database(data_dir, db_url)
        try:
            keys = KeyStore(database, SecretCipher.in_data_dir(data_dir))
            return issued_view(_refusing(lambda: keys.create_hmac_key(address, scopes, label=label)))
        finally:
            database.dispose()


def credit(
    config: MarketConfig, data_dir: Path, address: str, asset: str, amount: str, dev: bool, db_url: str | None
) -> dict[str, Any]:
    server = running_server(data_dir)
    if server is not None:
        body = {"address": address, "asset": asset, "amount": amount}
        return admin_call(server.url + "/v1/admin/credit", admin_token(data_dir), "POST", body)
    if not dev:
        raise CommandFailed(_error(ApiError(ErrorCode.CREDIT_NOT_ALLOWED, "add --dev to credit by hand")))
    units = Units(config)
    with DataDirLock(data_dir):
        database = _database(data_dir, db_url)
        node = Node(config, data_dir, database=database)
        try:
            units_of_asset = _refusing(lambda: units.asset(asset))
            engine_amount = _refusing(lambda: units.amount(units_of_asset, amount))
            account = _refusing(
                lambda: KeyStore(database, SecretCipher.in_data_dir(data_dir)).account_id(address)
            )
            node.start()
            acks = node.execute([credit_command(account, units_of_asset.name, engine_amount)])
            return _refusing(lambda: credit_outcome(units, acks))
        finally:
            node.stop()
            database.dispose()


def _database(data_dir: Path, db_url: str | None) -> Any:
    url = db_url or f"sqlite:///{(data_dir / 'store.db').resolve()}"
    upgrade(url)
    return open_database(url)


def _refusing(action: Any) -> Any:
    try:
        return action()
    except ApiError as error:
        raise CommandFailed(_error(error)) from None


def _error(error: ApiError) -> str:
    return json.dumps(error.body())


def admin_call(url: str, token: str, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A running server's admin route: its JSON answer, or ``CommandFailed`` with its error."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", ADMIN_HEADER: token},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result
    except urllib.error.HTTPError as error:
        raise CommandFailed(error.read().decode(errors="replace")) from None
