"""Model output is untrusted: absurdly nested JSON is a refused tool call / invalid answer, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from warden_planner.domain.llm.proposal import ProposalInvalid, parse_proposal
from warden_planner.domain.llm.tools import ToolRefused, run_tool
from warden_planner.domain.observer import EvidenceLog

DEEP = "[" * 200_000 + "]" * 200_000


def test_a_deeply_nested_final_answer_is_invalid_not_a_crash() -> None:
    with pytest.raises(ProposalInvalid, match="nested too deeply"):
        parse_proposal(DEEP)


async def test_deeply_nested_tool_arguments_are_refused_not_a_crash() -> None:
    log = EvidenceLog(tools=None, clock=lambda: datetime.now(UTC), allowed=())  # type: ignore[arg-type]
    with pytest.raises(ToolRefused, match="nested too deeply"):
        await run_tool("get_service", DEEP, log)
    assert log.items == []
