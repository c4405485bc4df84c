"""Persistence (next step): the command journal, snapshots, SQL models, the projection writer."""
