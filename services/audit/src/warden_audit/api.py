"""The audit log's public surface for tools outside the service (the `warden` CLI): typed functions
over a local audit folder, and the read models they return.

Everything an operator asks the log (verify it, export it, prove records, list incidents, KPIs,
the shadow report, a plan's autonomy evidence, approvals, task reports) is answered here; the CLI
parses arguments, calls one of these and renders the answer. No other module of this service is
imported from outside it (import contract "The CLI imports a service only through its api
module", docs/adr/0009).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warden_audit.adapters.sqlite_vault import SqliteVault
from warden_audit.domain.approval_requests import ApprovalEntry, approval_requests, find_request, is_ambiguous
from warden_audit.domain.incident_facts import IncidentFacts, incident_facts
from warden_audit.domain.incident_views import IncidentView, incidents_from
from warden_audit.domain.kpis import Kpi, KpiReport, in_range, metric_name, report
from warden_audit.domain.kpis import report as kpi_report
from warden_audit.domain.shadow import Divergence, ShadowReport, divergences
from warden_audit.domain.siem import siem_view
from warden_audit.domain.task_reports import task_reports as _task_reports
from warden_audit.domain.verification import VerifyReport
from warden_audit.history import Window, action_history, approval_history
from warden_audit.proofs import BundleReport, NotProvable, bundle_for, verify_bundle
from warden_audit.query import records_for
from warden_audit.reader import read_records
from warden_audit.segments import AuditLogCorrupt
from warden_audit.verify import verify_log

if TYPE_CHECKING:
    from warden_contracts.events import PromotionEvidence

    from warden_audit.adapters.anchor_file import AnchorUnreadable
    from warden_audit.domain.anchoring import AnchorRules
    from warden_audit.domain.plan_evidence import PlanEvidence

__all__ = [
    "AnchorRules",
    "AnchorUnreadable",
    "ApprovalEntry",
    "AuditLogCorrupt",
    "BundleReport",
    "Divergence",
    "IncidentFacts",
    "IncidentView",
    "Kpi",
    "KpiReport",
    "NotProvable",
    "PlanEvidence",
    "ShadowReport",
    "UnknownIncident",
    "Verification",
    "VerifyReport",
    "Window",
    "actions",
    "all_approval_requests",
    "anchor_file",
    "approval_ambiguous",
    "approvals",
    "check_bundle",
    "correlated",
    "erase",
    "export",
    "find_approval",
    "incidents",
    "incidents_from",
    "kpi_report",
    "kpis",
    "metric_name",
    "plan_evidence",
    "promotion_evidence",
    "prove_incident",
    "prove_range",
    "records",
    "shadow",
    "task_reports",
    "verify",
]

Record = dict[str, Any]


class UnknownIncident(LookupError):
    pass


def records(audit_dir: Path, *, raw: bool = False) -> Iterator[Record]:
    """The log's records in seq order; personal fields resolved unless `raw` (what was hashed)."""
    return read_records(audit_dir, raw=raw)


# --- integrity -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    report: VerifyReport
    newest_anchor_seq: int | None  # the newest outside anchor checked; None when there was none

    @property
    def ok(self) -> bool:
        return self.report.ok

    @property
    def anchors(self) -> str:
        seq = self.newest_anchor_seq
        return f"anchors checked up to seq {seq}" if seq is not None else "no outside anchor checked"


def anchor_file(data_dir: Path) -> Path:
    """Where the stack keeps its copy of every signed checkpoint, outside the audit folder."""
    from warden_audit.adapters.anchor_file import default_anchor_path

    return default_anchor_path(data_dir)


def verify(
    audit_dir: Path,
    *,
    public_keys: Sequence[Path] = (),
    anchor_path: Path | None = None,
    anchor_sources: Iterable[str] = (),
    rules: AnchorRules | None = None,
    jobs: int | None = None,
) -> Verification:
    """Check the hash chain, every signed checkpoint (signatures too, given `public_keys`) and the
    anchors in `anchor_path` plus each source (file or URL); with `rules`, a log with records also
    needs a recent enough checkpoint (without, the bare walk); `jobs` as for `verify_log`. Raises
    AnchorUnreadable."""
    from warden_audit.adapters.anchor_file import AnchorFile, read_anchor_source
    from warden_audit.adapters.ed25519_signer import trusted_key_files

    anchors = AnchorFile(anchor_path).read() if anchor_path is not None else []
    for source in anchor_sources:
        anchors += read_anchor_source(source)
    check = trusted_key_files(public_keys) if public_keys else None
    found = verify_log(audit_dir, check, anchors=anchors, rules=rules, jobs=jobs)
    return Verification(found, max((a.checkpoint.seq for a in anchors), default=None))


def prove_incident(audit_dir: Path, incident_id: str) -> dict[str, Any]:
    """Every record of one incident with Merkle inclusion proofs. Raises NotProvable, AuditLogCorrupt."""
    return bundle_for(audit_dir, records_for(audit_dir, incident_id), title=incident_id)


