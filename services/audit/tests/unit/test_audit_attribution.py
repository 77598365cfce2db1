"""Producer identity from what the broker enforces; approver identity from a checked token."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_audit.adapters.token_reader import token_reader
from warden_audit.domain.attribution import attribute
from warden_security.tokens import APPROVAL_AUDIENCE, LOCAL_APPROVER_ISSUER, TokenIssuer


def message(source: str, data: dict[str, object] | None = None) -> dict[str, object]:
    return {"id": "m-1", "source": source, "type": "x", "correlationid": "inc-1", "data": data or {}}


def test_single_producer_topic_is_attributed_by_the_broker_whatever_the_source_says() -> None:
    actor = attribute("sre.plan.proposed.v1", message("warden/planner"))
    assert (actor["identity"], actor["basis"], actor["consistent"]) == ("planner", "broker_acl", True)
    lying = attribute("sre.plan.proposed.v1", message("warden/policy"))
    assert (lying["identity"], lying["consistent"]) == ("planner", False)  # claims to be someone it cannot be
    assert lying["declared_source"] == "warden/policy"
    free_text = attribute("sre.control.changed.v1", message("warden/cli/alice"))
    assert (free_text["identity"], free_text["consistent"]) == ("operator", True)


def test_shared_topic_takes_the_declared_identity_only_within_the_allowed_set() -> None:
    actor = attribute("sre.escalation.raised.v1", message("warden/executor"))
    assert (actor["identity"], actor["basis"]) == ("executor", "broker_acl+declared")
    assert actor["candidates"] == ["planner", "policy", "executor"]
    outsider = attribute("sre.escalation.raised.v1", message("warden/triage"))
    assert (outsider["identity"], outsider["basis"], outsider["consistent"]) == (None, "unattributed", False)
    vague = attribute("sre.alert.received.v1", message("azure-monitor"))
    assert (vague["identity"], vague["basis"], vague["consistent"]) == (None, "unattributed", True)


def test_dead_letters_are_attributed_to_the_service_that_sent_them() -> None:
    actor = attribute("sre.deadletter.v1", message("warden/policy"))
    assert (actor["identity"], actor["basis"]) == ("policy", "broker_acl+declared")


def test_approval_carries_the_verified_approver() -> None:
    key = Ed25519PrivateKey.generate()
    token = TokenIssuer(key, LOCAL_APPROVER_ISSUER).issue("alice", APPROVAL_AUDIENCE, 300, groups=["sre-leads"])
    read = token_reader(key.public_key(), LOCAL_APPROVER_ISSUER, APPROVAL_AUDIENCE)
    actor = attribute("sre.approval.decided.v1", message("warden/cli/alice", {"identity_token": token}), read)
    principal = actor["principal"]
    assert (actor["identity"], principal["id"], principal["verified"]) == ("approver", "alice", True)
    assert principal["groups"] == ["sre-leads"] and principal["issuer"] == LOCAL_APPROVER_ISSUER
    assert principal["token_id"]


def test_an_expired_token_still_names_its_signer() -> None:
    key = Ed25519PrivateKey.generate()
    token = TokenIssuer(key, LOCAL_APPROVER_ISSUER).issue("bob", APPROVAL_AUDIENCE, -600)
    claims = token_reader(key.public_key(), LOCAL_APPROVER_ISSUER, APPROVAL_AUDIENCE)(token)
    assert (claims.subject, claims.verified) == ("bob", True)


def test_a_forged_or_unreadable_token_is_recorded_as_unverified() -> None:
    trusted, forger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    token = TokenIssuer(forger, LOCAL_APPROVER_ISSUER).issue("mallory", APPROVAL_AUDIENCE, 300)
    read = token_reader(trusted.public_key(), LOCAL_APPROVER_ISSUER, APPROVAL_AUDIENCE)
    forged = read(token)
    assert (forged.subject, forged.verified) == ("mallory", False)
    assert "rejected" in forged.problem
    garbage = read("not-a-jwt")
    assert (garbage.subject, garbage.verified) == ("", False) and "unreadable" in garbage.problem
    unknown_key = token_reader(None, LOCAL_APPROVER_ISSUER, APPROVAL_AUDIENCE)(token)
    assert (unknown_key.subject, unknown_key.verified) == ("mallory", False)


def test_operator_controls_name_the_declared_human() -> None:
    actor = attribute("sre.control.changed.v1", message("warden/cli/ops", {"changed_by": "ops@example.com"}))
    assert actor["principal"] == {"id": "ops@example.com", "kind": "human", "verified": False}
