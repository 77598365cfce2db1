"""Implementations of the planner's ports: the sandbox read API and the SQLite state store."""
