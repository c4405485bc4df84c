"""Rebuild the SQL projections from the journal (``bluebook rebuild-store``).

Empties the projection tables (``store.models.PROJECTION_TABLES``), replays every journaled
command through a fresh engine, and writes the events in batches, exactly as the live projection
does; settlement's own records (batches, chain cursors, each trade's settlement columns) are kept.
Needs the journal from its first command (journal segments are not retired yet).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine as Database

from matcher.config import MarketConfig
from matcher.engine import Engine
from store.codec import decode
from store.journal import read
from store.projection import Projection, clear_projections, restore_settlement

BATCH = 2_000


def rebuild_store(config: MarketConfig, journal_dir: Path, db: Database) -> int:
    """Rebuild; return the seq the projection now reaches."""
    kept = clear_projections(db)
    projection = Projection(db)
    engine = Engine(config)
    batch: list[tuple[int, list[tuple[object, ...]]]] = []
    for seq, payload in read(journal_dir):
        batch.append((seq, engine.apply(decode(payload))))
        if len(batch) >= BATCH:
            projection.write(batch)
            batch = []
    if batch:
        projection.write(batch)
    restore_settlement(db, kept)
    return projection.seq
