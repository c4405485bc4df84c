"""``bluebook api``: the engine, the REST API and the WebSocket in one process, on embedded defaults.

``ApiServer.start`` takes the data directory's lock (one journal writer), migrates the SQL store
(SQLite in the data directory unless a URL is given), recovers and starts the node, and serves
the API with uvicorn on a thread; once it listens it writes ``server.json`` so that ``bluebook
accounts`` can find it. ``stop`` stops serving, then the node (snapshot, journal closed), then
lets go of the directory. Tests run the same class on a free port; ``app_factory`` builds the
application (``api.app.create_app``; ``bench.server`` adds a route of its own).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine as Database

from api.app import DEFAULT_POLICY, create_app
from api.cipher import SecretCipher
from api.context import Services
from api.fastpath import FastOrderEntry
from api.keys import KeyStore
from api.login import LoginPolicy, LoginService
from api.marketdata import MarketData
from api.ratelimit import RateLimiter, RateLimitPolicy
from api.trading import order_entry
from api.wire import Units
from api.wslimits import WsLimits
from bluebook.datadir import (
    DataDirLock,
    ServerInfo,
    admin_token,
    remove_server_info,
    write_server_info,
)
from bluebook.node import Node
from matcher.config import MarketConfig
from store.database import open_database
from store.migrate import upgrade

log = logging.getLogger(__name__)

#: The chain id sign-in messages name when no chain is configured (Anvil's).
DEV_CHAIN_ID = 31337


@dataclass
class ApiSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    dev: bool = False
    db_url: str | None = None
    fsync: str = "batch"
    snapshot_every_s: float = 300.0
    chain_id: int = DEV_CHAIN_ID
    rate_limits: RateLimitPolicy = field(default_factory=lambda: DEFAULT_POLICY)
    ws: WsLimits = field(default_factory=WsLimits)


class ApiServer:
    def __init__(
        self,
        config: MarketConfig,
        data_dir: Path,
        settings: ApiSettings,
        app_factory: Callable[[Services], FastAPI] = create_app,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.settings = settings
        self.app_factory = app_factory
        self.lock = DataDirLock(data_dir)
        self.node: Node | None = None
        self.database: Database | None = None
        self.services: Services | None = None
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> str:
        """Start everything; return the URL it serves on. ``DataDirBusy`` if the directory is held."""
        settings = self.settings
        self.lock.acquire()
        try:
            port = settings.port or _free_port(settings.host)
            self.url = f"http://{settings.host}:{port}"
            url = settings.db_url or f"sqlite:///{(self.data_dir / 'store.db').resolve()}"
            upgrade(url)
            self.database = open_database(url)
            self.node = Node(self.config, self.data_dir, database=self.database, policy=settings.fsync,
                             snapshot_every_s=settings.snapshot_every_s)  # fmt: skip
            self.node.start()
            keys = KeyStore(self.database, SecretCipher.in_data_dir(self.data_dir))
            login = LoginPolicy(domain=f"{settings.host}:{port}", uri=self.url, chain_id=settings.chain_id,
                                scheme="http")  # fmt: skip
            self.services = services = Services(
                node=self.node,
                units=Units(self.config),
                db=self.database,
                keys=keys,
                login=LoginService(self.database, keys, login),
                limiter=RateLimiter(settings.rate_limits),
                market=MarketData(s.name for s in self.config.symbols),
                admin_token=admin_token(self.data_dir),
                dev=settings.dev,
                ws=settings.ws,
            )
            app = FastOrderEntry(self.app_factory(services), order_entry(services))
            # No per-message compression: it costs a fifth of the event loop's time under order flow
            # (each small frame compressed for each connection) to save bytes on the local wire.
            config = uvicorn.Config(app, host=settings.host, port=port, log_level="warning", lifespan="on",
                                    access_log=False, ws_per_message_deflate=False)  # fmt: skip
            self._server = uvicorn.Server(config)
            self._thread = threading.Thread(target=self._server.run, name="uvicorn", daemon=True)
            self._thread.start()
            deadline = time.monotonic() + timeout
            while not self._server.started:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not start on {self.url}")
                time.sleep(0.02)
        except BaseException:
            self.stop()
            raise
        write_server_info(self.data_dir, ServerInfo(self.url, os.getpid(), settings.dev))
        log.info("api: serving on %s (dev=%s)", self.url, settings.dev)
        return self.url

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not (self.node and self.node.failure)

    def stop(self) -> None:
        """Stop serving, stop the node (snapshot, journal closed), let go of the directory."""
        remove_server_info(self.data_dir)
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(30)
        if self.node is not None:
            self.node.stop()
        if self.database is not None:
            self.database.dispose()
        self.lock.release()


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
