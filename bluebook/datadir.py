"""What a data directory says about the process that owns it.

- ``node.lock``: the journal has one writer, so whoever runs a node on the directory holds an
  exclusive ``flock`` on this file for as long as it runs (the kernel drops it when the process
  dies, even by ``kill -9``). A second writer is refused, never queued.
- ``server.json``: written by ``bluebook api`` once it listens (its URL, pid and mode), removed
  when it stops. It is trusted only while the lock is held: a file left by a crash is stale.
- ``admin-token``: a random token (mode 0600, made once) that the admin endpoints require, so
  only a user who can read the directory can reach them.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LOCK_FILE = "node.lock"
SERVER_FILE = "server.json"
ADMIN_TOKEN_FILE = "admin-token"


class DataDirBusy(RuntimeError):
    """Another process runs a node on this data directory."""


class DataDirLock:
    """The exclusive hold on a data directory; ``acquire`` or ``DataDirBusy``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> DataDirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise DataDirBusy(f"another process runs a node on {self.path.parent}") from None
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


@dataclass(frozen=True, slots=True)
class ServerInfo:
    url: str
    pid: int
    dev: bool


def write_server_info(data_dir: Path, info: ServerInfo) -> None:
    path = data_dir / SERVER_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"url": info.url, "pid": info.pid, "dev": info.dev}))
    temporary.replace(path)


def remove_server_info(data_dir: Path) -> None:
    (data_dir / SERVER_FILE).unlink(missing_ok=True)


def running_server(data_dir: Path) -> ServerInfo | None:
    """The server that runs on ``data_dir`` now, or None when no process holds it.

    Raises ``DataDirBusy`` when a process holds the directory but is not an API server (``bluebook
    run``, or a server still starting).
    """
    try:
        with DataDirLock(data_dir):
            return None
    except DataDirBusy:
        pass
    try:
        info = json.loads((data_dir / SERVER_FILE).read_text())
    except (OSError, ValueError):
        raise DataDirBusy(f"{data_dir} is held by a process that serves no API") from None
    return ServerInfo(str(info["url"]), int(info["pid"]), bool(info["dev"]))


def admin_token(data_dir: Path) -> str:
    """The directory's admin token, made (0600) on first use."""
    path = data_dir / ADMIN_TOKEN_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    try:
        os.write(descriptor, secrets.token_urlsafe(32).encode() + b"\n")
    finally:
        os.close(descriptor)
    return path.read_text().strip()
