"""Every unit test that calls `verify_log` also proves the parallel walk gives the identical report:
its `verify_log` runs sequentially, then with worker processes on chunks of one line and of a few
lines (so every corruption lands at a chunk boundary once and inside a chunk once)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from warden_audit import verify, verify_parallel

CHUNK_SIZES = (1, 2500)  # one line per chunk; two or three lines (the test logs' lines are ~500-3,600 bytes)


def twin(real: Callable[..., verify.VerifyReport], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    def both(*args: Any, **kwargs: Any) -> verify.VerifyReport:
        if "jobs" in kwargs:
            return real(*args, **kwargs)
        sequential = real(*args, **kwargs, jobs=1)
        with monkeypatch.context() as patch:
            patch.setattr(verify_parallel, "MIN_PARALLEL_BYTES", 0)
            if args and isinstance(args[0], Path):
                assert verify.verify_processes(args[0], 2) in (1, 2)  # 1: no segments folder
            for size in CHUNK_SIZES:
                patch.setattr(verify_parallel, "CHUNK_BYTES", size)
                assert real(*args, **kwargs, jobs=2) == sequential, f"chunks of {size} bytes"
        return sequential

    return both


@pytest.fixture(autouse=True)
def parallel_twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    module = request.module
    if getattr(module, "verify_log", None) is verify.verify_log:
        monkeypatch.setattr(module, "verify_log", twin(verify.verify_log, monkeypatch))
