"""Retention: which snapshots and journal segments stay in the data directory.

The rule, applied after each snapshot:

- Snapshots: keep the newest ``keep``, and also the newest one at or below ``floor_seq`` (the
  projection's cursor: a projection that fell behind catches up from that snapshot plus the
  journal). Delete the rest: a snapshot can always be made again from the journal.
- Journal segments: a segment whose every record is at or below the oldest kept snapshot's seq is
  needed by no recovery. It is moved to ``archive/`` (beside ``journal/``), never deleted here:
  the archive plus the journal is the complete history that ``bluebook rebuild-store`` replays,
  and an operator ships it to cold storage on their own schedule. The newest segment always
  stays, so the writer's file is never touched.

With no snapshot at or below ``floor_seq``, nothing is archived (the projection may need the
journal from its first record).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from store.journal import segments
from store.snapshots import snapshots


@dataclass(frozen=True)
class Retired:
    snapshots_deleted: list[Path]
    segments_archived: list[Path]


def retire(data_dir: Path, *, keep: int, floor_seq: int) -> Retired:
    """Apply the rule to ``data_dir`` (``snapshots/``, ``journal/``, ``archive/``)."""
    held = snapshots(data_dir / "snapshots")
    kept = set(held[-keep:]) if keep > 0 else set()
    base = [path for path in held if int(path.stem) <= floor_seq]
    if base:
        kept.add(base[-1])
    deleted = [path for path in held if path not in kept]
    for path in deleted:
        path.unlink()
    if not base:
        return Retired(deleted, [])
    oldest_needed = min(int(path.stem) for path in kept)
    live = segments(data_dir / "journal")
    archive = data_dir / "archive"
    moved: list[Path] = []
    for segment, following in zip(live, live[1:], strict=False):
        if int(following.stem) - 1 > oldest_needed:
            break
        archive.mkdir(exist_ok=True)
        target = archive / segment.name
        os.replace(segment, target)
        moved.append(target)
    if moved:
        _sync_directory(data_dir / "journal")
        _sync_directory(archive)
    return Retired(deleted, moved)


def _sync_directory(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
