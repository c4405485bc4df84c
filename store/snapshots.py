"""Snapshots of the engine state on disk: written atomically, checked on read, retired by age.

A snapshot is one file ``{seq:020d}.snapshot``: the first line is a JSON header (format,
``seq``, SHA-256 of the body), the rest the canonical JSON of ``matcher.snapshot.export_state``.
Writing goes to a temporary file that is fsynced, renamed into place, and the directory fsynced,
so a crash leaves either the old set or the new one, never half a file. A snapshot whose body
does not match its hash is skipped with a warning; the next older one is used instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SUFFIX = ".snapshot"
FORMAT = 1


def write_snapshot(directory: Path, state: dict[str, Any]) -> Path:
    """Store ``state`` (it carries its own ``seq``) atomically; return the file written."""
    directory.mkdir(parents=True, exist_ok=True)
    body = json.dumps(state, sort_keys=True, separators=(",", ":")).encode("utf-8")
    header = {"format": FORMAT, "seq": state["seq"], "sha256": hashlib.sha256(body).hexdigest()}
    path = directory / f"{state['seq']:020d}{SUFFIX}"
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as f:
        f.write(json.dumps(header).encode("utf-8") + b"\n" + body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
    return path


def snapshots(directory: Path) -> list[Path]:
    """Snapshot files, oldest first."""
    return sorted(p for p in directory.glob(f"*{SUFFIX}") if p.stem.isdigit())


def latest_snapshot(directory: Path, *, at_most: int | None = None) -> dict[str, Any] | None:
    """The newest snapshot whose body matches its hash (and whose seq is at most ``at_most``,
    if given), or None."""
    for path in reversed(snapshots(directory)):
        if at_most is not None and int(path.stem) > at_most:
            continue
        try:
            head, _, body = path.read_bytes().partition(b"\n")
            header = json.loads(head)
            if header.get("format") != FORMAT or hashlib.sha256(body).hexdigest() != header["sha256"]:
                raise ValueError("hash or format mismatch")
            state: dict[str, Any] = json.loads(body)
            return state
        except (OSError, ValueError, KeyError) as error:
            log.warning("skipping damaged snapshot %s: %s", path.name, error)
    return None
