"""Typed errors for broken invariants. Never caught and repaired inside ``matcher/``."""

from __future__ import annotations


class InvariantError(AssertionError):
    """The engine's state broke a rule it must always keep (a bug, never bad input)."""


class SequenceError(InvariantError):
    """A command arrived with a sequence number that does not follow the last one applied."""
