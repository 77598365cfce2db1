"""Scheduled tasks: cron-style investigations that go through the same policy gate."""
