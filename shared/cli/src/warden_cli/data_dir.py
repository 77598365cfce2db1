"""The data directory a command reads must exist: a mistyped `--data-dir` is an error, not an
empty answer (an absent audit log reads as "no incidents", which looks like good news)."""

from __future__ import annotations

from pathlib import Path

from warden_cli.errors import UserError
from warden_cli.layout import Layout, default_data_dir


class NoDataDir(UserError):
    pass


def existing_data_dir(data_dir: Path | None) -> Path:
    """`data_dir` (default .warden or $WARDEN_DATA_DIR), resolved; NoDataDir when it is not a directory."""
    root = (data_dir or default_data_dir()).resolve()
    if not root.is_dir():
        raise NoDataDir(
            f"no Warden data directory at {root} (is --data-dir or $WARDEN_DATA_DIR right? `warden up` creates it)"
        )
    return root


def existing_layout(data_dir: Path | None) -> Layout:
    return Layout(existing_data_dir(data_dir))


def audit_log_dir(data_dir: Path | None, audit_dir: Path | None) -> Path:
    """An explicit `--audit-dir` must exist; without one, the data directory's (which must exist)."""
    if audit_dir is None:
        return existing_layout(data_dir).audit_dir
    if not audit_dir.is_dir():
        raise NoDataDir(f"no audit log at {audit_dir.resolve()} (is --audit-dir right?)")
    return audit_dir
