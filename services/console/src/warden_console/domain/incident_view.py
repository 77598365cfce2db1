"""What an approver reads first about an incident: its header, the alerts that triggered it (with a
link back to the monitor that raised each), and the decisive metric before and after the action.

Everything here comes from audit records, i.e. from alert senders and tool output: untrusted. Links
are kept only when they are plain http(s) URLs, so a crafted label cannot become `javascript:`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from warden_contracts.catalog import Catalog, MetricCheck

Record = Mapping[str, Any]
MAX_ALERTS = 20
AZURE_ALERT_URL = "https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/AlertDetails.ReactView/alertId/"
# Alertmanager / Grafana alert fields and group fields that point back at the source, by label.
_ALERT_LINKS = (
    ("generatorURL", "source rule"),
    ("dashboardURL", "dashboard"),
    ("panelURL", "panel"),
    ("silenceURL", "silence"),
)
_ANNOTATION_LINKS = (("runbook_url", "runbook"), ("dashboard_url", "dashboard"))


@dataclass(frozen=True)
class Header:
    title: str = ""
    service: str = ""
    environment: str = ""
    severity: str = ""
    incident_class: str = ""
    opened_at: str = ""
    alert_count: int = 0
    alert_ids: tuple[str, ...] = ()
    owner: str = ""
    # Triage's notes for the responder, e.g. "unmapped resource — add it to warden.yaml" and its snippet.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertLine:
    rule: str
    severity: str
    status: str
    source_kind: str
    fired_at: str
    resource_id: str
    service: str
    description: str
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MetricStory:
    """One metric across the incident: as alerted, as the planner saw it, after the action."""

    metric: str
    target: str = ""
    at_alert: Any = None
    at_proposal: Any = None
    after_action: Any = None
    checks: tuple[str, ...] = field(default_factory=tuple)


def _data(record: Record) -> Mapping[str, Any]:
    envelope = record.get("envelope") or {}
    data = envelope.get("data") if isinstance(envelope, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def header(records: Iterable[Record]) -> Header:
    """From triage's latest `incident.changed` (the alert ids grow as alerts attach)."""
    latest: Mapping[str, Any] = {}
    for record in sorted(records, key=lambda r: int(r.get("seq", 0))):
        if record.get("type") == "sre.incident.changed.v1":
            latest = _data(record)
    if not latest:
        return Header()
    return Header(
        title=_text(latest.get("title")),
        service=_text(latest.get("service") or latest.get("root_service")),
        environment=_text(latest.get("environment")),
        severity=_text(latest.get("severity")),
        incident_class=_text(latest.get("incident_class")),
        opened_at=_text(latest.get("opened_at")),
        alert_count=int(latest.get("alert_count") or 0),
        alert_ids=tuple(str(a) for a in (latest.get("alert_ids") or ())[:MAX_ALERTS]),
        owner=_text(latest.get("owner")),
        notes=tuple(str(n)[:4000] for n in (latest.get("notes") or ())[:10]),
    )


