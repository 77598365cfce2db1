"""The embedded console's sign-in users and policy's shipped approver directory describe the same
people: a name or group that differs would let someone sign in whom policy does not know, or
leave an approver policy counts unable to sign in. Two packages that must not import each other
keep a copy each, so this test is what holds them together."""

from __future__ import annotations

import yaml
from warden_console.api import EMBEDDED_PEOPLE
from warden_policy.api import packaged_config_dir


def test_console_people_are_policy_approvers_with_the_same_groups() -> None:
    raw = yaml.safe_load(packaged_config_dir().joinpath("approvers.yaml").read_text())
    policy = {u["name"]: sorted(u["groups"]) for u in raw["users"]}
    console = {name: sorted(groups) for name, groups, _ in EMBEDDED_PEOPLE}
    assert console == policy
