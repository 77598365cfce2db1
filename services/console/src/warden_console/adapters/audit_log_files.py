"""Read-only view of the embedded audit log (`<audit_dir>/segments/NNNNNN.jsonl`, one JSON record per
line), tailed incrementally so a page refresh parses only what was appended since the last one.

The console never writes here and never trusts it for anything but display: policy decides.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from warden_console.domain.approvals import Outcome
from warden_console.domain.timeline import outcomes

_SEGMENT = re.compile(r"^(\d{6,})\.jsonl$")
_DECISION_TYPES = frozenset({"sre.policy.decided.v1", "sre.approval.decided.v1"})


class AuditLogFiles:
    def __init__(self, audit_dir: Path) -> None:
        self._dir = audit_dir / "segments"
        self._offsets: dict[Path, int] = {}
        self._records: list[dict[str, Any]] = []
        self._by_incident: dict[str, list[dict[str, Any]]] = {}
        self._by_type: dict[str, list[dict[str, Any]]] = {}
        self._decisions: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()

    def _segments(self) -> list[Path]:
        if not self._dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self._dir.iterdir() if (m := _SEGMENT.match(p.name))]
        return [p for _, p in sorted(found)]

    def _read_new(self) -> list[dict[str, Any]]:
        fresh: list[dict[str, Any]] = []
        for path in self._segments():
            start = self._offsets.get(path, 0)
            with path.open("rb") as handle:
                handle.seek(start)
                data = handle.read()
            end = data.rfind(b"\n") + 1  # an unterminated tail is a write in progress: read it next time
            for line in data[:end].splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # `warden audit verify` names corrupt records; the console only displays
                if isinstance(record, dict):
                    fresh.append(record)
            self._offsets[path] = start + end
        return fresh

    async def _refresh(self) -> None:
        async with self._lock:
            for record in await asyncio.to_thread(self._read_new):
                self._records.append(record)
                self._by_incident.setdefault(str(record.get("correlationid")), []).append(record)
                self._by_type.setdefault(str(record.get("type")), []).append(record)
                if record.get("type") in _DECISION_TYPES:
                    self._decisions.append(record)

    async def incident_records(self, incident_id: str) -> Sequence[dict[str, Any]]:
        await self._refresh()
        return list(self._by_incident.get(incident_id, []))

    async def records_of_type(self, message_type: str, limit: int) -> Sequence[dict[str, Any]]:
        await self._refresh()
        return list(self._by_type.get(message_type, [])[-limit:])

    async def outcomes(self) -> Mapping[str, Outcome]:
        await self._refresh()
        return outcomes(self._decisions)
