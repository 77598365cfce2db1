"""Warden elevation authority (embedded stand-in for Entra PIM)."""
