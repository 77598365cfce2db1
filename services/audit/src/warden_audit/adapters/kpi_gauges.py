"""Incident KPIs as Prometheus gauges on the audit service's /metrics (`warden_kpi_*`).

Computed from the audit log exactly as `warden kpi` does, for the last 24 hours and the last 7
days (`window` label). Reading the whole log on every scrape would cost more as the log grows,
so a result is reused for `max_age_s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from warden_audit.domain.kpis import KpiReport, metric_name, report

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}


class KpiGauges(Collector):
    def __init__(
        self,
        records: Callable[[], Iterable[dict[str, Any]]],
        clock: Callable[[], datetime],
        *,
        max_age_s: float = 10.0,
    ) -> None:
        self._records = records
        self._clock = clock
        self._max_age_s = max_age_s
        self._cached: tuple[float, dict[str, KpiReport]] | None = None

    def _reports(self) -> dict[str, KpiReport]:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > self._max_age_s:
            records = list(self._records())
            until = self._clock()
            self._cached = (now, {w: report(records, until - span, None) for w, span in WINDOWS.items()})
        return self._cached[1]

    def collect(self) -> Iterator[Metric]:
        reports = self._reports()
        incidents = GaugeMetricFamily(
            "warden_kpi_incidents", "Incidents opened in the window (from the audit log)", labels=["window"]
        )
        families: dict[str, GaugeMetricFamily] = {}
        for window, result in reports.items():
            incidents.add_metric([window], len(result.incidents))
            for kpi in result.kpis:
                name = metric_name(kpi.key, kpi.unit)
                doc = f"{kpi.label} ({'median, ' if kpi.unit == 's' else ''}{kpi.unit}; NaN without incidents)"
                family = families.setdefault(name, GaugeMetricFamily(name, doc, labels=["window"]))
                family.add_metric([window], float("nan") if kpi.value is None else float(kpi.value))
        yield incidents
        yield from families.values()
