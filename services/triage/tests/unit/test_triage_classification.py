"""Classification rules as data: the shipped file maps the sandbox's rules; bad files are refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from warden_contracts.events import AlertReceived
from warden_triage.adapters.classification_file import load_classifier
from warden_triage.domain.classification import ClassificationError, Classifier, IncidentClass


def alert(rule: str, signal: str | None = "Metric", **labels: str) -> AlertReceived:
    return AlertReceived(
        source_kind="azure_monitor",
        alert_id="a",
        rule=rule,
        status="Fired",
        resource_id="/r/x",
        signal=signal,
        fired_at=datetime(2026, 1, 1, tzinfo=UTC),
        labels=labels,
    )


SHIPPED = load_classifier()


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("High memory usage", IncidentClass.MEMORY_PRESSURE),
        ("High HTTP 5xx rate", IncidentClass.ELEVATED_ERROR_RATE),
        ("Queue backlog", IncidentClass.QUEUE_BACKLOG),
        ("Health check failing", IncidentClass.FAILED_HEALTH_CHECKS),
        ("Disk pressure", IncidentClass.DISK_PRESSURE),
        ("Certificate expiring", IncidentClass.CERTIFICATE_EXPIRY),
        ("Pod CrashLoopBackOff", IncidentClass.CRASH_LOOP),
        ("Deployment failed on slot swap", IncidentClass.BAD_DEPLOYMENT),
        ("Defender for Cloud: suspicious sign-in", IncidentClass.SECURITY_ALERT),
        ("Something nobody wrote a rule for", IncidentClass.UNKNOWN),
    ],
)
def test_shipped_rules_map_rule_names_to_the_taxonomy(rule: str, expected: IncidentClass) -> None:
    assert SHIPPED.classify(alert(rule)) is expected


def test_shipped_rules_match_on_labels_and_signal() -> None:
    assert SHIPPED.classify(alert("Threshold crossed", metric_name="MemoryWorkingSetPercentage")) is (
        IncidentClass.MEMORY_PRESSURE
    )
    # The metric-name rule is restricted to Metric signals.
    assert SHIPPED.classify(alert("Threshold crossed", "Log", metric_name="Memory")) is IncidentClass.UNKNOWN
    assert SHIPPED.classify(alert("Key Vault policy changed", "Activity Log", category="Security")) is (
        IncidentClass.SECURITY_ALERT
    )


def test_rules_are_ordered_first_match_wins() -> None:
    doc = {
        "rules": [
            {"name": "a", "class": "disk_pressure", "match": {"rule": "(?i)pressure"}},
            {"name": "b", "class": "memory_pressure", "match": {"rule": "(?i)memory"}},
        ],
        "default": "unknown",
    }
    assert Classifier.from_document(doc).classify(alert("Memory pressure")) is IncidentClass.DISK_PRESSURE


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"rules": [{"name": "a", "class": "gremlins", "match": {"rule": "x"}}]}, "rules.0.class"),
        ({"rules": [{"name": "a", "class": "crash_loop", "match": {"rule": "(unclosed"}}]}, "invalid regex"),
        ({"rules": [{"name": "a", "class": "crash_loop", "match": {}}]}, "at least one condition"),
        ({"rules": [{"name": "a", "class": "crash_loop", "match": {"rule": "x", "colour": "red"}}]}, "colour"),
        ({"rules": []}, "rules"),
        ({"rules": [{"name": "a", "class": "crash_loop", "match": {"rule": "x"}}], "default": "nope"}, "default"),
        (
            {
                "rules": [
                    {"name": "a", "class": "crash_loop", "match": {"rule": "x"}},
                    {"name": "a", "class": "disk_pressure", "match": {"rule": "y"}},
                ]
            },
            "repeat",
        ),
        ("just text", "<root>"),
    ],
)
def test_invalid_documents_are_refused(doc: Any, problem: str) -> None:
    with pytest.raises(ClassificationError, match="invalid classification rules") as caught:
        Classifier.from_document(doc)
    assert problem in str(caught.value)


def test_override_file_is_loaded_and_bad_file_refused(tmp_path: Path) -> None:
    good = tmp_path / "rules.yaml"
    good.write_text("rules:\n  - {name: all-metrics, class: queue_backlog, match: {signal: [Metric]}}\n")
    assert load_classifier(good).classify(alert("High memory usage")) is IncidentClass.QUEUE_BACKLOG

    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {name: x, class: not_a_class, match: {rule: y}}\n")
    with pytest.raises(ClassificationError, match=str(bad)):
        load_classifier(bad)
    with pytest.raises(ClassificationError, match="cannot read"):
        load_classifier(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [unclosed\n")
    with pytest.raises(ClassificationError, match="not valid YAML"):
        load_classifier(broken)
