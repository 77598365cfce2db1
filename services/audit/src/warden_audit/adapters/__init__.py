"""Implementations of the ports declared in `warden_audit.domain`."""
