"""`warden audit ...`: verify the chain and checkpoints, export, prove, check a bundle, query, erase."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from warden_audit import api as audit
from warden_audit.api import AnchorUnreadable, AuditLogCorrupt, NotProvable, UnknownIncident, VerifyReport, Window

from warden_cli.data_dir import existing_data_dir
from warden_cli.layout import Layout, default_data_dir

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

AUDIT_KEY = "audit-signing.pub.pem"
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="stack data directory (default .warden or $WARDEN_DATA_DIR)")
]
AuditDir = Annotated[Path | None, typer.Option("--audit-dir", help="an audit log folder (default <data-dir>/audit)")]
PublicKeys = Annotated[
    list[Path] | None,
    typer.Option("--public-key", help="trusted audit public key(s) (default <data-dir>/keys/audit/" + AUDIT_KEY + ")"),
]


def _root(data_dir: Path | None) -> Path:
    return (data_dir or default_data_dir()).resolve()


def _audit_dir(data_dir: Path | None, audit_dir: Path | None) -> Path:
    return audit_dir or Layout(existing_data_dir(data_dir)).audit_dir


def _keys(data_dir: Path | None, audit_dir: Path | None, given: list[Path] | None) -> list[Path]:
    if given:
        return given
    folder = Layout(_root(data_dir)).keys if data_dir or not audit_dir else audit_dir.resolve().parent / "keys"
    # The audit's own key folder (warden_cli.key_folders); directly under keys/ before that.
    found = [path for path in (folder / "audit" / AUDIT_KEY, folder / AUDIT_KEY) if path.exists()]
    return found[:1]


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(1)


Anchors = Annotated[
    list[str] | None,
    typer.Option(
        "--anchor",
        help="a signed checkpoint kept outside the audit folder (file or http(s) URL: a checkpoint, a SIEM "
        "event, an audit /v1/audit/head answer, or JSON lines of those); the log must reach and match it",
    ),
]
MaxRecords = Annotated[
    int,
    typer.Option(
        min=0,
        envvar="WARDEN_AUDIT_MAX_UNANCHORED_RECORDS",
        help="fail when more records than this follow the newest signed checkpoint",
    ),
]
MaxSeconds = Annotated[
    float,
    typer.Option(
        min=0,
        envvar="WARDEN_AUDIT_MAX_UNANCHORED_SECONDS",
        help="fail when the head was recorded more than this long after the newest signed checkpoint",
    ),
]


def _anchor_file(data_dir: Path | None, audit_dir: Path | None) -> Path:
    root = _root(data_dir) if data_dir or not audit_dir else audit_dir.resolve().parent
    return audit.anchor_file(root)


@audit_app.command("verify")
def verify(
    data_dir: DataDir = None,
    audit_dir: AuditDir = None,
    public_key: PublicKeys = None,
    anchor: Anchors = None,
    max_unanchored_records: MaxRecords = 1000,
    max_unanchored_seconds: MaxSeconds = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as one JSON object")] = False,
    jobs: Annotated[
        int | None,
        typer.Option(min=1, help="worker processes checking records (default: one per CPU; 1: none)"),
    ] = None,
) -> None:
    """Check the hash chain, every signed checkpoint and the anchors; name the first bad record.

    Fails too when records exist without a signed checkpoint, when the newest one lags the head by
    more than the limits, or when the anchor file (<data-dir>/anchors/checkpoints.jsonl) or an
    --anchor holds a checkpoint the log does not reach or match.
    """
    folder = _audit_dir(data_dir, audit_dir)
    if not folder.is_dir():
        raise _fail(f"no audit log at {folder} (is --data-dir right?)")
    try:
        checked = audit.verify(
            folder,
            public_keys=_keys(data_dir, audit_dir, public_key),
            anchor_path=_anchor_file(data_dir, audit_dir),
            anchor_sources=anchor or [],
            rules=audit.AnchorRules(max_unanchored_records, max_unanchored_seconds),
            jobs=jobs,
        )
    except AnchorUnreadable as err:
        raise _fail(f"audit log NOT VERIFIED: anchor unreadable: {err} (reason: anchor_unreadable)") from None
    report, anchored = checked.report, checked.anchors
    if as_json:
        typer.echo(json.dumps(_report_json(report, anchored), sort_keys=True, default=str))
        if not report.ok:
            raise typer.Exit(1)
        return
    if not report.ok:
        where = f"{report.segment}:{report.line}" if report.segment and report.line else report.segment or "log"
        raise _fail(
            f"audit log INVALID at record {report.first_bad_seq} ({where}): {report.problem} (reason: {report.reason})"
        )
    signed = "signatures verified" if report.signatures_checked else "signatures NOT checked (no public key)"
    typer.echo(
        f"audit log OK: {report.records} records, {report.checkpoints} checkpoints "
        f"(last at seq {report.last_checkpoint_seq}, {signed}), head {report.head_hash[:16]}, {anchored}"
    )


def _report_json(report: VerifyReport, anchored: str) -> dict[str, Any]:
    fields = (
        "ok",
        "records",
        "checkpoints",
        "last_checkpoint_seq",
        "signatures_checked",
        "head_hash",
        "first_bad_seq",
        "segment",
        "line",
        "problem",
        "reason",
    )
    return {name: getattr(report, name, None) for name in fields} | {"anchors": anchored}


class ExportFormat(StrEnum):
    RECORDS = "records"
    OCSF = "ocsf"


@audit_app.command("export")
def export(
    incident: Annotated[str | None, typer.Argument(help="an incident id; omit for the whole log")] = None,
    data_dir: DataDir = None,
    audit_dir: AuditDir = None,
    output_format: Annotated[
        ExportFormat,
        typer.Option("--format", help="records: the stored records; ocsf: OCSF 1.3 API Activity events"),
    ] = ExportFormat.RECORDS,
) -> None:
    """Every record of one incident (alerts and elevations included), or of the whole log, as JSON lines."""
    folder = _audit_dir(data_dir, audit_dir)
    if not folder.is_dir():
        raise _fail(f"no audit log at {folder} (is --data-dir right?)")
    try:
        found = audit.export(folder, incident, ocsf=output_format is ExportFormat.OCSF)
    except AuditLogCorrupt as err:
        raise _fail(f"audit log unreadable: {err}; run `warden audit verify`") from None
    except UnknownIncident:
        raise _fail(f"no incident {incident}") from None
    for out in found:
        typer.echo(json.dumps(out, sort_keys=True))


@audit_app.command("prove")
def prove(
    incident: Annotated[str | None, typer.Option(help="prove every record of this incident")] = None,
    seq: Annotated[int | None, typer.Option(help="first seq of a range to prove")] = None,
    to: Annotated[int | None, typer.Option(help="last seq of the range (default: --seq)")] = None,
    out: Annotated[Path | None, typer.Option(help="write the bundle here instead of stdout")] = None,
    data_dir: DataDir = None,
    audit_dir: AuditDir = None,
) -> None:
    """A bundle of records with Merkle inclusion proofs against a signed checkpoint."""
    folder = _audit_dir(data_dir, audit_dir)
    if (incident is None) == (seq is None):
        raise _fail("give exactly one of --incident or --seq")
    try:
        if incident is not None:
            bundle = audit.prove_incident(folder, incident)
        else:
            assert seq is not None
            bundle = audit.prove_range(folder, seq, to if to is not None else seq)
    except (NotProvable, AuditLogCorrupt) as err:
        raise _fail(str(err)) from None
    text = json.dumps(bundle, indent=2, sort_keys=True)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        typer.echo(f"{len(bundle['records'])} records proven against checkpoint {bundle['checkpoint']['seq']}: {out}")


@audit_app.command("check-bundle")
def check_bundle(bundle: Path, data_dir: DataDir = None, public_key: PublicKeys = None) -> None:
    """Verify a bundle from `warden audit prove` offline: hashes, proofs, checkpoint signature."""
    keys = _keys(data_dir, None, public_key)
    if not keys:
        raise _fail("no trusted audit public key: pass --public-key")
    report = audit.check_bundle(json.loads(bundle.read_text()), keys)
    if not report.ok:
        raise _fail("bundle INVALID:\n  " + "\n  ".join(report.problems))
    typer.echo(f"bundle OK: {report.records} records proven against signed checkpoint {report.checkpoint_seq}")


def _when(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None


@audit_app.command("approvals")
def approvals(
    incident: str | None = None,
    approver: str | None = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601 time, inclusive")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 time, exclusive")] = None,
    actions: Annotated[bool, typer.Option("--actions", help="actions instead of approvals")] = False,
    data_dir: DataDir = None,
    audit_dir: AuditDir = None,
) -> None:
    """Approval (or action) history as JSON, filtered by incident, approver and time range."""
    window = Window(incident, approver, _when(since), _when(until))
    folder = _audit_dir(data_dir, audit_dir)
    found = audit.actions(folder, window) if actions else audit.approvals(folder, window)
    typer.echo(json.dumps(found, indent=2, sort_keys=True))


@audit_app.command("erase")
def erase(
    principal: Annotated[str, typer.Option(help="erase the personal free text stored for this person")],
    data_dir: DataDir = None,
    audit_dir: AuditDir = None,
) -> None:
    """Erase personal fields by reference; the chain and its checkpoints stay verifiable."""
    count = audit.erase(_audit_dir(data_dir, audit_dir), principal)
    typer.echo(f"erased {count} personal value(s) of {principal}; the chain is unchanged")
