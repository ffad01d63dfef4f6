"""What survives a crash: the SQLite journal, and reconciliation with the broker."""
