"""The bounded ReAct loop: think, call read-only tools, answer; any limit reached means hand off.

Limits: model turns, tokens, wall time and invalid answers. Nothing the model says is acted on until
it validates against the proposal schema, the catalog, the incident's target and the runbook's
do-not-touch list; the coordinator vets the result once more.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from warden_contracts.catalog import Catalog
from warden_contracts.events import IncidentChanged

from warden_planner.domain import injection
from warden_planner.domain.findings import Finding, note
from warden_planner.domain.llm.model import ChatModel, ModelError, ModelTurn
from warden_planner.domain.llm.prompt import incident_message, system_prompt
from warden_planner.domain.llm.proposal import ProposalInvalid, ProposalOut, check_proposal, parse_proposal
from warden_planner.domain.llm.tools import ToolRefused, run_tool, tool_schemas, wrap_untrusted
from warden_planner.domain.observer import ALL_TOOLS, Clock, EvidenceLog, ObserverTools
from warden_planner.domain.runbooks import FALLBACK, RUNBOOKS, Runbook

MAX_TRACE_TEXT = 300


@dataclass(frozen=True)
class Budget:
    max_turns: int = 8
    max_tokens: int = 40_000
    max_seconds: float = 60.0
    max_invalid_answers: int = 2


class Stop(Exception):
    """A limit was reached: no action, hand off with what is known."""


class LlmPlanner:
    def __init__(
        self,
        model: ChatModel,
        tools: ObserverTools,
        catalog: Catalog,
        clock: Clock,
        monotonic: Callable[[], float],
        budget: Budget | None = None,
        runbooks: tuple[Runbook, ...] = RUNBOOKS,
    ) -> None:
        self._model = model
        self._tools = tools
        self._catalog = catalog
        self._clock = clock
        self._monotonic = monotonic
        self._budget = budget or Budget()
        self._runbooks = {r.ref: r for r in (*runbooks, FALLBACK)}
        self._prompt = system_prompt(runbooks, FALLBACK, catalog)

    async def investigate(self, incident: IncidentChanged) -> Finding:
        session = _Session(self, incident)
        try:
            finding = await session.run()
        except Stop as why:
            finding = session.handoff(f"LLM planner stopped without a valid proposal: {why}")
        finding.suspicions = injection.findings(incident, session.log.items)
        if finding.recovered and finding.suspicions:
            # Text that tries to instruct only makes things stricter: "all is well" from such inputs
            # is not believed without a human.
            finding.recovered = False
            finding.handoff = (
                f"the model found it recovered ({finding.summary}), but its inputs hold suspected injected "
                "instructions: a human confirms before it is left to close"
            )
        return finding


class _Session:
    def __init__(self, planner: LlmPlanner, incident: IncidentChanged) -> None:
        self.p = planner
        self.incident = incident
        self.log = EvidenceLog(planner._tools, planner._clock, ALL_TOOLS)
        self.trace: list[str] = []
        self.tokens = 0
        self.invalid = 0
        self.runbook: str | None = None  # the last known runbook the model said it followed
        self.started = planner._monotonic()
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": planner._prompt},
            {"role": "user", "content": incident_message(incident)},
        ]

    async def run(self) -> Finding:
        if not self.incident.service:
            raise Stop(f"incident {self.incident.incident_id} names no service to investigate")
        budget = self.p._budget
        for turn_no in range(1, budget.max_turns + 1):
            turn = await self._ask(turn_no)
            self.messages.append(_assistant(turn))
            if turn.content and turn.tool_calls:
                # The model's own reasoning between tool calls belongs in the audit trail too.
                self.trace.append(f"turn {turn_no}: model says: {turn.content[:MAX_TRACE_TEXT]}")
            if turn.tool_calls:
                await self._call_tools(turn_no, turn)
                continue
            finding = self._answer(turn_no, turn.content or "")
            if finding is not None:
                return finding
        raise Stop(f"turn limit {budget.max_turns} reached")

    async def _ask(self, turn_no: int) -> ModelTurn:
        budget = self.p._budget
        left = budget.max_seconds - (self.p._monotonic() - self.started)
        if left <= 0:
            raise Stop(f"time budget {budget.max_seconds:.0f}s spent")
        if self.tokens >= budget.max_tokens:
            raise Stop(f"token budget {budget.max_tokens} spent ({self.tokens})")
        try:
            async with asyncio.timeout(left):
                turn = await self.p._model.complete(self.messages, tool_schemas())
        except TimeoutError:
            raise Stop(f"time budget {budget.max_seconds:.0f}s spent waiting for the model") from None
        except ModelError as err:
            raise Stop(f"model error: {err}") from None
        self.tokens += turn.prompt_tokens + turn.completion_tokens
        self.trace.append(f"turn {turn_no}: {turn.prompt_tokens}+{turn.completion_tokens} tokens")
        return turn

    async def _call_tools(self, turn_no: int, turn: ModelTurn) -> None:
        for call in turn.tool_calls:
            before = len(self.log.items)
            try:
                result = await run_tool(call.name, call.arguments, self.log)
            except ToolRefused as err:
                self.trace.append(f"turn {turn_no}: REFUSED {call.name}({call.arguments[:MAX_TRACE_TEXT]}): {err}")
                content = json.dumps({"error": f"refused: {err}"})
            else:
                ref = self.log.items[-1].ref if len(self.log.items) > before else None
                self.trace.append(f"turn {turn_no}: {call.name}({call.arguments[:MAX_TRACE_TEXT]}) -> {ref}")
                suspected = sorted({s.rule for s in injection.scan_evidence(self.log.items[before:])})
                if suspected:
                    self.trace.append(f"turn {turn_no}: suspected injection in {call.name}: {', '.join(suspected)}")
                content = wrap_untrusted(call.name, ref, result, suspected)
            self.messages.append({"role": "tool", "tool_call_id": call.id, "content": content})

    def _answer(self, turn_no: int, content: str) -> Finding | None:
        refs = {e.ref for e in self.log.items if e.ref}
        try:
            proposal = parse_proposal(content)
            if proposal.runbook in self.p._runbooks:
                self.runbook = proposal.runbook
            target = self.incident.service or ""
            candidates = check_proposal(
                proposal,
                target=target,
                runbooks={ref: r.do_not_touch for ref, r in self.p._runbooks.items()},
                catalog=self.p._catalog,
                known_refs=refs,
            )
        except ProposalInvalid as err:
            self.invalid += 1
            self.trace.append(f"turn {turn_no}: answer rejected ({self.invalid}): {err}")
            if self.invalid > self.p._budget.max_invalid_answers:
                raise Stop(f"{self.invalid} invalid answers, last: {err}") from None
            self.messages.append({"role": "user", "content": f"Your answer was rejected: {err}. Answer again."})
            return None
        accepted = "recovered, no action" if proposal.recovered else f"{len(candidates)} action(s)"
        self.trace.append(f"turn {turn_no}: proposal accepted ({accepted})")
        return self._finding(proposal, candidates)

    def _finding(self, proposal: ProposalOut, candidates: list[Any]) -> Finding:
        runbook = self.p._runbooks[proposal.runbook]
        hypotheses = [f"{h.verdict}: {h.statement} ({h.why})" for h in proposal.hypotheses]
        handoff = proposal.handoff if not candidates else None
        if proposal.handoff and candidates:
            hypotheses.append(note(f"the model also suggested a handoff: {proposal.handoff}"))
        summary = proposal.summary
        if proposal.recovered:
            cited = ", ".join(proposal.evidence_refs)
            summary = summary if summary.startswith("recovered") else f"recovered: {summary}; no action"
            hypotheses.append(note(f"the symptom is gone ({cited}): recovered"))
        return Finding(
            runbook=runbook.ref,
            summary=summary,
            hypotheses=hypotheses,
            candidates=candidates,
            evidence=self.log.items,
            do_not_touch=runbook.do_not_touch,
            handoff=handoff,
            recovered=proposal.recovered,
            planner=f"llm:{self.p._model.name}",
            trace=self.trace,
        )

    def handoff(self, reason: str) -> Finding:
        self.trace.append(reason)
        return Finding(
            runbook=self.runbook or f"llm:{self.p._model.name}",
            summary=reason,
            hypotheses=[note(reason)],
            evidence=self.log.items,
            handoff=reason,
            planner=f"llm:{self.p._model.name}",
            trace=self.trace,
        )


def _assistant(turn: ModelTurn) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.content}
    if turn.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in turn.tool_calls
        ]
    return message
