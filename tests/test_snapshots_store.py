"""Snapshot files: atomic, checked on read, the newest sound one wins."""

from __future__ import annotations

from pathlib import Path

from store.snapshots import latest_snapshot, snapshots, write_snapshot


def test_the_newest_sound_snapshot_wins(tmp_path: Path) -> None:
    for seq in (10, 20, 30):
        write_snapshot(tmp_path, {"seq": seq, "data": [seq]})
    assert latest_snapshot(tmp_path) == {"seq": 30, "data": [30]}
    newest = snapshots(tmp_path)[-1]
    newest.write_bytes(newest.read_bytes()[:-3] + b"99]")  # damaged after it was written
    assert latest_snapshot(tmp_path) == {"seq": 20, "data": [20]}
    assert not list(tmp_path.glob("*.tmp"))


def test_the_newest_at_or_below_a_seq(tmp_path: Path) -> None:
    for seq in (10, 20, 30):
        write_snapshot(tmp_path, {"seq": seq})
    assert latest_snapshot(tmp_path, at_most=29) == {"seq": 20}
    assert latest_snapshot(tmp_path, at_most=9) is None


def test_no_snapshot_yet(tmp_path: Path) -> None:
    assert latest_snapshot(tmp_path) is None
