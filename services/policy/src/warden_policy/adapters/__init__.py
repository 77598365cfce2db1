"""Implementations of the policy service's ports."""
