"""Implementations of the scheduler's ports."""
