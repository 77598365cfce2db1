"""The simulated estate: services that evolve each tick, injectable faults, remediation actions.

Action parameters are validated against the vetted action catalog, so the sandbox accepts exactly
the bounds the planner and policy reason about.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from random import Random
from typing import Any, NamedTuple

from warden_contracts.catalog import Catalog, ParamSpec

from warden_sandbox.domain.clock import iso
from warden_sandbox.domain.dynamics import advance, fault_started
from warden_sandbox.domain.errors import InvalidParams, UnknownAction, UnknownService
from warden_sandbox.domain.service import Fault, ServiceState

ACTION_KINDS = ("restart_service", "scale_service", "rollback_deployment", "renew_certificate")
FAULT_KINDS = (
    "memory_leak",
    "bad_deploy",
    "queue_backlog",
    "crash_loop",
    "unresponsive",
    "disk_pressure",
    "cert_expiring",
    "error_burst",
    "deploy",
)
MEMORY_AFTER_RESTART = 35.0
RENEWED_CERT_DAYS = 90.0
MAX_LOG_TEXT = 4000


class ActionResult(NamedTuple):
    before: dict[str, Any]
    after: dict[str, Any]


def _fault_specs(version: ParamSpec) -> dict[str, dict[str, ParamSpec]]:
    optional_int = {"type": "int", "required": False}
    return {
        "memory_leak": {},
        "bad_deploy": {"version": version},
        "queue_backlog": {"required_replicas": ParamSpec(**optional_int, min=1, max=20)},
        "crash_loop": {"cause": ParamSpec(type="str", choices=["bad_deploy", "config"], required=False)},
        # A wedged instance: it stays up but fails its readiness probe, with no other symptom; a restart cures it.
        "unresponsive": {},
        "disk_pressure": {},
        "cert_expiring": {"days": ParamSpec(**optional_int, min=0, max=14)},
        # A clean release: no symptom of its own (it may still hurt a dependency, see error_burst).
        "deploy": {"version": version},
        # Errors this service shows because another one misbehaves (a misleading symptom).
        "error_burst": {
            "percent": ParamSpec(**optional_int, min=5, max=90),
            "caused_by": ParamSpec(type="str", required=False),
        },
    }


def _check(specs: dict[str, ParamSpec], params: dict[str, Any], what: str) -> None:
    errors = [f"{name}: not a parameter of {what}" for name in params if name not in specs]
    for name, spec in specs.items():
        if name in params:
            problem = spec.check(name, params[name])
            if problem:
                errors.append(problem)
        elif spec.required:
            errors.append(f"{name}: required")
    if errors:
        raise InvalidParams(errors)


class World:
    def __init__(self, services: Iterable[ServiceState], *, rng: Random, catalog: Catalog, ticks: int = 0) -> None:
        self.services = {svc.name: svc for svc in services}
        self.rng = rng
        self.catalog = catalog
        self.ticks = ticks
        missing = [kind for kind in ACTION_KINDS if catalog.get(kind) is None]
        if missing:
            raise ValueError(f"the catalog lacks actions the sandbox implements: {missing}")
        to_version = catalog.actions["rollback_deployment"].params.get("to_version")
        if to_version is None:
            raise ValueError("the catalog's rollback_deployment has no to_version parameter")
        self._fault_specs = _fault_specs(to_version)

    def get(self, name: str) -> ServiceState:
        svc = self.services.get(name)
        if svc is None:
            raise UnknownService(name)
        return svc

    def views(self) -> list[dict[str, Any]]:
        return [svc.view() for svc in self.services.values()]

    def tick(self, now: datetime) -> None:
        self.ticks += 1
        at = iso(now)
        for svc in self.services.values():
            advance(svc, self.rng, at)
        self._end_bursts_whose_cause_is_fixed(at)

    def _end_bursts_whose_cause_is_fixed(self, at: str) -> None:
        for svc in self.services.values():
            burst = svc.fault("error_burst")
            cause = self.services.get(str(burst.params.get("caused_by", ""))) if burst else None
            # The storm lasts as long as the causing service runs the version that started it.
            if burst is not None and cause is not None and cause.version != burst.params.get("cause_version"):
                svc.remove_fault("error_burst")
                svc.log(at, "INFO", f"client error storm from {cause.name} stopped")

    def neighbours(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """Health of what a service calls (dependencies) and of what calls it (dependents)."""
        svc = self.get(name)
        dependents = [s for s in self.services.values() if name in s.dependencies]
        called = [self.services[d] for d in svc.dependencies if d in self.services]
        return {"dependencies": [_summary(s) for s in called], "dependents": [_summary(s) for s in dependents]}

    def reset(self, services: Iterable[ServiceState], *, seed: int) -> None:
        """Replace the whole estate (a scenario's starting world); the tick counter keeps counting."""
        self.services = {svc.name: svc for svc in services}
        self.rng.seed(seed)

    # -- actions (the remediator's writes) -------------------------------------------------

    def apply(self, name: str, kind: str, params: dict[str, Any], *, now: datetime, actor: str) -> ActionResult:
        """Entry point for the HTTP API: dispatch by catalog kind after validating params."""
        svc = self.get(name)
        spec = self.catalog.get(kind)
        if kind not in ACTION_KINDS or spec is None:
            raise UnknownAction(kind)
        _check(spec.params, params, kind)
        before = svc.view()
        at = iso(now)
        if kind == "restart_service":
            self._restart(svc, at, actor)
        elif kind == "scale_service":
            self._scale(svc, params["replicas"], at, actor)
        elif kind == "rollback_deployment":
            self._rollback(svc, params["to_version"], at, actor)
        else:
            self._renew(svc, at, actor)
        return ActionResult(before, svc.view())

    def restart_service(self, name: str, *, now: datetime, actor: str = "operator") -> ActionResult:
        return self.apply(name, "restart_service", {}, now=now, actor=actor)

    def scale_service(self, name: str, replicas: Any, *, now: datetime, actor: str = "operator") -> ActionResult:
        return self.apply(name, "scale_service", {"replicas": replicas}, now=now, actor=actor)

    def rollback_deployment(
        self, name: str, to_version: Any, *, now: datetime, actor: str = "operator"
    ) -> ActionResult:
        return self.apply(name, "rollback_deployment", {"to_version": to_version}, now=now, actor=actor)

    def renew_certificate(self, name: str, *, now: datetime, actor: str = "operator") -> ActionResult:
        return self.apply(name, "renew_certificate", {}, now=now, actor=actor)

    def _restart(self, svc: ServiceState, at: str, actor: str) -> None:
        svc.log(at, "INFO", f"rolling restart of {svc.replicas} replicas requested by {actor}")
        svc.restarts += 1
        if svc.remove_fault("memory_leak"):
            # Fresh processes start with an empty heap; the leak needs hours to come back.
            svc.memory_pct = MEMORY_AFTER_RESTART + self.rng.uniform(-1.0, 1.0)
        loop = svc.fault("crash_loop")
        if loop is not None and loop.params.get("cause") == "bad_deploy" and svc.fault("bad_deploy"):
            svc.log(at, "ERROR", f"container exits again after restart: build {svc.version} fails on start")
            return
        svc.remove_fault("crash_loop")
        svc.remove_fault("unresponsive")
        svc.healthy = 1
        svc.log(at, "INFO", "all replicas passed their readiness probe")

    def _scale(self, svc: ServiceState, replicas: int, at: str, actor: str) -> None:
        svc.log(at, "INFO", f"scaled from {svc.replicas} to {replicas} replicas by {actor}")
        svc.replicas = replicas

    def _rollback(self, svc: ServiceState, to_version: str, at: str, actor: str) -> None:
        bad = svc.fault("bad_deploy")
        svc.deploy(to_version, at, actor)
        svc.log(at, "INFO", f"rolled back from {svc.previous_version} to {to_version} by {actor}")
        if bad is None or bad.params.get("from_version") != to_version:
            # Any version other than the last known-good one carries the same defect in this world.
            return
        svc.remove_fault("bad_deploy")
        loop = svc.fault("crash_loop")
        if loop is not None and loop.params.get("cause") == "bad_deploy":
            svc.remove_fault("crash_loop")
            svc.healthy = 1

    def _renew(self, svc: ServiceState, at: str, actor: str) -> None:
        svc.remove_fault("cert_expiring")
        svc.cert_days_left = RENEWED_CERT_DAYS
        svc.log(at, "INFO", f"TLS certificate renewed and bound by {actor}; valid for 90 days")

    # -- faults (the scenario author's writes) ---------------------------------------------

    def inject_fault(
        self, name: str, kind: str, params: dict[str, Any], *, now: datetime, log_text: str | None = None
    ) -> Fault:
        svc = self.get(name)
        specs = self._fault_specs.get(kind)
        if specs is None:
            raise InvalidParams([f"kind: {kind!r} is not one of {list(FAULT_KINDS)}"])
        _check(specs, params, kind)
        if log_text is not None and (not isinstance(log_text, str) or len(log_text) > MAX_LOG_TEXT):
            raise InvalidParams([f"log_text: expected a string of at most {MAX_LOG_TEXT} characters"])
        params = dict(params)
        if kind == "bad_deploy":
            if params["version"] == svc.version:
                raise InvalidParams([f"version: {svc.name} already runs {svc.version}"])
            existing = svc.fault("bad_deploy")
            # A second bad deploy on top of a bad one still rolls back to the last good version.
            params["from_version"] = existing.params["from_version"] if existing else svc.version
        elif kind == "queue_backlog":
            params.setdefault("required_replicas", 2 * svc.replicas)
        elif kind == "crash_loop":
            params.setdefault("cause", "bad_deploy" if svc.fault("bad_deploy") else "config")
        elif kind == "cert_expiring":
            params.setdefault("days", 5)
        elif kind == "error_burst":
            params.setdefault("percent", 20)
            cause = params.get("caused_by")
            if cause is not None and cause not in self.services:
                raise InvalidParams([f"caused_by: {cause!r} is not a service of this estate"])
            if cause is not None:
                params["cause_version"] = self.services[cause].version
        elif kind == "deploy" and params["version"] == svc.version:
            raise InvalidParams([f"version: {svc.name} already runs {svc.version}"])
        at = iso(now)
        fault = Fault(kind=kind, params=params, log_text=log_text, injected_at=at)
        if kind != "deploy":  # a deploy is an event, not a lasting fault
            svc.remove_fault(kind)
            svc.faults.append(fault)
        fault_started(svc, fault, at)
        return fault

    def clear_faults(self, name: str, *, now: datetime) -> list[str]:
        """Scenario reset: drop every fault; metrics settle back over the next ticks."""
        svc = self.get(name)
        cleared = [f.kind for f in svc.faults]
        svc.faults = []
        svc.healthy = 1
        if cleared:
            svc.log(iso(now), "INFO", f"faults cleared: {', '.join(cleared)}")
        return cleared

    # -- persistence -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {
            "ticks": self.ticks,
            "rng": [version, list(internal), gauss],
            "services": [svc.to_dict() for svc in self.services.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], catalog: Catalog) -> World:
        rng = Random()
        version, internal, gauss = data["rng"]
        rng.setstate((version, tuple(internal), gauss))
        services = [ServiceState.from_dict(s) for s in data["services"]]
        return cls(services, rng=rng, catalog=catalog, ticks=int(data["ticks"]))


def _summary(svc: ServiceState) -> dict[str, Any]:
    view = svc.view()
    last = svc.deployments[-1].at if svc.deployments else None
    keys = ("name", "environment", "healthy", "error_rate", "latency_ms", "version")
    return {**{k: view[k] for k in keys}, "last_deployed_at": last}
