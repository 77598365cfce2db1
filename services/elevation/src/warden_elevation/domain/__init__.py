"""Elevation rules: tickets, eligibility, grants, releases; no broker, no SDK."""
