"""Cancel-on-disconnect, kept across restarts.

A session that opts in at login is written to ``ws_guarded_sessions`` before its login is
answered. When it ends without a graceful logout that opted out (a dropped connection, a
heartbeat timeout, a slow-consumer disconnect, a server stop), every open order of its account is
cancelled (one ``CancelAll`` through the node, the account's orders on every symbol: a
market maker's session owns its account), then its row is deleted. If the server goes first (a
crash, ``kill -9``), the rows stay, and at the next start ``recover`` cancels the orders of every
account they name before the API serves, since those connections are gone. Cancel first, delete
after: a crash in between cancels twice, which is harmless.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, insert, select
from starlette.concurrency import run_in_threadpool

from api.context import Services
from api.entry import execute_one
from api.orders import cancel_all_command
from store.models import GuardedSession


class GuardedSessions:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def open(self, session_id: str, account: int, key_id: str) -> None:
        row = {"session_id": session_id, "account_id": account, "key_id": key_id,
               "opened_at_ns": time.time_ns()}  # fmt: skip
        await run_in_threadpool(self._write, insert(GuardedSession).values(row))

    async def end(self, session_id: str, account: int, *, cancel: bool) -> int:
        """End a session, cancelling its account's orders if ``cancel``; how many were cancelled."""
        cancelled = await self.cancel_all(account) if cancel else 0
        await run_in_threadpool(
            self._write, delete(GuardedSession).where(GuardedSession.session_id == session_id)
        )
        return cancelled

    async def cancel_all(self, account: int) -> int:
        result = await execute_one(self.services, cancel_all_command(self.services.units, account, {}))
        return len(result["cancelled"])

    async def recover(self) -> tuple[int, int]:
        """At start: cancel the orders of every account a left-over row names, drop the rows;
        (sessions, orders cancelled)."""
        query = select(GuardedSession.session_id, GuardedSession.account_id)
        with self.services.db.connect() as connection:
            rows = connection.execute(query).all()
        cancelled = 0
        for account in sorted({row.account_id for row in rows}):
            cancelled += await self.cancel_all(account)
        self._write(delete(GuardedSession))
        return len(rows), cancelled

    def _write(self, statement: object) -> None:
        with self.services.db.begin() as connection:
            connection.execute(statement)  # type: ignore[call-overload]