def prove_range(audit_dir: Path, first: int, last: int) -> dict[str, Any]:
    """Records `first`..`last` (inclusive) with Merkle inclusion proofs. Raises NotProvable, AuditLogCorrupt."""
    chosen = [r for r in read_records(audit_dir, raw=True) if first <= r["seq"] <= last]
    return bundle_for(audit_dir, chosen, title=f"seq {first}..{last}")


def check_bundle(bundle: Mapping[str, Any], public_keys: Sequence[Path]) -> BundleReport:
    """A bundle from `prove_*` checked offline: hashes, proofs, the checkpoint's signature."""
    from warden_audit.adapters.ed25519_signer import trusted_key_files

    return verify_bundle(bundle, trusted_key_files(public_keys))


def erase(audit_dir: Path, principal: str) -> int:
    """Erase the personal free text stored by reference for `principal`; the chain stays verifiable."""
    vault = SqliteVault.for_log(audit_dir)
    try:
        return vault.erase(principal=principal)
    finally:
        vault.close()


# --- read models ---------------------------------------------------------------------------------


def incidents(audit_dir: Path) -> dict[str, IncidentView]:
    return incidents_from(read_records(audit_dir))


def export(audit_dir: Path, incident_id: str | None = None, *, ocsf: bool = False) -> list[dict[str, Any]]:
    """Every record of one incident (alerts and elevations included) or of the whole log, in seq
    order, as stored or as OCSF 1.3 events. Raises UnknownIncident, AuditLogCorrupt."""
    chosen = list(read_records(audit_dir))
    if incident_id is not None:
        view = incidents_from(chosen).get(incident_id)
        if view is None:
            raise UnknownIncident(incident_id)
        chosen = list(view.records)
    ordered = sorted(chosen, key=lambda r: r["seq"])
    return [siem_view(r)["ocsf"] for r in ordered] if ocsf else ordered


def correlated(audit_dir: Path, correlationid: str) -> list[Record]:
    """The records carrying one correlation id, in seq order (personal fields resolved)."""
    return sorted(
        (r for r in read_records(audit_dir) if r.get("correlationid") == correlationid), key=lambda r: r["seq"]
    )


def approvals(audit_dir: Path, window: Window = Window()) -> list[dict[str, Any]]:
    return approval_history(read_records(audit_dir), window)


def actions(audit_dir: Path, window: Window = Window()) -> list[dict[str, Any]]:
    return action_history(read_records(audit_dir), window)


def all_approval_requests(audit_dir: Path) -> dict[str, ApprovalEntry]:
    """Every approval request and its state (pending, or policy's final outcome), oldest first."""
    return approval_requests(read_records(audit_dir))


def find_approval(audit_dir: Path, approval_id: str) -> tuple[str, ApprovalEntry] | None:
    """The request `approval_id` (or a unique prefix of six characters or more) names, or None."""
    return find_request(approval_requests(read_records(audit_dir)), approval_id)


def approval_ambiguous(audit_dir: Path, approval_id: str) -> bool:
    return is_ambiguous(approval_requests(read_records(audit_dir)), approval_id)


def kpis(audit_dir: Path, since: datetime | None = None, until: datetime | None = None) -> KpiReport:
    return report(read_records(audit_dir), since, until)


def shadow(
    audit_dir: Path, since: datetime | None = None, until: datetime | None = None, plan: str | None = None
) -> ShadowReport:
    """Each shadow-mode decision of incidents started in range (of one plan, if given), against what
    humans later did."""
    facts = [
        f
        for f in incident_facts(read_records(audit_dir))
        if in_range(f.started_at, since, until) and (plan is None or plan in f.plans)
    ]
    return ShadowReport(len(facts), divergences(facts))


def plan_evidence(audit_dir: Path, plans: Iterable[str], configured: Mapping[str, str]) -> list[PlanEvidence]:
    """Each plan's run mode (the newest control, else `configured`) and the evidence for it."""
    # Imported here: it needs the contracts' payload models, a second of start-up under load that
    # `warden incidents`, `kpi` and `audit verify` would otherwise pay for nothing.
    from warden_audit.domain.plan_evidence import evidence

    recorded = list(read_records(audit_dir))
    return [evidence(recorded, plan, configured) for plan in plans]


def promotion_evidence(ev: PlanEvidence) -> PromotionEvidence:
    """What a promotion carries to policy, whose domain holds it to the bar."""
    from warden_audit.domain.plan_evidence import promotion_evidence as count

    return count(ev)


def __getattr__(name: str) -> Any:
    # The integrity types need the crypto library and PlanEvidence the contracts' models: loaded
    # when asked for, so the read-only commands (`warden incidents`, `kpi`) start without them.
    if name == "PlanEvidence":
        from warden_audit.domain.plan_evidence import PlanEvidence

        return PlanEvidence
    if name == "AnchorUnreadable":
        from warden_audit.adapters.anchor_file import AnchorUnreadable

        return AnchorUnreadable
    if name == "AnchorRules":
        from warden_audit.domain.anchoring import AnchorRules

        return AnchorRules
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def task_reports(audit_dir: Path, task: str | None = None) -> list[dict[str, Any]]:
    return _task_reports(read_records(audit_dir), task)
