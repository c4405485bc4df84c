"""Shared fixtures: a validated book and a small engine with funded accounts."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile("soak", deadline=None, print_blob=True)
settings.load_profile("soak" if os.environ.get("BLUEBOOK_SOAK") else "ci")
