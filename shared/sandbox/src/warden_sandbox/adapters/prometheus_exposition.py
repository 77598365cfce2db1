"""Prometheus exposition of the simulated services (`GET /metrics`, `GET /metrics?service=NAME`).

Metric names are the ones real exporters use (cAdvisor, kube-state-metrics, node-exporter,
blackbox-exporter, an HTTP server's RED metrics), so the planner's PromQL templates, the shipped
alert rules (deploy/prometheus/warden-sandbox.rules.yml) and a user's dashboards work unchanged
against the sandbox and against a real estate. Every series carries `service` and `environment`.

Scraped per service (`?service=NAME`, one target each) an unhealthy service answers 503, so
Prometheus's own `up{service=...}` says what a crashed instance would: the target is down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from warden_sandbox.domain.traffic import LATENCY_BUCKETS, Traffic

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
MEMORY_LIMIT_BYTES = 512 * 1024 * 1024
DISK_SIZE_BYTES = 100 * 1024**3
_LABELS = ["service", "environment"]


def _gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=[*_LABELS, *extra])


class SandboxCollector(Collector):
    def __init__(self, views: list[dict[str, Any]], traffic: Traffic, now: datetime) -> None:
        self._views = views
        self._traffic = traffic
        self._now = now

    def collect(self) -> Iterator[Metric]:
        memory = _gauge("container_memory_working_set_bytes", "Working set of the service's containers")
        limit = _gauge("container_spec_memory_limit_bytes", "Memory limit of the service's containers")
        requests = CounterMetricFamily(
            "http_requests", "HTTP requests served, by status code", labels=[*_LABELS, "code"]
        )
        latency = HistogramMetricFamily("http_request_duration_seconds", "HTTP request latency", labels=_LABELS)
        queue = _gauge("queue_messages_ready", "Messages waiting in the service's work queue")
        free = _gauge("node_filesystem_avail_bytes", "Free bytes on the service's data volume")
        size = _gauge("node_filesystem_size_bytes", "Size of the service's data volume")
        cert = _gauge("probe_ssl_earliest_cert_expiry", "Expiry of the service's TLS certificate (unix seconds)")
        restarts = CounterMetricFamily(
            "kube_pod_container_status_restarts", "Container restarts of the service", labels=_LABELS
        )
        replicas = _gauge(
            "kube_deployment_status_replicas_available", "Available replicas of the service", ("deployment",)
        )
        info = _gauge("warden_sandbox_service_info", "The simulated service and its running version", ("version",))
        now_s = self._now.timestamp()
        for view in self._views:
            labels = [str(view["name"]), str(view["environment"])]
            memory.add_metric(labels, float(view["memory_pct"]) / 100 * MEMORY_LIMIT_BYTES)
            limit.add_metric(labels, MEMORY_LIMIT_BYTES)
            served = self._traffic.of(labels[0])
            requests.add_metric([*labels, "200"], float(int(served.requests - served.errors)))
            requests.add_metric([*labels, "500"], float(int(served.errors)))
            buckets = [(str(b), float(int(c))) for b, c in zip(LATENCY_BUCKETS, served.buckets, strict=True)]
            latency.add_metric(labels, [*buckets, ("+Inf", float(int(served.requests)))], served.duration_sum_s)
            queue.add_metric(labels, float(view["queue_depth"]))
            free.add_metric(labels, (1 - float(view["disk_pct"]) / 100) * DISK_SIZE_BYTES)
            size.add_metric(labels, DISK_SIZE_BYTES)
            cert.add_metric(labels, now_s + float(view["cert_days_left"]) * 86400)
            restarts.add_metric(labels, float(view["restarts"]))
            replicas.add_metric([*labels, labels[0]], float(view["replicas"]))
            info.add_metric([*labels, str(view.get("version") or "")], 1.0)
        yield from (memory, limit, requests, latency, queue, free, size, cert, restarts, replicas, info)


def exposition(
    views: Callable[[], list[dict[str, Any]]], traffic: Traffic, clock: Callable[[], datetime], service: str | None
) -> tuple[int, bytes]:
    """HTTP status and body: every service, or one (404 unknown, 503 while it is down)."""
    selected = views()
    if service is not None:
        selected = [v for v in selected if v["name"] == service]
        if not selected:
            return 404, f"# unknown service {service!r}\n".encode()
        if not selected[0].get("healthy", 1):
            return 503, f"# {service} is down\n".encode()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SandboxCollector(selected, traffic, clock()))
    return 200, generate_latest(registry)
