"""`warden_console.api`: which console role each estate approver gets."""

from __future__ import annotations

from warden_console.api import Role, console_roles


def test_on_call_and_leads_approve_viewers_view_and_the_first_lead_administers() -> None:
    people = [("ann", ["viewers"]), ("bea", ["sre-oncall"]), ("cy", ["sre-leads"]), ("dee", ["sre-leads"])]
    assert console_roles(people) == [
        ("ann", ("viewers",), Role.VIEWER),
        ("bea", ("sre-oncall",), Role.APPROVER),
        ("cy", ("sre-leads",), Role.ADMINISTRATOR),
        ("dee", ("sre-leads",), Role.APPROVER),
    ]
