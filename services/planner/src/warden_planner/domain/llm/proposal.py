"""The structured answer the model must end with, and every check it must pass before use."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from warden_contracts.catalog import Catalog

from warden_planner.domain.findings import Candidate
from warden_planner.domain.validation import human_only

FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class HypothesisOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statement: str = Field(min_length=1, max_length=300)
    verdict: Literal["supported", "rejected"]
    why: str = Field(min_length=1, max_length=500)


class ActionOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    rationale: str = Field(min_length=1, max_length=500)
    confidence: float = Field(ge=0, le=1)
    evidence_refs: list[str] = Field(default_factory=list, max_length=20)


class ProposalOut(BaseModel):
    """The final answer: a runbook followed, hypotheses weighed, then ranked actions, a handoff, or
    recovered (the symptom is gone, shown by the tool answers cited in evidence_refs: no action)."""

    model_config = ConfigDict(extra="forbid")

    runbook: str
    summary: str = Field(min_length=1, max_length=600)
    hypotheses: list[HypothesisOut] = Field(default_factory=list, max_length=10)
    actions: list[ActionOut] = Field(default_factory=list, max_length=5)
    handoff: str | None = Field(default=None, max_length=600)
    recovered: bool = False
    evidence_refs: list[str] = Field(default_factory=list, max_length=20)


class ProposalInvalid(Exception):
    """The answer is not usable; the message goes back to the model as feedback for a retry."""


def parse_proposal(content: str) -> ProposalOut:
    text = content.strip()
    fenced = FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        return ProposalOut.model_validate(json.loads(text))
    except json.JSONDecodeError as err:
        raise ProposalInvalid(f"the final answer is not JSON ({err.msg} at {err.pos})") from None
    except RecursionError:
        # Model output is untrusted: absurd nesting is a bad answer, not a planner crash.
        raise ProposalInvalid("the final answer is nested too deeply") from None
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:6])
        raise ProposalInvalid(f"the final answer does not match the schema: {problems}") from None


def check_proposal(
    proposal: ProposalOut,
    *,
    target: str,
    runbooks: dict[str, tuple[str, ...]],
    catalog: Catalog,
    known_refs: set[str],
) -> list[Candidate]:
    """Candidates from a proposal that passes every rule; otherwise ProposalInvalid naming each problem.

    `runbooks` maps each runbook reference to its do-not-touch patterns.
    """
    problems: list[str] = []
    if proposal.runbook not in runbooks:
        problems.append(f"runbook {proposal.runbook!r} is not one of {sorted(runbooks)}")
    if proposal.recovered:
        problems += _recovery_problems(proposal, known_refs)
    elif not proposal.actions and not proposal.handoff:
        problems.append("propose at least one action, set handoff with the reason, or set recovered")
    for action in proposal.actions:
        if action.target != target:
            problems.append(f"{action.kind}: target {action.target!r} is not the incident's service {target!r}")
        problems += [f"{action.kind}: {p}" for p in catalog.check(action.kind, action.target, action.params)]
        problems += human_only(catalog, action.kind)
        untouchable = runbooks.get(proposal.runbook, ())
        if any(fnmatch.fnmatchcase(action.target, pattern) for pattern in untouchable):
            problems.append(f"{action.kind}: {proposal.runbook} never touches {action.target!r}; hand off instead")
        unknown = [r for r in action.evidence_refs if r not in known_refs]
        if unknown:
            problems.append(f"{action.kind}: evidence_refs {unknown} were never returned by a tool")
    if problems:
        raise ProposalInvalid("; ".join(problems))
    return [
        Candidate(kind=a.kind, target=a.target, params=a.params, rationale=a.rationale, confidence=a.confidence)
        for a in proposal.actions
    ]


def _recovery_problems(proposal: ProposalOut, known_refs: set[str]) -> list[str]:
    """"Recovered" ends the investigation with nothing done, so it must rest on what a tool returned."""
    problems = []
    if proposal.actions:
        problems.append("recovered means no action: drop the actions or set recovered to false")
    if proposal.handoff:
        problems.append("recovered and handoff exclude each other: choose one")
    if not proposal.evidence_refs:
        problems.append("recovered must cite in evidence_refs the tool answers that show the symptom is gone")
    unknown = [r for r in proposal.evidence_refs if r not in known_refs]
    if unknown:
        problems.append(f"recovered: evidence_refs {unknown} were never returned by a tool")
    return problems


def schema_text() -> str:
    return json.dumps(ProposalOut.model_json_schema(), separators=(",", ":"))
