"""`warden shadow report`: what the agent would have done in shadow mode, against what humans did.

A shadowed decision (policy outcome `shadowed`: decided, recorded, never executed) is compared with
the actions humans later had carried out on the same incident (approved by a human, then started
by the executor):
- same: a human action of the same kind on the same target;
- different: humans acted on the incident, but not that way;
- none: no human action on the incident (yet).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer
from warden_audit.domain.incident_facts import IncidentFacts, incident_facts
from warden_audit.domain.kpis import in_range
from warden_audit.reader import read_records

from warden_cli.data_dir import audit_log_dir
from warden_cli.kpi import parse_moment

shadow_app = typer.Typer(help="Shadow mode: would-be actions compared with what humans did.")


@dataclass(frozen=True)
class Divergence:
    incident_id: str
    plans: list[str]
    action_id: str
    would: str  # "kind on target"
    verdict: str  # same | different | none
    humans_did: list[str]


def _describe(kind: object, target: object) -> str:
    return f"{kind} on {target}"


def divergences(facts: list[IncidentFacts]) -> list[Divergence]:
    out = []
    for f in facts:
        human = [(a.get("kind"), a.get("target")) for a in f.human_actions]
        did = [_describe(k, t) for k, t in human]
        for decision in f.shadowed:
            would = (decision.get("kind"), decision.get("target"))
            verdict = "none" if not human else ("same" if would in human else "different")
            out.append(
                Divergence(f.incident_id, f.plans, str(decision.get("action_id")), _describe(*would), verdict, did)
            )
    return out


def agreement(items: list[Divergence]) -> dict[str, int]:
    counts = Counter(d.verdict for d in items)
    return {v: counts.get(v, 0) for v in ("same", "different", "none")}


@shadow_app.command("report")
def report(
    since: Annotated[str | None, typer.Option(help="start: ISO time or a span back from now (24h, 7d)")] = None,
    until: Annotated[str | None, typer.Option(help="end (exclusive)")] = None,
    plan: Annotated[str | None, typer.Option(help="only incidents of this response plan")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="stack data directory")] = None,
    audit_dir: Annotated[Path | None, typer.Option(help="audit log directory (default <data-dir>/audit)")] = None,
) -> None:
    """Each shadow-mode decision and whether humans later did the same, something else, or nothing."""
    directory = audit_log_dir(data_dir, audit_dir)
    start, end = parse_moment(since), parse_moment(until)
    facts = [
        f
        for f in incident_facts(read_records(directory))
        if in_range(f.started_at, start, end) and (plan is None or plan in f.plans)
    ]
    items = divergences(facts)
    totals = agreement(items)
    if as_json:
        typer.echo(json.dumps({"totals": totals, "decisions": [asdict(d) for d in items]}, indent=2))
        return
    if not items:
        typer.echo(f"no shadow-mode decisions among {len(facts)} incident(s) in range")
        return
    for d in items:
        humans = "; ".join(d.humans_did) or "-"
        typer.echo(f"{d.incident_id}  {d.verdict:<9} would: {d.would:<40} humans: {humans}")
    typer.echo(
        f"{len(items)} shadow decision(s): {totals['same']} same, {totals['different']} different, "
        f"{totals['none']} with no human action"
    )
