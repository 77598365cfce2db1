"""`warden bench cli`: how long the shell takes to answer `--version` and `--help` (issue 15, goal 5),
and with `--services` how long each service's composition root takes to import: the start of
every process `warden up` launches, before it connects to anything.

Each case is a fresh interpreter started the way a user starts it (the installed `warden` script
beside this interpreter), so imports, site start-up and the help rendering are all in the time.
The baseline is `python -c pass` on the same interpreter in the same run, and the cases are
interleaved round by round, so a busy machine slows every case alike; the numbers to compare
across runs are the medians above the baseline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

BASELINE = "python -c pass"


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]


def warden_script() -> Path:
    """The `warden` console script installed with this interpreter."""
    script = Path(sys.executable).parent / "warden"
    if not script.is_file():
        raise FileNotFoundError(f"no warden script beside {sys.executable} (is warden-cli installed?)")
    return script


def service_roots() -> list[str]:
    """The `app` module of every process `warden up` starts that has one."""
    from warden_cli.launcher import CHILDREN
    from warden_cli.process_description import process

    roots = [f"{process(child).module}.app" for child in CHILDREN]
    return [root for root in roots if importlib.util.find_spec(root) is not None]


def cases(script: Path, *, services: bool = False) -> list[Case]:
    todo = [
        Case(BASELINE, (sys.executable, "-c", "pass")),
        Case("warden --version", (sys.executable, str(script), "--version")),
        Case("warden --help", (sys.executable, str(script), "--help")),
    ]
    if services:
        todo += [Case(f"import {root}", (sys.executable, "-c", f"import {root}")) for root in service_roots()]
    return todo


def _once(case: Case) -> float:
    started = time.perf_counter()
    subprocess.run(case.argv, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "100"})
    return time.perf_counter() - started


def measure(runs: int, *, services: bool = False) -> dict[str, list[float]]:
    todo = cases(warden_script(), services=services)
    for case in todo:  # warm the page cache and .pyc files; not counted
        _once(case)
    times: dict[str, list[float]] = {case.name: [] for case in todo}
    for _ in range(runs):
        for case in todo:
            times[case.name].append(_once(case))
    return times


def summary(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Per case: median, min, max and the median above the baseline's, in seconds."""
    base = statistics.median(times[BASELINE])
    rows: dict[str, dict[str, float]] = {}
    for name, values in times.items():
        median = statistics.median(values)
        rows[name] = {
            "median_s": round(median, 4),
            "min_s": round(min(values), 4),
            "max_s": round(max(values), 4),
            "above_baseline_s": round(median - base, 4),
        }
    return rows


def run(
    runs: Annotated[int, typer.Option(min=1, help="interleaved rounds of every case")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of the table")] = False,
    services: Annotated[
        bool, typer.Option("--services", help="also time importing each service's composition root")
    ] = False,
) -> None:
    """Start-up time of `warden --version` and `warden --help` (and, `--services`, of importing each
    service's composition root), median of N runs, against a bare `python -c pass` in the same run."""
    rows = summary(measure(runs, services=services))
    if as_json:
        typer.echo(json.dumps({"runs": runs, "baseline": BASELINE, "cases": rows}, sort_keys=True))
        return
    typer.echo(f"warden bench cli: median of {runs} fresh processes per case, interleaved, same interpreter")
    width = max(18, *(len(name) for name in rows))
    for name, row in rows.items():
        extra = "" if name == BASELINE else f"   +{row['above_baseline_s']:.3f} s over the baseline"
        typer.echo(f"{name:<{width}} {row['median_s']:.3f} s (min {row['min_s']:.3f}, max {row['max_s']:.3f}){extra}")
