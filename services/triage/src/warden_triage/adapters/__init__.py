"""Implementations of the triage ports: webhook gateway, SQLite incident store, rule files."""
