"""The shipped alert rules, checked and unit-tested by Prometheus's own promtool."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from warden_testkit.prometheus import SANDBOX_RULES

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="needs promtool (Debian's prometheus package)")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=SANDBOX_RULES.parent, timeout=60)


def test_rules_file_is_valid() -> None:
    result = promtool("check", "rules", SANDBOX_RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 rules found" in result.stdout


def test_each_fault_symptom_fires_its_alert_with_service_and_environment() -> None:
    result = promtool("test", "rules", SANDBOX_RULES.with_suffix(".test.yml").name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