def safe_url(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 2048:
        return None
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in {"http", "https"} and parts.netloc else None


def monitor_links(alert: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Where to see this alert at its source: Alertmanager's `generatorURL`, Grafana's dashboard and
    panel, the Azure portal page of an Azure Monitor alert, a runbook annotation."""
    raw = alert.get("raw") if isinstance(alert.get("raw"), Mapping) else {}
    assert isinstance(raw, Mapping)
    found: list[tuple[str, str]] = []
    item = raw.get("alert") if isinstance(raw.get("alert"), Mapping) else {}
    assert isinstance(item, Mapping)
    for key, label in _ALERT_LINKS:
        if url := safe_url(item.get(key)):
            found.append((label, url))
    if url := safe_url(raw.get("externalURL")):
        found.append(("alertmanager", url))
    annotations = {**(raw.get("commonAnnotations") or {}), **(item.get("annotations") or {})}
    for key, label in _ANNOTATION_LINKS:
        if url := safe_url(annotations.get(key)):
            found.append((label, url))
    essentials = (raw.get("data") or {}).get("essentials") if isinstance(raw.get("data"), Mapping) else None
    if isinstance(essentials, Mapping) and str(essentials.get("alertId", "")).startswith("/subscriptions/"):
        found.append(("Azure portal", AZURE_ALERT_URL + quote(str(essentials["alertId"]), safe="")))
    ce_data = raw.get("data") if alert.get("source_kind") == "cloudevents" else None
    if isinstance(ce_data, Mapping) and (url := safe_url(ce_data.get("link") or ce_data.get("url"))):
        found.append(("source", url))
    if alert.get("source_kind") == "cloudevents" and (url := safe_url(raw.get("source"))):
        found.append(("event source", url))
    return tuple(dict.fromkeys(found))


def triggering_alerts(alert_records: Iterable[Record]) -> list[AlertLine]:
    """The alerts behind the incident, firing ones first, one line per alert (its latest state)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for record in sorted(alert_records, key=lambda r: int(r.get("seq", 0))):
        data = _data(record)
        if record.get("type") == "sre.alert.received.v1" and data.get("alert_id"):
            latest[str(data["alert_id"])] = data
    lines = [
        AlertLine(
            rule=_text(d.get("rule")),
            severity=_text(d.get("severity")),
            status=_text(d.get("status")),
            source_kind=_text(d.get("source_kind")),
            fired_at=_text(d.get("fired_at")),
            resource_id=_text(d.get("resource_id")),
            service=_text(d.get("service")),
            description=_text(d.get("description"))[:300],
            links=monitor_links(d),
        )
        for d in latest.values()
    ]
    return sorted(lines, key=lambda a: (a.status != "Fired", a.fired_at))[:MAX_ALERTS]


def _checks(catalog: Catalog, kind: str) -> list[MetricCheck]:
    spec = catalog.actions.get(kind)
    return list(spec.verification.checks) if spec and spec.verification else []


def decisive_metrics(catalog: Catalog, kind: str) -> list[str]:
    """The metric that justified the action (its preflight) first, then what verification checks;
    `healthy` only when nothing more specific is named."""
    spec = catalog.actions.get(kind)
    if spec is None:
        return []
    named = [c.metric for c in spec.preflight] + [c.metric for c in _checks(catalog, kind)]
    ordered = list(dict.fromkeys(named))
    specific = [m for m in ordered if m != "healthy"]
    return specific or ordered


def _alert_value(alerts: Sequence[Mapping[str, Any]], metric: str) -> Any:
    for alert in alerts:
        raw = alert.get("raw") if isinstance(alert.get("raw"), Mapping) else {}
        condition = (((raw or {}).get("data") or {}).get("alertContext") or {}).get("condition") or {}
        for criterion in condition.get("allOf") or () if isinstance(condition, Mapping) else ():
            if isinstance(criterion, Mapping) and criterion.get("metricName") == metric:
                return criterion.get("metricValue")
    return None


def metric_story(
    catalog: Catalog,
    action: Mapping[str, Any],
    evidence: Sequence[Mapping[str, Any]],
    alerts: Sequence[Mapping[str, Any]],
    records: Iterable[Record],
) -> MetricStory | None:
    kind = str(action.get("kind", ""))
    metrics = decisive_metrics(catalog, kind)
    if not metrics:
        return None
    metric = metrics[0]
    checks = tuple(c.describe() for c in _checks(catalog, kind))
    target = next((c.describe() for c in _checks(catalog, kind) if c.metric == metric), "")
    at_proposal = next(
        (e["result"][metric] for e in evidence if isinstance(e.get("result"), Mapping) and metric in e["result"]), None
    )
    after = None
    for record in sorted(records, key=lambda r: int(r.get("seq", 0))):
        data = _data(record)
        if record.get("type") == "sre.action.reported.v1" and data.get("action_id") == action.get("action_id"):
            observed = (data.get("evidence") or {}).get("metrics") or {}
            if isinstance(observed, Mapping) and metric in observed:
                after = observed[metric]
    return MetricStory(metric, target, _alert_value(alerts, metric), at_proposal, after, checks)


def alert_payloads(alert_records: Iterable[Record]) -> list[Mapping[str, Any]]:
    return [_data(r) for r in alert_records if r.get("type") == "sre.alert.received.v1"]
