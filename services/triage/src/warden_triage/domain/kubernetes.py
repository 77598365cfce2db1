"""Which Kubernetes workload a Prometheus/Grafana alert is about, from its labels alone.

kube-state-metrics and the kube-prometheus rules label alerts with `namespace` plus one of
`deployment`, `statefulset`, `daemonset` (or `workload` from the `kube_pod_owner` recording rules);
pod-level alerts carry only `pod`. A pod name is its owner's name plus generated suffixes:
`<deployment>-<replicaset hash>-<pod hash>`, `<statefulset>-<ordinal>`, `<daemonset>-<pod hash>`.
Stripping them makes a storm of pod alerts one workload, hence one incident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# Kubernetes' generated-name alphabet (no vowels, no 0/1/3, so no words or look-alikes).
_HASH = "[bcdfghjklmnpqrstvwxz2456789]"
_DEPLOYMENT_POD = re.compile(rf"^(?P<name>.+)-{_HASH}{{6,10}}-{_HASH}{{5}}$")
_REPLICASET = re.compile(rf"^(?P<name>.+)-{_HASH}{{6,10}}$")
_STATEFUL_POD = re.compile(r"^(?P<name>.+)-(?:0|[1-9][0-9]{0,4})$")
_DAEMON_POD = re.compile(rf"^(?P<name>.+)-{_HASH}{{5}}$")
_OWNER_LABELS = ("deployment", "statefulset", "daemonset", "workload")


@dataclass(frozen=True)
class Workload:
    namespace: str | None
    name: str
    cluster: str | None = None

    @property
    def qualified(self) -> str:
        """`namespace/name`, or the bare name when the alert carries no namespace. So a
        `kube-system` workload is always `kube-system/<name>`, which the action catalog's
        do-not-touch list (`kube-system/*`) meets."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def _label(labels: Mapping[str, str], name: str) -> str | None:
    value = labels.get(name, "").strip()
    return value or None


def pod_owner(pod: str) -> str:
    """The workload a pod belongs to, by the shape of its generated name."""
    for pattern in (_DEPLOYMENT_POD, _STATEFUL_POD, _DAEMON_POD):
        match = pattern.match(pod)
        if match:
            return match.group("name")
    return pod


def workload_of(labels: Mapping[str, str]) -> Workload | None:
    """The workload named by the owner labels, else by the ReplicaSet or pod name; None if none."""
    namespace = _label(labels, "namespace")
    cluster = _label(labels, "cluster")
    for owner in _OWNER_LABELS:
        name = _label(labels, owner)
        if name:
            return Workload(namespace, name, cluster)
    replicaset = _label(labels, "replicaset")
    if replicaset:
        match = _REPLICASET.match(replicaset)
        return Workload(namespace, match.group("name") if match else replicaset, cluster)
    pod = _label(labels, "pod") or _label(labels, "pod_name")
    if pod:
        return Workload(namespace, pod_owner(pod), cluster)
    return None


def service_of(labels: Mapping[str, str]) -> str | None:
    """The alert's own claim of its service: an explicit `service` label wins; else the workload,
    qualified by namespace (`shop/checkout-api`, `kube-system/coredns`); else the app labels.

    Prometheus Operator adds `service` *with* `endpoint` to every series it scrapes: there the
    label names the scrape target (kube-state-metrics for every pod alert), not the subject, so
    the workload labels win."""
    explicit = _label(labels, "service")
    workload = workload_of(labels)
    if explicit and (workload is None or _label(labels, "endpoint") is None):
        return explicit
    if workload is not None:
        return workload.qualified
    return explicit or _label(labels, "app_kubernetes_io_name") or _label(labels, "app")
