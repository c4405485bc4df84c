"""Engine account ids by EVM address, and the vault ids bound to them (the ``accounts`` table).

- An address gets the next engine account id (1, 2, 3, … by first sight; 0 is the fee account)
  the first time anyone asks: the API at sign-in, or the deposit watcher at a first deposit. An
  address's id never changes. Callers pass addresses EIP-55 checksummed.
- ``vault_id`` is the compact id the vault assigned at the address's first deposit; it is bound
  once and a different value later is an error (``VaultIdConflict``), never an overwrite.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import Account

log = logging.getLogger(__name__)

_ALLOCATION_ATTEMPTS = 8


class VaultIdConflict(RuntimeError):
    """An account is already bound to another vault id (or the vault id to another account)."""


def allocate_account(db: Engine, address: str) -> int:
    """The checksummed ``address``'s account id, allocated on first sight.

    Allocation is rare, so on PostgreSQL it is serialized by a table lock (plain reads go on);
    on SQLite, whose writers are serialized anyway, a loser of the race for max(id) + 1 retries.
    """
    with Session(db) as session:
        existing = session.scalar(select(Account.id).where(Account.address == address))
    if existing is not None:
        return existing
    for _ in range(_ALLOCATION_ATTEMPTS):
        with Session(db) as session:
            if db.dialect.name == "postgresql":
                session.execute(text("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE"))
            existing = session.scalar(select(Account.id).where(Account.address == address))
            if existing is not None:
                return existing
            account_id = (session.scalar(select(func.max(Account.id))) or 0) + 1
            session.add(Account(id=account_id, address=address))
            try:
                session.commit()
            except IntegrityError:
                continue  # another process took this id or this address: look again
            log.info("account %d allocated to %s", account_id, address)
            return account_id
    raise RuntimeError(f"no account id allocated to {address} after {_ALLOCATION_ATTEMPTS} attempts")


def bind_vault_id(db: Engine, account_id: int, vault_id: int) -> None:
    """Record that engine account ``account_id`` is vault account ``vault_id`` (idempotent)."""
    with db.begin() as connection:
        bound = connection.execute(select(Account.vault_id).where(Account.id == account_id)).scalar_one()
        if bound == vault_id:
            return
        if bound is not None:
            raise VaultIdConflict(f"account {account_id} is vault account {bound}, not {vault_id}")
        try:
            connection.execute(update(Account).where(Account.id == account_id).values(vault_id=vault_id))
        except IntegrityError:
            raise VaultIdConflict(f"vault account {vault_id} is bound to another account") from None


def vault_ids(db: Engine) -> dict[int, int]:
    """Engine account id -> vault account id, for every account that has deposited."""
    with db.connect() as connection:
        rows = connection.execute(select(Account.id, Account.vault_id).where(Account.vault_id.is_not(None)))
        return {account: vault for account, vault in rows if vault is not None}
