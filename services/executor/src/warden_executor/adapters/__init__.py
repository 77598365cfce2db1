"""Implementations of the executor's ports (NATS elevation, sandbox HTTP, SQLite state)."""
