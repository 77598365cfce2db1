"""`warden bench audit` runs end to end on a tiny log and prints both ratios (no timing asserted)."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner
from warden_cli.main import app


def test_bench_audit_smoke(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["bench", "audit", "--records", "300", "--batch", "50", "--per-segment", "120", "--workdir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"append\s+chain\s+[\d,]+ rec/s\s+raw fsync'd append\s+[\d,]+ rec/s\s+ratio \d", result.output)
    assert re.search(r"verify\s+chain\s+[\d,]+ rec/s\s+raw sha256 of lines\s+[\d,]+ rec/s\s+ratio \d", result.output)
    assert "(one process: no workers, " in result.output  # 300 records: too few to start workers for
    assert re.search(
        r"verify\s+in one process\s+[\d,]+ rec/s\s+one process: no workers: [\d.]+x that \(wall\)", result.output
    )
    assert re.search(r"append\s+group fsync, 4 producers\s+[\d,]+ rec/s\s+ratio \d", result.output)
    assert re.search(r"rec/s of CPU: append [\d,]+ \([\d,]+ grouped\), verify [\d,]+", result.output)
    assert list(tmp_path.iterdir()) == []  # cleans up after itself
