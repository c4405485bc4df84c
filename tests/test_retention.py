"""Retention: old snapshots go, segments no kept snapshot needs move to the archive, and the
archive plus the journal still read as one unbroken history."""

from __future__ import annotations

from pathlib import Path

from store.journal import JournalWriter, read, segments
from store.retention import retire
from store.snapshots import snapshots, write_snapshot


def journal_of(data_dir: Path, records: int) -> None:
    writer = JournalWriter(data_dir / "journal", next_seq=1, policy="off", segment_bytes=100)
    for seq in range(1, records + 1):
        writer.append(seq, f"command {seq}".encode())
        writer.commit()  # a segment rotates after every commit past 100 bytes
    writer.close()


def names(paths: list[Path]) -> list[int]:
    return [int(path.stem) for path in paths]


def test_keeps_the_newest_snapshots_and_archives_only_what_none_of_them_needs(tmp_path: Path) -> None:
    journal_of(tmp_path, 40)
    for seq in (10, 20, 30, 35):
        write_snapshot(tmp_path / "snapshots", {"seq": seq})
    retired = retire(tmp_path, keep=2, floor_seq=40)
    assert names(snapshots(tmp_path / "snapshots")) == [30, 35]
    assert names(retired.snapshots_deleted) == [10, 20]
    assert retired.segments_archived
    # Every segment left starts at or before the oldest kept snapshot's next command ...
    live = segments(tmp_path / "journal")
    assert int(live[0].stem) <= 31
    # ... and nothing a recovery from snapshot 30 needs was moved.
    assert [seq for seq, _ in read(tmp_path / "journal", after_seq=30)] == list(range(31, 41))
    # The archive and the journal together are the whole history, in order.
    history = [seq for seq, _ in read(tmp_path / "journal", archive=tmp_path / "archive")]
    assert history == list(range(1, 41))


def test_a_projection_behind_keeps_its_snapshot_and_journal(tmp_path: Path) -> None:
    journal_of(tmp_path, 40)
    for seq in (10, 20, 30, 35):
        write_snapshot(tmp_path / "snapshots", {"seq": seq})
    retire(tmp_path, keep=1, floor_seq=15)
    assert names(snapshots(tmp_path / "snapshots")) == [10, 35]
    assert [seq for seq, _ in read(tmp_path / "journal", after_seq=10)] == list(range(11, 41))


def test_nothing_is_archived_without_a_snapshot_under_the_floor(tmp_path: Path) -> None:
    journal_of(tmp_path, 20)
    write_snapshot(tmp_path / "snapshots", {"seq": 15})
    retired = retire(tmp_path, keep=3, floor_seq=5)
    assert retired.segments_archived == []
    assert [seq for seq, _ in read(tmp_path / "journal")] == list(range(1, 21))
