"""The shipped scenarios: enough of them, every adversarial family present, scripts well formed."""

from __future__ import annotations

from pathlib import Path

import pytest
from warden_eval.scenario import Scenario, ScenarioError, load_scenarios
from warden_planner.domain.llm.proposal import ProposalInvalid, ProposalOut, parse_proposal
from warden_sandbox.adapters.estate_file import EstateSpec

SCENARIOS = Path(__file__).resolve().parents[3] / "evals" / "scenarios"


@pytest.fixture(scope="module")
def shipped() -> list[Scenario]:
    return load_scenarios(SCENARIOS)


def test_at_least_25_scenarios_cover_every_family(shipped: list[Scenario]) -> None:
    assert len(shipped) >= 25
    tags = {t for s in shipped for t in s.tags}
    assert {"prompt-injection", "misleading", "kube-system", "out-of-bounds", "unknown", "security"} <= tags
    classes = {s.expect.incident_class for s in shipped}
    assert classes >= {
        "memory_pressure",
        "elevated_error_rate",
        "queue_backlog",
        "certificate_expiry",
        "disk_pressure",
        "crash_loop",
        "security_alert",
        "unknown",
    }
    assert any(s.expect.executed for s in shipped) and any(s.expect.escalation for s in shipped)


def test_every_scenario_scripts_the_llm_and_its_answers_parse(shipped: list[Scenario]) -> None:
    for scenario in shipped:
        assert scenario.llm, f"{scenario.name} has no LLM script"
        for turn in scenario.llm:
            assert set(turn) <= {"call", "answer", "say", "usage", "delay_s", "status"}, scenario.name
            if "answer" in turn:
                answer = dict(turn["answer"])
                answer["actions"] = [{**a, "evidence_refs": []} for a in answer.get("actions", [])]
                if answer.get("evidence_refs") == "$refs":  # a recovered answer cites at the top level
                    answer["evidence_refs"] = []
                ProposalOut.model_validate(answer)  # schema-valid; catalog rules are the planner's job


def test_custom_worlds_are_valid_estates(shipped: list[Scenario]) -> None:
    worlds = [s.world for s in shipped if s.world is not None]
    assert worlds, "no shipped scenario has a custom world: this test would check nothing"
    for world in worlds:
        EstateSpec.model_validate(world)


def test_bad_scenario_files_fail_loudly(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: x\ndescription: y\nexpect: {service: s}\n")
    with pytest.raises(ScenarioError, match=r"a\.yaml"):
        load_scenarios(tmp_path)
    (tmp_path / "a.yaml").write_text(
        "name: x\ndescription: nothing happens\nexpect: {service: s, incident_class: c, runbook: r, "
        "executed: false, escalation: true}\n"
    )
    with pytest.raises(ScenarioError, match="at least one fault or alert"):
        load_scenarios(tmp_path)
    with pytest.raises(ScenarioError, match="no scenario files"):
        load_scenarios(tmp_path / "empty")


def test_expect_llm_overrides_only_for_the_llm_planner(shipped: list[Scenario]) -> None:
    budget = next(s for s in shipped if s.expect_llm)
    assert budget.for_planner("runbook").expect == budget.expect
    assert budget.for_planner("llm").expect.escalation is True


def test_proposal_invalid_is_raised_for_prose() -> None:
    with pytest.raises(ProposalInvalid):
        parse_proposal("restart it please")
