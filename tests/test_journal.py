"""The journal keeps every committed record, cuts a torn tail, and stops at real corruption."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from store.journal import HEADER, RECORD, JournalCorrupt, JournalWriter, read, recover, segments


def write(directory: Path, count: int, *, first: int = 1, segment_bytes: int = 1 << 20) -> None:
    writer = JournalWriter(directory, next_seq=first, policy="off", segment_bytes=segment_bytes)
    for seq in range(first, first + count):
        writer.append(seq, f"payload {seq}".encode())
        if seq % 7 == 0:
            writer.commit()
    writer.close()


def test_committed_records_read_back_in_order(tmp_path: Path) -> None:
    write(tmp_path, 50)
    assert [seq for seq, _ in read(tmp_path)] == list(range(1, 51))
    assert dict(read(tmp_path, after_seq=48)) == {49: b"payload 49", 50: b"payload 50"}
    assert recover(tmp_path).last_seq == 50


def test_segments_rotate_and_chain(tmp_path: Path) -> None:
    write(tmp_path, 200, segment_bytes=400)
    assert len(segments(tmp_path)) > 3
    assert [seq for seq, _ in read(tmp_path)] == list(range(1, 201))
    assert [seq for seq, _ in read(tmp_path, after_seq=150)] == list(range(151, 201))


def test_a_segment_ends_at_the_first_write_that_reaches_its_size_reopened_or_not(tmp_path: Path) -> None:
    record = RECORD.size + len(b"payload 10")
    limit = HEADER.size + 10 * record  # ten records of two-digit seqs fill a segment
    write(tmp_path, 5, first=10, segment_bytes=limit)
    write(tmp_path, 40, first=15, segment_bytes=limit)  # reopens the first segment, half full
    sizes = [path.stat().st_size for path in segments(tmp_path)]
    # Commits come at multiples of 7 and at each close, so a segment ends with the write that
    # takes it to ``limit`` or past it, never one write later, and holds no write beyond that.
    assert all(limit <= size < limit + 7 * record for size in sizes[:-1])
    assert sizes[-1] < limit + 7 * record
    assert [seq for seq, _ in read(tmp_path)] == list(range(10, 55))


def test_a_writer_reopened_after_recovery_continues_the_sequence(tmp_path: Path) -> None:
    write(tmp_path, 10)
    write(tmp_path, 5, first=recover(tmp_path).last_seq + 1)
    assert [seq for seq, _ in read(tmp_path)] == list(range(1, 16))


def test_uncommitted_records_are_not_written(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path, next_seq=1, policy="always")
    writer.append(1, b"a")
    writer.commit()
    writer.append(2, b"b")  # the process dies before the next commit
    assert [seq for seq, _ in read(tmp_path)] == [1]


def test_append_many_frames_consecutive_records_and_one_commit_writes_them(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path, next_seq=1, policy="batch")
    writer.append_many(1, [b"a", b"bb", b"ccc"])
    writer.append(4, b"d")
    assert writer.commit() == 4 and writer.commit() == 0
    writer.close()
    assert list(read(tmp_path)) == [(1, b"a"), (2, b"bb"), (3, b"ccc"), (4, b"d")]


def test_a_torn_tail_cut_at_every_byte_of_the_last_record_recovers_to_the_one_before(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    write(source, 5)
    (segment,) = segments(source)
    whole = segment.read_bytes()
    last_start = len(whole) - (RECORD.size + len(b"payload 5"))
    for cut in range(last_start, len(whole)):
        directory = tmp_path / f"cut{cut}"
        shutil.copytree(source, directory)
        (directory / segment.name).write_bytes(whole[:cut])
        report = recover(directory)
        assert report.last_seq == 4, cut
        assert report.torn_bytes == cut - last_start
        assert (directory / segment.name).stat().st_size == last_start
        assert [seq for seq, _ in read(directory)] == [1, 2, 3, 4]


def test_a_segment_cut_inside_its_header_is_dropped(tmp_path: Path) -> None:
    write(tmp_path, 3, segment_bytes=10)  # every record ends a segment
    newest = segments(tmp_path)[-1]
    newest.write_bytes(newest.read_bytes()[: HEADER.size - 3])
    report = recover(tmp_path)
    assert report.last_seq == 3 and not newest.exists()


def test_a_damaged_record_in_the_middle_stops_recovery_naming_segment_and_offset(tmp_path: Path) -> None:
    write(tmp_path, 10)
    (segment,) = segments(tmp_path)
    data = bytearray(segment.read_bytes())
    third = HEADER.size + 2 * (RECORD.size + len(b"payload 1"))
    data[third + RECORD.size + 2] ^= 0xFF  # a payload byte of record 3
    segment.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt) as error:
        recover(tmp_path)
    assert error.value.segment == segment and error.value.offset == third
    assert segment.stat().st_size == len(data)  # nothing truncated


def test_damage_in_an_older_segment_is_corruption_even_at_its_end(tmp_path: Path) -> None:
    write(tmp_path, 6, segment_bytes=60)
    older = segments(tmp_path)[0]
    older.write_bytes(older.read_bytes()[:-2])
    with pytest.raises(JournalCorrupt, match=older.name):
        recover(tmp_path)


def test_appending_out_of_sequence_is_refused(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path, next_seq=5)
    with pytest.raises(ValueError):
        writer.append(6, b"x")
