"""`warden_console.api`: which console role each estate approver gets, and the identity token a
tool signs for a person (the console users file's groups)."""

from __future__ import annotations

from pathlib import Path

import pytest
from warden_console.api import CredentialRefused, Role, console_roles, follow_approvers, sign_approval
from warden_security.keys import load_public_key, public_path
from warden_security.tokens import APPROVAL_AUDIENCE, LOCAL_APPROVER_ISSUER, TokenVerifier


def test_on_call_and_leads_approve_viewers_view_and_the_first_lead_administers() -> None:
    people = [("ann", ["viewers"]), ("bea", ["sre-oncall"]), ("cy", ["sre-leads"]), ("dee", ["sre-leads"])]
    assert console_roles(people) == [
        ("ann", ("viewers",), Role.VIEWER),
        ("bea", ("sre-oncall",), Role.APPROVER),
        ("cy", ("sre-leads",), Role.ADMINISTRATOR),
        ("dee", ("sre-leads",), Role.APPROVER),
    ]


def test_a_signed_decision_carries_the_groups_of_the_console_users_file(tmp_path: Path) -> None:
    users, key = tmp_path / "console-users.yaml", tmp_path / "approver-issuer.pem"
    follow_approvers(users, tmp_path / "passwords.txt", [("erin", ["sre-leads"]), ("finn", ["viewers"])])
    token = sign_approval(users, key, "erin", "ap-1", "sha256:abc")
    verifier = TokenVerifier(load_public_key(public_path(key)), LOCAL_APPROVER_ISSUER, APPROVAL_AUDIENCE)
    claims = verifier.verify(token)
    assert (claims["sub"], claims["groups"]) == ("erin", ["sre-leads"])
    assert (claims["approval_id"], claims["action_hash"], claims["channel"]) == ("ap-1", "sha256:abc", "cli")


def test_nobody_outside_the_console_users_file_is_signed_for(tmp_path: Path) -> None:
    users = tmp_path / "console-users.yaml"
    follow_approvers(users, tmp_path / "passwords.txt", [("erin", ["sre-leads"])])
    with pytest.raises(CredentialRefused, match="unknown user 'alice'; known: erin"):
        sign_approval(users, tmp_path / "approver-issuer.pem", "alice", "ap-1", "sha256:abc")
    with pytest.raises(CredentialRefused, match="cannot sign the decision"):
        sign_approval(tmp_path / "missing.yaml", tmp_path / "approver-issuer.pem", "erin", "ap-1", "sha256:abc")
