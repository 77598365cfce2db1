"""Triage domain: alert normalisation, classification, fingerprints and the incident lifecycle.

Pure logic: no framework, broker, HTTP or database import (import-linter enforces it).
"""
