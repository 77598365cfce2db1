"""Cross-checks the schema alone cannot express: names that must exist, resources claimed once.

Each problem points at the line of the offending entry and says how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterator

from warden_estate.problems import Lines, PathKey, Problem, dotted
from warden_estate.schema import ANY, Estate

# Groups the shipped Cedar approval policy lets approve (warden_policy/cedar/approvals.cedar).
APPROVING_GROUPS = ("sre-oncall", "sre-leads")


class _Report:
    def __init__(self, lines: Lines, file: str) -> None:
        self.lines, self.file = lines, file
        self.problems: list[Problem] = []

    def add(self, path: PathKey, message: str, fix: str) -> None:
        self.problems.append(Problem(self.file, self.lines.of(path), dotted(path), message, fix))


def _names(estate: Estate, report: _Report) -> set[str]:
    seen: dict[str, int] = {}
    for i, svc in enumerate(estate.services):
        if svc.name in seen:
            report.add(
                ("services", i, "name"),
                f"service {svc.name!r} is declared twice (first at services[{seen[svc.name]}])",
                "rename one, or merge the two entries",
            )
        seen.setdefault(svc.name, i)
    return set(seen)


def _dependencies(estate: Estate, names: set[str], report: _Report) -> None:
    for i, svc in enumerate(estate.services):
        for j, dep in enumerate(svc.dependencies):
            if dep not in names:
                report.add(
                    ("services", i, "dependencies", j),
                    f"{svc.name} depends on {dep!r}, which is not a service of this file",
                    f"add a service named {dep!r}, or remove it from the dependencies",
                )
            elif dep == svc.name:
                report.add(("services", i, "dependencies", j), f"{svc.name} depends on itself", "remove it")


def _claims(estate: Estate) -> Iterator[tuple[str, PathKey, str]]:
    """(claim key, path, human description) for every resource a service claims."""
    for i, svc in enumerate(estate.services):
        for j, rid in enumerate(svc.azure_resource_ids):
            yield f"azure:{rid.rstrip('/').lower()}", ("services", i, "azure_resource_ids", j), f"Azure resource {rid}"
        for j, k8s in enumerate(svc.kubernetes):
            where = f"{k8s.namespace}/{k8s.workload}"
            # No cluster means every cluster: it collides with the same workload on any cluster.
            for cluster in {k8s.cluster or ANY, ANY}:
                yield f"k8s:{cluster}:{where}", ("services", i, "kubernetes", j), f"Kubernetes workload {where}"
        for j, matcher in enumerate(svc.match_labels):
            pairs = ",".join(f"{k}={v}" for k, v in sorted(matcher.items()))
            yield f"labels:{pairs}", ("services", i, "match_labels", j), f"label matcher {{{pairs}}}"


def _claimed_once(estate: Estate, report: _Report) -> None:
    owner: dict[str, tuple[str, PathKey]] = {}
    reported: set[tuple[str, str]] = set()
    for key, path, what in _claims(estate):
        name = estate.services[int(path[1])].name
        first = owner.get(key)
        if first is None:
            owner[key] = (name, path)
        elif first[0] != name and (first[0], name) not in reported:
            reported.add((first[0], name))
            report.add(
                path,
                f"{what} is claimed by {first[0]} ({dotted(first[1])}) and by {name}",
                "keep it under exactly one service; an alert on it must mean one service",
            )


def _known(items: list[str], names: set[str], path: PathKey, what: str, report: _Report) -> None:
    for j, name in enumerate(items):
        if name != ANY and name not in names:
            report.add(
                (*path, j),
                f"{what} names service {name!r}, which is not declared under services",
                f"declare {name!r} under services, or use one of: {', '.join(sorted(names)[:8])}",
            )


def _plans_and_tasks(estate: Estate, names: set[str], report: _Report) -> None:
    for what, entries in (("response_plans", estate.response_plans), ("scheduled_tasks", estate.scheduled_tasks)):
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            if entry.name in seen:
                report.add((what, i, "name"), f"{entry.name!r} is declared twice", "give each a unique name")
            seen.add(entry.name)
    for i, plan in enumerate(estate.response_plans):
        _known(plan.match.services, names, ("response_plans", i, "match", "services"), f"plan {plan.name}", report)
        for j, env in enumerate(plan.match.environments):
            if env not in {ANY, "dev", "staging", "prod"}:
                report.add(
                    ("response_plans", i, "match", "environments", j),
                    f"plan {plan.name} matches environment {env!r}, which no service can have",
                    'use dev, staging, prod or "*"',
                )
    for i, task in enumerate(estate.scheduled_tasks):
        _known(task.services, names, ("scheduled_tasks", i, "services"), f"task {task.name}", report)


def _approvers(estate: Estate, report: _Report) -> None:
    groups = set(estate.approvers.groups)
    seen: set[str] = set()
    for i, user in enumerate(estate.approvers.users):
        if user.name in seen:
            report.add(("approvers", "users", i, "name"), f"approver {user.name!r} is listed twice", "list them once")
        seen.add(user.name)
        for j, group in enumerate(user.groups):
            if group not in groups:
                report.add(
                    ("approvers", "users", i, "groups", j),
                    f"{user.name} is in group {group!r}, which is not declared",
                    f"add {group!r} to approvers.groups, or use one of: {', '.join(sorted(groups))}",
                )
    approving = {g for u in estate.approvers.users for g in u.groups} & set(APPROVING_GROUPS)
    needs_approval = any(p.run_mode != "shadow" for p in estate.response_plans) or any(
        not t.read_only for t in estate.scheduled_tasks
    )
    if needs_approval and not approving:
        report.add(
            ("approvers",),
            "nobody can approve: no approver is in sre-oncall or sre-leads",
            "add at least one user, e.g. `- {name: alice, groups: [sre-oncall]}` under approvers.users",
        )


def _observers(estate: Estate, report: _Report) -> None:
    obs = estate.observers
    if not obs.sandbox.enabled and obs.azure_monitor is None:
        report.add(
            ("observers",),
            "no observer: the planner has nowhere to investigate",
            "enable observers.sandbox or configure observers.azure_monitor.workspace_id",
        )


def _ports(estate: Estate, report: _Report) -> None:
    used: dict[int, str] = {}
    for name, port in estate.ports().items():
        if port and port in used:
            report.add(
                ("listen", "ports", name),
                f"port {port} is used by both {used[port]} and {name}",
                "give each listener its own port",
            )
        used.setdefault(port, name)


def cross_check(estate: Estate, lines: Lines, file: str) -> list[Problem]:
    report = _Report(lines, file)
    names = _names(estate, report)
    _dependencies(estate, names, report)
    _claimed_once(estate, report)
    _plans_and_tasks(estate, names, report)
    _approvers(estate, report)
    _observers(estate, report)
    _ports(estate, report)
    return report.problems
