"""The incident page's facts from audit records: header, triggering alerts with links back to their
monitor (only http(s)), and the decisive metric before and after the action."""

from __future__ import annotations

from typing import Any

from warden_console.domain.incident_view import (
    AZURE_ALERT_URL,
    header,
    metric_story,
    monitor_links,
    triggering_alerts,
)
from warden_contracts.catalog import default_catalog

AZURE_ID = "/subscriptions/s1/providers/Microsoft.AlertsManagement/alerts/7d1c"


def record(seq: int, topic: str, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "type": topic, "recorded_at": f"2026-12-02T10:00:0{seq}Z", "envelope": {"data": data}}


def alertmanager_alert(**item: Any) -> dict[str, Any]:
    return {
        "alert_id": "prometheus:abc:2026-12-02T09:59:00+00:00",
        "source_kind": "prometheus",
        "rule": "KubePodCrashLooping",
        "status": "Fired",
        "severity": "Sev1",
        "resource_id": "orders-worker-7c9f",
        "fired_at": "2026-12-02T09:59:00+00:00",
        "raw": {
            "externalURL": "http://alertmanager.monitoring:9093",
            "commonAnnotations": {"runbook_url": "https://runbooks.example.com/crash"},
            "alert": {"generatorURL": "http://prometheus:9090/graph?g0.expr=up", **item},
        },
    }


def azure_alert() -> dict[str, Any]:
    criterion = {"metricName": "error_rate", "metricValue": 0.31, "threshold": "0.05"}
    return {
        "alert_id": AZURE_ID,
        "source_kind": "azure_monitor",
        "rule": "High HTTP 5xx rate",
        "status": "Fired",
        "severity": "Sev1",
        "resource_id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Web/sites/payments-api",
        "fired_at": "2026-12-02T10:00:00+00:00",
        "raw": {
            "data": {
                "essentials": {"alertId": AZURE_ID},
                "alertContext": {"condition": {"allOf": [criterion]}},
            }
        },
    }


def test_header_follows_the_latest_incident_change() -> None:
    records = [
        record(2, "sre.incident.changed.v1", change="updated", title="t", service="payments-api", environment="prod",
               severity="Sev1", alert_count=2, alert_ids=["a", "b"], opened_at="2026-12-02T10:00:00Z"),
        record(1, "sre.incident.changed.v1", change="opened", service="payments-api", severity="Sev2", alert_ids=["a"]),
    ]
    head = header(records)
    assert (head.service, head.environment, head.severity) == ("payments-api", "prod", "Sev1")
    assert head.alert_ids == ("a", "b")
    assert header([]).service == ""


def test_links_point_back_at_the_monitor_and_never_run_script() -> None:
    links = dict(monitor_links(alertmanager_alert(dashboardURL="javascript:alert(1)")))
    assert links["source rule"].startswith("http://prometheus:9090/graph")
    assert links["alertmanager"] == "http://alertmanager.monitoring:9093"
    assert links["runbook"] == "https://runbooks.example.com/crash"
    assert "dashboard" not in links  # a crafted scheme from an untrusted sender is dropped
    [(label, url)] = monitor_links(azure_alert())
    assert label == "Azure portal" and url.startswith(AZURE_ALERT_URL) and "%2Fsubscriptions%2Fs1" in url


def test_triggering_alerts_keep_each_alerts_latest_state_firing_first() -> None:
    fired = alertmanager_alert()
    resolved = {**azure_alert(), "status": "Resolved"}
    lines = triggering_alerts(
        [
            record(1, "sre.alert.received.v1", **{**resolved, "status": "Fired"}),
            record(2, "sre.alert.received.v1", **fired),
            record(3, "sre.alert.received.v1", **resolved),
        ]
    )
    assert [(a.rule, a.status) for a in lines] == [("KubePodCrashLooping", "Fired"), ("High HTTP 5xx rate", "Resolved")]
    assert lines[0].links[0][0] == "source rule"


def test_decisive_metric_before_and_after_the_action() -> None:
    action = {"action_id": "act-1", "kind": "rollback_deployment", "target": "payments-api"}
    evidence = [{"tool": "get_service", "result": {"error_rate": 0.2558, "healthy": 1}}]
    report = record(
        5, "sre.action.reported.v1", action_id="act-1", status="verified", evidence={"metrics": {"error_rate": 0.004}}
    )
    story = metric_story(default_catalog(), action, evidence, [azure_alert()], [report])
    assert story is not None
    assert (story.metric, story.at_alert, story.at_proposal, story.after_action) == ("error_rate", 0.31, 0.2558, 0.004)
    assert story.target == "error_rate <= 0.02"
    assert metric_story(default_catalog(), {"kind": "no_such_action"}, evidence, [], []) is None
    pending = metric_story(default_catalog(), action, evidence, [], [])
    assert pending is not None and pending.after_action is None and pending.at_alert is None
