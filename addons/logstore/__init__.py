"""Central log store add-on (SQLite FTS5)."""
