"""The correlation context is remembered per alert shape (structural fields and labels): what
differs between firings of one problem never changes it, and any structural difference does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warden_contracts.events import AlertReceived
from warden_triage.domain.builtin_sources import builtin_registry
from warden_triage.domain.catalog import ServiceCatalog
from warden_triage.domain.classification import Classifier
from warden_triage.domain.correlation import CONTEXTS_REMEMBERED, Correlator

CLASSIFIER = Classifier.model_validate(
    {
        "rules": [
            {"name": "memory", "class": "memory_pressure", "match": {"rule": "(?i)memory"}},
            {"name": "pods", "class": "crash_loop", "match": {"labels": {"reason": "CrashLoop"}}},
        ]
    }
)


def alert(n: int = 0, **fields: object) -> AlertReceived:
    base: dict[str, object] = {
        "source_kind": "prometheus",
        "alert_id": f"a-{n}",
        "rule": "HighMemory",
        "status": "Fired",
        "resource_id": "/k8s/prod/checkout",
        "environment": "prod",
        "fired_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
        "description": f"firing {n}",
        "labels": {"pod": "checkout-1"},
        "raw": {"n": n},
    }
    return AlertReceived.model_validate(base | fields)


def correlator() -> Correlator:
    return Correlator(ServiceCatalog(), CLASSIFIER, builtin_registry())


def test_firings_that_differ_only_in_identity_time_and_text_share_one_context() -> None:
    c = correlator()
    first = c.context(alert(1))
    assert c.context(alert(2, severity="Sev1")) is first
    assert first == correlator().context(alert(2))


def test_every_structural_field_and_label_is_part_of_the_shape() -> None:
    c = correlator()
    c.context(alert())
    variants = [
        alert(rule="PodRestarts"),
        alert(resource_id="/k8s/prod/payments"),
        alert(environment="staging"),
        alert(service="checkout"),
        alert(source_kind="grafana"),
        alert(labels={"pod": "checkout-1", "reason": "CrashLoop"}, rule="Other"),
    ]
    for variant in variants:
        remembered = c.context(variant)
        assert remembered == correlator().context(variant)  # the same as computed afresh
    assert len(c._contexts) == 1 + len(variants)  # each one a shape of its own, none served another's


def test_the_memory_is_bounded() -> None:
    c = correlator()
    for n in range(CONTEXTS_REMEMBERED + 10):
        c.context(alert(n, resource_id=f"/k8s/prod/svc-{n}"))
    assert len(c._contexts) <= CONTEXTS_REMEMBERED
