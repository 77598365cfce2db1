"""What an investigation concludes: hypotheses, evidence, ranked candidate catalog actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from warden_contracts.events import Evidence, Hypothesis, PlanFinding


class Candidate(BaseModel):
    """A catalog action a runbook would take; nothing is proposed before it is vetted."""

    model_config = ConfigDict(frozen=True)

    kind: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    rationale: str
    confidence: float = Field(ge=0, le=1)


@dataclass
class Finding:
    """The result of one investigation.

    `handoff` set: hand the incident to a human with the evidence. `recovered`: the symptom is
    gone, nothing to do. Otherwise `candidates` holds the actions the runbook would take.
    """

    runbook: str
    summary: str
    hypotheses: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    do_not_touch: tuple[str, ...] = ()
    handoff: str | None = None
    recovered: bool = False
    planner: str = "runbook"
    # The reasoning trace for audit: runbook steps taken, or the LLM's turns and tool calls.
    trace: list[str] = field(default_factory=list)
    # What the inputs looked like (suspected_injection, ...): findings only ever make policy stricter.
    suspicions: list[PlanFinding] = field(default_factory=list)


def supported(hypothesis: str, why: str) -> str:
    return f"supported: {hypothesis} ({why})"


def rejected(hypothesis: str, why: str) -> str:
    return f"rejected: {hypothesis} ({why})"


def note(text: str) -> str:
    return f"note: {text}"


def structured(text: str) -> Hypothesis:
    """'rejected: X (why)' -> Hypothesis(statement=X, verdict=rejected, why=why)."""
    verdict, _, rest = text.partition(": ")
    if verdict not in ("supported", "rejected", "note") or not rest:
        return Hypothesis(statement=text, verdict="note")
    statement, why = rest, ""
    if rest.endswith(")") and " (" in rest:
        statement, _, why = rest[:-1].partition(" (")
    return Hypothesis(statement=statement, verdict=verdict, why=why)
