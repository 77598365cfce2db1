"""Edges of the sandbox: HTTP API, state file, estate file, alert webhook."""
