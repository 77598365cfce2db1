"""`deploy/bicep/topology.json`: the Service Bus entities and role assignments the Bicep templates
loop over, generated from the topology table so the deployment cannot drift from it.

    uv run python -m warden_bus.azure_servicebus.provisioning --write   # regenerate
    uv run python -m warden_bus.azure_servicebus.provisioning --check   # non-zero on drift

Role assignments reference array indexes (`topicIndex`, `subscriptionIndex`, `identityIndex`)
because Bicep can scope a looped assignment only to an element of a looped resource.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from warden_contracts import topology as topo

from warden_bus.azure_servicebus import entities

# Identities that run as user-assigned managed identities in the deployment; the other topology
# clients (alert sources, operators, SIEM readers) are existing Entra principals passed as
# parameters. The embedded elevation authority has no Azure counterpart: PIM takes its place.
MANAGED_IDENTITIES = (*topo.SERVICES, "approver")
EXTERNAL_PRINCIPALS = ("ingest", "operator", "siem")
NOT_ON_AZURE = ("elevation",)
DEFAULT_PATH = Path("deploy/bicep/topology.json")


def _duration(seconds: int) -> str:
    return f"PT{seconds // 60}M" if seconds % 60 == 0 else f"PT{seconds}S"


def topology_document() -> dict[str, Any]:
    entities.check_names()
    topics = [t.name for t in topo.TOPICS]
    subs = entities.all_subscriptions()
    sub_index = {(s.topic, s.name): i for i, s in enumerate(subs)}
    senders: list[dict[str, Any]] = []
    receivers: list[dict[str, Any]] = []
    eligible: list[dict[str, Any]] = []
    for ti, t in enumerate(topo.TOPICS):
        for producer in t.producers:
            senders.append({"identity": producer, "topic": t.name, "topicIndex": ti})
        for s in entities.subscriptions(t):
            entry = {
                "identity": s.name,
                "topic": t.name,
                "subscription": s.name,
                "subscriptionIndex": sub_index[(t.name, s.name)],
            }
            (eligible if s.elevated else receivers).append(entry)

    def split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        known = (*MANAGED_IDENTITIES, *EXTERNAL_PRINCIPALS, *NOT_ON_AZURE)
        unknown = sorted({r["identity"] for r in rows} - set(known))
        if unknown:
            raise ValueError(f"topology identities {unknown} have no Azure principal; add them to provisioning.py")
        managed = [
            r | {"identityIndex": MANAGED_IDENTITIES.index(r["identity"])}
            for r in rows
            if r["identity"] in MANAGED_IDENTITIES
        ]
        external = [r for r in rows if r["identity"] in EXTERNAL_PRINCIPALS]
        return managed, external

    managed_senders, external_senders = split(senders)
    managed_receivers, external_receivers = split(receivers)
    return {
        "$comment": (
            "GENERATED from warden_contracts.topology by "
            "`python -m warden_bus.azure_servicebus.provisioning --write`; do not edit"
        ),
        "servicebus": {
            "duplicateDetectionHistoryTimeWindow": _duration(int(entities.DUPLICATE_WINDOW.total_seconds())),
            "lockDuration": _duration(int(entities.LOCK_DURATION.total_seconds())),
            "maxDeliveryCount": entities.MAX_DELIVERY_COUNT,
            "defaultMessageTimeToLive": f"P{entities.MESSAGE_TTL.days}D",
        },
        "identities": list(MANAGED_IDENTITIES),
        "externalPrincipals": list(EXTERNAL_PRINCIPALS),
        "topics": topics,
        "subscriptions": [
            {
                "topic": s.topic,
                "topicIndex": topics.index(s.topic),
                "name": s.name,
                "filter": s.filter_sql,
                "elevated": s.elevated,
            }
            for s in subs
        ],
        "senders": managed_senders,
        "externalSenders": external_senders,
        "receivers": managed_receivers,
        "externalReceivers": external_receivers,
        # No standing role: the executor activates a PIM eligibility for these (docs/azure.md).
        "eligibleReceivers": [r | {"identityIndex": MANAGED_IDENTITIES.index(r["identity"])} for r in eligible],
    }


def render() -> str:
    return json.dumps(topology_document(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        args.path.parent.mkdir(parents=True, exist_ok=True)
        args.path.write_text(text)
        return 0
    if not args.path.exists() or args.path.read_text() != text:
        print(f"{args.path} is out of date with the topology; run with --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
