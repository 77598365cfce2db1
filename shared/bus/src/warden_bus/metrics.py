"""Prometheus metrics of a service process, on `prometheus_client` (docs/operability.md lists them).

- `Counters`: the event counts handlers report (`inc("webhook_rejected", status="422")`), one
  counter family per name (`warden_webhook_rejected_total{service,status}`): what varies is a label,
  never part of the name. Handlers get a `Counters` before the runtime exists, so it is a collector
  that learns its service label from the runtime.
- `ServiceMetrics`: one registry per runtime with the counters, an HTTP latency histogram (every
  route, webhooks included) and whatever gauges the composition root adds (the audit KPIs).
- The process registry: `process_*`, `python_*` and the bus handler latency histogram, which the
  broker adapters feed through `observe_handler` (one per process, labelled by bus identity).

Domain code never imports this; adapters and composition roots do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("warden.metrics")

# HELP texts of the counters the services report; a name missing here still gets a HELP line.
HELP: dict[str, str] = {
    "webhook_accepted": "Alerts accepted by the webhook gateway and published on the bus",
    "webhook_rejected": "Webhook calls refused as invalid, by HTTP status (dead-lettered and audited)",
    "webhook_unauthorized": "Webhook calls refused for a missing or wrong credential",
    "webhook_busy": "Webhook calls answered 429 because too many alerts were in flight",
    "webhook_backlogged": "Webhook calls answered 429 because triage's backlog was full",
    "webhook_held": "Webhook calls that found triage's backlog full and waited for room",
    "webhook_unavailable": "Webhook calls answered 503 because the bus did not accept the alerts",
    "webhook_truncated_alerts": "Alerts the source dropped from a group before sending (truncatedAlerts)",
    "alerts": "Alerts handled by triage, by fate (opened, attached, held, ...)",
    "incidents": "Incident changes published by triage, by change (opened, updated, resolved)",
    "held_sweeps": "Runs of triage's sweep over held alert groups",
    "held_groups_released": "Held alert groups released by the sweep",
    "held_release_failures": "Held alert groups the sweep failed to release",
    "actions": "Executor action reports, by status",
    "audit_records": "Messages recorded in the audit log",
    "audit_duplicates": "Redelivered messages the audit log had already recorded",
    "audit_store_errors": "Audit store writes that failed (the message is retried)",
    "audit_announce_failures": "Audit records not announced on the SIEM stream",
    "approvals_expired": "Approval requests that reached their deadline unanswered",
    "control_recorded": "Operator controls (kill switch, freeze, modes) recorded by the planner",
    "task_proposals": "Plans proposed by scheduled tasks",
    "task_reports": "Scheduled task reports, by status",
    "task_runs": "Scheduled task runs, by outcome",
    "scheduler_ticks": "Scheduler evaluation ticks",
    "notifications_sent": "Approval notifications sent to a channel",
    "notifications_failed": "Approval notifications that could not be sent",
    "decisions_sent": "Approval decisions published, by channel",
    "decisions_refused": "Approval decisions refused, by channel",
    "messages_published": "Messages the planner's outbox published, by topic",
    "plans": "Plan proposals the policy gate decided",
    "approval_decisions": "Approval decisions the policy service handled",
    "incident_changes": "Incident changes the policy service handled",
    "action_reports": "Action reports the policy service handled",
    "control_changes": "Operator controls the policy service applied",
    "doorbells": "Doorbells (pending actions) the executor answered",
    "elevations": "Just-in-time elevations the executor obtained",
    "elevation_failures": "Elevations the executor asked for and did not get",
    "doorbells_not_elevated": "Doorbells the executor could not act on without elevation",
}

# Seconds; a webhook or a handler slower than 10 s is already an incident of its own.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

LabelKey = tuple[tuple[str, str], ...]


class Counters(Collector):
    """Monotonic event counts; `values` is the flat view tests and logs read (`actions_verified`)."""

    def __init__(self) -> None:
        self.service = ""
        self._series: dict[str, dict[LabelKey, float]] = {}
        # Kept live (not computed on read): tests hold on to it and poll.
        self.values: dict[str, int] = {}

    def inc(self, name: str, by: float = 1, **labels: str) -> None:
        if by < 0:
            log.warning("counter %s decremented by %s; ignored", name, by)
            return
        key = tuple(sorted((k, str(v)) for k, v in labels.items()))
        series = self._series.setdefault(name, {})
        series[key] = series.get(key, 0) + by
        flat = "_".join([name, *(v for _, v in key)])
        self.values[flat] = self.values.get(flat, 0) + int(by)

    def snapshot(self) -> dict[str, list[tuple[LabelKey, float]]]:
        """Every series as plain data (JSON-ready), for `mirror` in another process."""
        return {name: list(series.items()) for name, series in self._series.items()}

    def mirror(self, snapshot: Mapping[str, Sequence[tuple[Sequence[Sequence[str]], float]]]) -> None:
        """Becomes a copy of another process's `snapshot()` (a worker's counts served here)."""
        self._series = {
            name: {tuple((str(k), str(v)) for k, v in key): float(value) for key, value in series}
            for name, series in snapshot.items()
        }
        self.values = {
            "_".join([name, *(v for _, v in key)]): int(value)
            for name, series in self._series.items()
            for key, value in series.items()
        }

    def collect(self) -> Iterator[Metric]:
        for name in sorted(self._series):
            series = self._series[name]
            # Every series of one family carries the same label names; one left out is "".
            names = sorted({k for key in series for k, _ in key})
            family = CounterMetricFamily(
                f"warden_{name}", HELP.get(name, name.replace("_", " ")), labels=["service", *names]
            )
            for key, value in sorted(series.items()):
                given = dict(key)
                family.add_metric([self.service, *(given.get(n, "") for n in names)], value)
            yield family


# `*_created` series double every family's size and no Warden query or rule reads them.
disable_created_metrics()
_PROCESS = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    _PROCESS.register(_collector)
_HANDLER_SECONDS = Histogram(
    "warden_handler_duration_seconds",
    "Time to handle one bus message, by topic and settlement (ack, retry, dead_letter)",
    ["service", "topic", "outcome"],
    buckets=LATENCY_BUCKETS,
    registry=_PROCESS,
)


def observe_handler(service: str, topic: str, outcome: str, seconds: float) -> None:
    _HANDLER_SECONDS.labels(service, topic, outcome).observe(seconds)


class ServiceMetrics:
    """The registry one runtime serves at /metrics, with the process-wide metrics appended."""

    # The classic text format every Prometheus 2.x understands.
    content_type = CONTENT_TYPE_PLAIN_0_0_4

    def __init__(self, service: str, counters: Counters) -> None:
        self.service = service
        counters.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(counters)
        self._http = Histogram(
            "warden_http_request_duration_seconds",
            "Time to answer one HTTP request (webhooks, APIs, pages), by method, route and status code",
            ["service", "method", "route", "code"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_http(self, method: str, route: str, code: int, seconds: float) -> None:
        self._http.labels(self.service, method, route, str(code)).observe(seconds)

    def add(self, collectors: Iterable[Collector]) -> None:
        for collector in collectors:
            self.registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry) + generate_latest(_PROCESS)
