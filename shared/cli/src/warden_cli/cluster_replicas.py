"""Which services `warden cluster up` may run several replicas of, and why the others stay at one.

A service is replicated only when every piece of its state is shared through PostgreSQL behind a
store safe under concurrent replicas (transactions / compare-and-set). Running two replicas of a
service that keeps state in its own SQLite file would not share anything: two triage replicas
would open the same incident twice. This table is the one place that says which is which; the
launcher, `warden cluster status`, `docs/scale-out.md` and the compose/Bicep replica counts
follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class StatePlan:
    service: str
    # Settings variable -> PostgreSQL schema: the service's stores selected by URL.
    stores: dict[str, str]
    # Empty when the service can be replicated; otherwise why it runs as one process.
    single_because: str = ""
    # Settings variable that names the replica (stable across its restarts, unique among replicas).
    replica_id_var: str | None = None

    @property
    def replicable(self) -> bool:
        return not self.single_because

    def replicas(self, requested: int) -> int:
        return requested if self.replicable else 1

    def env(self, database_url: str, replica: str) -> dict[str, str]:
        out = {var: with_schema(database_url, schema) for var, schema in self.stores.items()}
        if self.replica_id_var:
            out[self.replica_id_var] = replica
        return out


PLANS: dict[str, StatePlan] = {
    p.service: p
    for p in (
        # A replica's id names it in the outbox rows its flush claims.
        StatePlan("policy", {"WARDEN_POLICY_STORE_URL": "policy"}, replica_id_var="WARDEN_POLICY_REPLICA_ID"),
        StatePlan("triage", {"WARDEN_TRIAGE_STORE_URL": "triage"}),
        StatePlan("planner", {"WARDEN_PLANNER_STORE_URL": "planner"}),
        # A replica's id names it in the ledger rows it holds: the same after its restart.
        StatePlan("executor", {"WARDEN_EXECUTOR_STORE_URL": "executor"}, replica_id_var="WARDEN_EXECUTOR_REPLICA_ID"),
        StatePlan("scheduler", {"WARDEN_SCHEDULER_STORE_URL": "scheduler"}),
        StatePlan("audit", {}, "one writer appends the hash chain: a second one would fork it"),
        StatePlan("elevation", {}, "its grants are in SQLite and it holds the account key that signs them"),
        StatePlan("console", {}, "the approver inbox is in SQLite"),
        StatePlan("sandbox", {}, "the simulated estate lives in one process's memory"),
    )
}


def plan(service: str) -> StatePlan:
    return PLANS[service]


def with_schema(database_url: str, schema: str) -> str:
    """`postgresql://...?schema=NAME`: the stores take their schema from the URL (see policy's `open_store`)."""
    joiner = "&" if "?" in database_url else "?"
    return f"{database_url}{joiner}schema={quote(schema)}"
