"""Pure rules of the approver experience: roles, who may decide what and when, the timeline's status,
replay memory, chat renderings, local password checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warden_console.adapters.local_users import LocalDirectory, UsersFileError, write_users_file
from warden_console.domain.approvals import ApprovalView, Outcome
from warden_console.domain.cards import approval_card, decided_card, slack_blocks, slack_decided_blocks
from warden_console.domain.replay import ReplayGuard
from warden_console.domain.roles import Principal, Role, role_from
from warden_console.domain.timeline import approvals_so_far, incident_status, outcomes, timeline

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
ALICE = Principal("alice", Role.APPROVER, ("sre-oncall",))
CAROL = Principal("carol", Role.VIEWER, ("viewers",))


def view(expires_in: timedelta = timedelta(minutes=10), outcome: Outcome | None = None, **request) -> ApprovalView:
    body = {
        "approval_id": "a1",
        "incident_id": "i1",
        "action": {"kind": "restart_service", "target": "api"},
        "action_hash": "h",
        "expires_at": (NOW + expires_in).isoformat(),
        "requested_by": "warden-planner",
        "summary": "restart api",
        "tier": 1,
        "environment": "prod",
        "blast_radius": "one service",
        "reversible": True,
        "rollback_plan": "none needed",
        **request,
    }
    return ApprovalView(body, "i1", outcome)


def test_roles_are_ordered_and_mapped_from_groups() -> None:
    assert Role.ADMINISTRATOR > Role.APPROVER > Role.VIEWER
    mapping = {"Warden.Admin": "administrator", "sre-oncall": "approver"}
    assert role_from(["sre-oncall", "Warden.Admin"], mapping) is Role.ADMINISTRATOR
    assert role_from(["other"], mapping) is Role.VIEWER
    assert role_from(["other"], mapping, default=None) is None
    with pytest.raises(ValueError):
        Role.parse("root")


def test_who_may_decide_and_when() -> None:
    assert view().refusal(ALICE, NOW, approve=True) is None
    assert "viewer" in (view().refusal(CAROL, NOW, approve=True) or "")
    assert "expired" in (view(timedelta(seconds=-1)).refusal(ALICE, NOW, approve=True) or "")
    assert "already approved" in (view(outcome=Outcome("approved", ("bob",))).refusal(ALICE, NOW, approve=False) or "")
    own = view(requested_by="alice")
    assert "own request" in (own.refusal(ALICE, NOW, approve=True) or "")
    assert own.refusal(ALICE, NOW, approve=False) is None  # denying your own request is allowed
    assert view(timedelta(seconds=90)).seconds_left(NOW) == 90 and view(timedelta(seconds=-5)).seconds_left(NOW) == 0
    assert view(approvals_required=2).approvals_required == 2


def _record(seq: int, topic: str, /, **data) -> dict:
    return {"seq": seq, "type": topic, "recorded_at": f"2026-11-21T03:00:0{seq}Z", "envelope": {"data": data}}


def test_timeline_status_and_outcomes_follow_the_audit_records() -> None:
    records = [
        _record(1, "sre.incident.changed.v1", change="opened", incident_class="x", alert_count=1),
        _record(2, "sre.approval.requested.v1", action={"kind": "restart_service"}, tier=1),
    ]
    assert incident_status(records) == "awaiting approval"
    records.append(_record(3, "sre.policy.decided.v1", outcome="await_approval", approval_id="a1", approvers=["bob"]))
    assert approvals_so_far(records) == {"a1": ("bob",)}  # M-of-N: one of two so far
    assert "a1" not in outcomes(records)
    records.append(_record(3, "sre.policy.decided.v1", outcome="approved", approval_id="a1", approvers=["alice"]))
    records.append(_record(4, "sre.action.reported.v1", kind="restart_service", target="api", status="verified"))
    assert incident_status(records) == "verified"
    records.append(_record(3, "sre.approval.decided.v1", approval_id="a1", decision="approve", reason="looks right"))
    settled = Outcome("approved", ("alice",), (), at="2026-11-21T03:00:03Z", notes=("looks right",))
    assert outcomes(records) == {"a1": settled}
    records.append(_record(5, "sre.incident.changed.v1", change="resolved", incident_class="x", alert_count=1))
    assert incident_status(records) == "resolved"
    entries = timeline(reversed(records))
    assert [e.seq for e in entries] == [1, 2, 3, 3, 3, 4, 5]
    assert entries[5].actor == "executor" and "VERIFIED" in entries[5].text
    [decided] = [e for e in entries if e.kind == "sre.approval.decided.v1"]
    assert (decided.text, decided.reason) == ("approve via None", "looks right")  # the why has its own column
    odd = timeline([{"seq": 9, "type": "sre.future.thing.v1", "envelope": {"data": {"x": 1}}}])
    assert odd[0].text == "sre.future.thing.v1"  # unknown records are shown, never fail the page


def test_replay_guard_remembers_within_the_window() -> None:
    guard = ReplayGuard(window_s=10)
    assert guard.first_time("sig", 0) and not guard.first_time("sig", 5)
    assert guard.first_time("sig", 11)


def test_cards_carry_the_request_and_lose_their_buttons_once_decided() -> None:
    request = view().request
    card = approval_card(request)
    assert card["version"] == "1.5" and [a["verb"] for a in card["actions"]] == ["approve", "deny"]
    assert all(a["type"] == "Action.Execute" and a["data"] == {"approval_id": "a1"} for a in card["actions"])
    shipped = {"type": "AdaptiveCard", "version": "1.5", "body": [], "actions": []}
    assert approval_card({**request, "adaptive_card": shipped}) == shipped  # policy's own card is used as sent
    done = decided_card(request, "approved", "alice")
    assert done["body"][0]["text"] == "Approved by alice" and "actions" not in done
    assert any(b["type"] == "actions" for b in slack_blocks(request))
    assert not any(b["type"] == "actions" for b in slack_decided_blocks(request, "denied", "bob"))


def test_local_directory_checks_argon2_hashes(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    write_users_file(path, [("alice", "s3cret", ["sre-oncall"], Role.APPROVER)])
    assert "s3cret" not in path.read_text() and "$argon2id$" in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    directory = LocalDirectory(path)
    who = directory.authenticate("alice", "s3cret")
    assert who is not None and who.role is Role.APPROVER and who.groups == ("sre-oncall",)
    assert directory.authenticate("alice", "wrong") is None and directory.authenticate("mallory", "s3cret") is None
    path.write_text("users: {eve: {password_hash: plaintext}}")
    with pytest.raises(UsersFileError):
        LocalDirectory(path)
