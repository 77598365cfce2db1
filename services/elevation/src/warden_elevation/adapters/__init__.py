"""The ports' implementations: SQLite tickets, NATS credential minting, sandbox tokens."""
