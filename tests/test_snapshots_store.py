"""Snapshot files: atomic, checked on read, the newest sound one wins, old ones retire."""

from __future__ import annotations

from pathlib import Path

from store.snapshots import latest_snapshot, retire_snapshots, snapshots, write_snapshot


def test_the_newest_sound_snapshot_wins(tmp_path: Path) -> None:
    for seq in (10, 20, 30):
        write_snapshot(tmp_path, {"seq": seq, "data": [seq]})
    assert latest_snapshot(tmp_path) == {"seq": 30, "data": [30]}
    newest = snapshots(tmp_path)[-1]
    newest.write_bytes(newest.read_bytes()[:-3] + b"99]")  # damaged after it was written
    assert latest_snapshot(tmp_path) == {"seq": 20, "data": [20]}
    assert not list(tmp_path.glob("*.tmp"))


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    for seq in range(1, 6):
        write_snapshot(tmp_path, {"seq": seq})
    retired = retire_snapshots(tmp_path, keep=2)
    assert [p.name for p in retired] == [f"{seq:020d}.snapshot" for seq in (1, 2, 3)]
    assert [p.name for p in snapshots(tmp_path)] == [f"{seq:020d}.snapshot" for seq in (4, 5)]


def test_no_snapshot_yet(tmp_path: Path) -> None:
    assert latest_snapshot(tmp_path) is None
