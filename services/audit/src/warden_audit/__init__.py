"""Warden audit: a tamper-evident, hash-chained record of every message on the bus.

Public read side (no bus code): `reader.read_records`, `verify.verify_log`, `query.records_for`,
`query.records_since`.
"""
