"""Helpers for tests of the console and of the stacks that include it (not used in production)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from warden_console.adapters.local_users import write_users_file
from warden_console.app import BUS_IDENTITY, ConsoleRuntime, create_app
from warden_console.domain.roles import Role
from warden_console.ports import ConsolePorts
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import ApprovalRequested, Evidence, ProposedAction
from warden_security.keys import load_or_create_private_key, load_public_key, public_path
from warden_security.tokens import APPROVAL_AUDIENCE, LOCAL_APPROVER_ISSUER, TokenVerifier

from warden_testkit.memory_bus import MemoryBroker

if TYPE_CHECKING:
    from warden_testkit.bus import EmbeddedBroker

CSRF = re.compile(r'name="csrf" value="([^"]+)"')

# name, password, groups, role — the embedded directory's people with test passwords.
TEST_USERS = (
    ("alice", "alice-password", ("sre-oncall",), Role.APPROVER),
    ("bob", "bob-password", ("sre-leads",), Role.ADMINISTRATOR),
    ("carol", "carol-password", ("viewers",), Role.VIEWER),
    ("dave", "dave-password", ("sre-leads",), Role.APPROVER),
)


def write_test_users(path: Path) -> Path:
    write_users_file(path, TEST_USERS)
    return path


def approval_request(
    approval_id: str = "appr-1",
    incident_id: str = "inc-1",
    *,
    expires_in: timedelta = timedelta(minutes=15),
    **extra: Any,
) -> Envelope:
    now = datetime.now(UTC)
    payload = ApprovalRequested(
        approval_id=approval_id,
        incident_id=incident_id,
        action=ProposedAction(
            action_id=f"act-{approval_id}",
            kind="rollback_deployment",
            target="payments-api",
            params={"to_version": "v3.1.0"},
            rationale="error rate rose right after deploying v3.2.0",
            confidence=0.9,
        ),
        action_hash=f"hash-{approval_id}",
        tier=extra.pop("tier", 1),
        environment="prod",
        summary="Roll payments-api back to v3.1.0",
        evidence=[
            Evidence(
                tool="deployments", params={"service": "payments-api"}, result={"latest": "v3.2.0"}, observed_at=now
            )
        ],
        reversible=True,
        rollback_plan="redeploy v3.2.0",
        blast_radius="payments-api in prod (1 service)",
        expires_at=now + expires_in,
        requested_by="warden-planner",
        **extra,
    )
    return envelope_for(
        "sre.approval.requested.v1", payload, source="warden/policy", correlationid=incident_id, subject=incident_id
    )


def append_audit_records(audit_dir: Path, envelopes: list[Envelope], first_seq: int = 1) -> None:
    """Append envelopes as audit records in the log's line format (one JSON record per line)."""
    folder = audit_dir / "segments"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "000001.jsonl").open("a") as out:
        for seq, env in enumerate(envelopes, first_seq):
            raw = json.loads(env.to_bytes())
            record = {
                "seq": seq,
                "recorded_at": datetime.now(UTC).isoformat(),
                "message_id": env.id,
                "type": env.type,
                "correlationid": env.correlationid,
                "envelope": raw,
            }
            out.write(json.dumps(record) + "\n")


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


class Browser:
    """An HTTP client that signs in like a person: cookie jar, CSRF token from the page, Origin header."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.http.get(self.base + path, allow_redirects=kw.pop("allow_redirects", True), **kw) as r:
            text = await r.text()
            if m := CSRF.search(text):
                self.csrf = m.group(1)
            return r.status, text

    async def post(self, path: str, data: dict[str, str], *, csrf: str | None = None) -> tuple[int, str]:
        form = {"csrf": self.csrf if csrf is None else csrf, **data}
        async with self.http.post(self.base + path, data=form, headers={"Origin": self.base}) as r:
            text = await r.text()
            if m := CSRF.search(text):
                self.csrf = m.group(1)
            return r.status, text

    async def sign_in(self, user: str, password: str | None = None) -> tuple[int, str]:
        await self.get("/login")
        return await self.post("/login", {"username": user, "password": password or f"{user}-password"})

    async def close(self) -> None:
        await self.http.close()


@dataclass
class Console:
    runtime: ConsoleRuntime
    data_dir: Path
    verifier: TokenVerifier

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.runtime.bound_port}"


async def start_console(broker: EmbeddedBroker | MemoryBroker, data_dir: Path, **overrides: Any) -> Console:
    """On the embedded NATS broker (as the `approver` user) or on the in-memory bus."""
    key_path = data_dir / "keys" / "approver-issuer.pem"
    load_or_create_private_key(key_path)
    write_test_users(data_dir / "keys" / "console-users.yaml")
    settings: dict[str, Any] = {"http_port": 0}
    ports = None
    if isinstance(broker, MemoryBroker):
        ports = ConsolePorts(bus=broker.bus(BUS_IDENTITY))
        # The settings still require a credentials path; with the bus given, nothing opens it.
        settings["nats_creds"] = data_dir / "keys" / "unused-nats.creds"
    else:
        settings |= {"nats_url": broker.url, "nats_creds": broker.creds(BUS_IDENTITY)}
    runtime = create_app(ports=ports, data_dir=data_dir, **(settings | overrides))
    await runtime.start()
    verifier = TokenVerifier(load_public_key(public_path(key_path)), LOCAL_APPROVER_ISSUER, APPROVAL_AUDIENCE)
    return Console(runtime, data_dir, verifier)
