"""Pure planning logic: runbooks, candidate vetting, per-incident decisions. No I/O libraries."""
