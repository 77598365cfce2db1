"""The Bicep templates against the topology and against themselves, as far as this machine can
check without the Bicep compiler or Azure: the generated topology.json has not drifted, every
module reference resolves with exactly the parameters the module declares, every field the
templates read from topology.json exists, resource names fit Azure's limits at the longest
prefix, and role definition ids are the documented built-in roles.
Not checked here: Bicep syntax and type checking (`az bicep build`), ARM what-if, API versions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from warden_bus.azure_servicebus import entities, provisioning
from warden_contracts import topology as topo

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "deploy" / "bicep"
TEMPLATES = sorted(BICEP.glob("*.bicep"))
BUILT_IN_ROLES = {
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "12338af0-0e69-4776-bea7-57ae8d297424": "Key Vault Crypto User",
    "21090545-7ca7-4776-b22c-e363652d74d2": "Key Vault Reader",
}


def _text(name: str) -> str:
    """The template without `//` comments (URLs inside strings are kept: they follow no space)."""
    return re.sub(r"(^|\s)//.*$", "", (BICEP / name).read_text(), flags=re.M)


def _params(text: str) -> dict[str, bool]:
    """Declared parameters -> whether they have a default."""
    return {m.group(1): m.group(2) is not None for m in re.finditer(r"^param (\w+) [\w.]+( =.*)?$", text, re.M)}


def _module_calls(text: str) -> list[tuple[str, set[str]]]:
    calls = []
    for m in re.finditer(r"^module \w+ '([^']+)' = \{\n(.*?)^\}", text, re.M | re.S):
        block = m.group(2)
        params = re.search(r"^  params: \{\n(.*?)^  \}", block, re.M | re.S)
        names = set(re.findall(r"^    (\w+):", params.group(1), re.M)) if params else set()
        calls.append((m.group(1), names))
    return calls


def test_topology_json_is_generated_from_the_topology_table() -> None:
    assert (BICEP / "topology.json").read_text() == provisioning.render(), (
        "deploy/bicep/topology.json drifted: run `uv run python -m warden_bus.azure_servicebus.provisioning --write`"
    )


def test_every_topic_and_consumer_has_an_entity_and_every_producer_a_role() -> None:
    doc = json.loads((BICEP / "topology.json").read_text())
    assert doc["topics"] == [t.name for t in topo.TOPICS]
    subs = {(s["topic"], s["name"]) for s in doc["subscriptions"]}
    assert subs == {(t.name, c) for t in topo.TOPICS for c in (*t.consumers, *t.elevated_consumers)}
    senders = {(a["identity"], a["topic"]) for a in doc["senders"] + doc["externalSenders"]}
    on_azure = {p for t in topo.TOPICS for p in t.producers} - set(provisioning.NOT_ON_AZURE)
    assert senders == {(p, t.name) for t in topo.TOPICS for p in t.producers if p in on_azure}
    # The executor's approved-action subscription has no standing reader at all.
    readers = {(a["identity"], a["topic"]) for a in doc["receivers"] + doc["externalReceivers"]}
    assert not any(topic == "sre.action.approved.v1" for _, topic in readers)
    assert [(a["identity"], a["topic"]) for a in doc["eligibleReceivers"]] == [("executor", "sre.action.approved.v1")]
    # Index fields point at the entries they name (Bicep scopes role assignments by index).
    for a in doc["senders"] + doc["externalSenders"]:
        assert doc["topics"][a["topicIndex"]] == a["topic"]
    for a in doc["receivers"] + doc["externalReceivers"] + doc["eligibleReceivers"]:
        s = doc["subscriptions"][a["subscriptionIndex"]]
        assert (s["topic"], s["name"]) == (a["topic"], a["subscription"]) and a["subscription"] == a["identity"]
    for a in doc["senders"] + doc["receivers"] + doc["eligibleReceivers"]:
        assert doc["identities"][a["identityIndex"]] == a["identity"]


@pytest.mark.parametrize("template", [t.name for t in TEMPLATES])
def test_module_references_resolve_with_the_declared_parameters(template: str) -> None:
    for target, passed in _module_calls(_text(template)):
        assert (BICEP / target).exists(), f"{template} references missing module {target}"
        declared = _params((BICEP / target).read_text())
        assert passed <= set(declared), f"{template} passes undeclared {sorted(passed - set(declared))} to {target}"
        required = {name for name, has_default in declared.items() if not has_default}
        assert required <= passed, f"{template} omits required {sorted(required - passed)} of {target}"


@pytest.mark.parametrize("template", [t.name for t in TEMPLATES])
def test_fields_read_from_topology_json_exist(template: str) -> None:
    text = _text(template)
    if "loadJsonContent('topology.json')" not in text:
        return
    doc = json.loads((BICEP / "topology.json").read_text())
    for key in re.findall(r"\btopology\.(?!json\b)(\w+)", text):
        assert key in doc, f"{template} reads topology.{key}"
    for key in re.findall(r"\bsb\.(\w+)", text):
        assert key in doc["servicebus"], f"{template} reads servicebus.{key}"
    for var, collection, body in re.findall(
        r"\[for (?:\()?(\w+)(?:, \w+\))? in topology\.(\w+): (.*?)\n\}\]", text, re.S
    ):
        for field in set(re.findall(rf"\b{var}\.(\w+)", body)):
            assert all(field in entry for entry in doc[collection]), f"{template}: {collection} entries lack {field}"


def test_role_definitions_are_the_documented_built_in_roles() -> None:
    for template in TEMPLATES:
        for role in re.findall(r"roleDefinitions', '([0-9a-f-]{36})'", template.read_text()):
            assert role in BUILT_IN_ROLES, f"{template.name} uses unknown role {role}"


def _longest(template: str, names: dict[str, str]) -> str:
    text = template
    for var, value in names.items():
        text = text.replace("${" + var + "}", value)
    assert "${" not in text, f"unresolved name part in {template}"
    return text


@pytest.mark.parametrize(
    ("template", "resource", "limit"),
    [
        ("main.bicep", "sb-${prefix}-${suffix}", 50),
        ("main.bicep", "kv-${prefix}-${suffix}", 24),
        ("main.bicep", "cosmos-${prefix}-${suffix}", 44),
        ("containerapps.bicep", "ca-${prefix}-${s.name}", 32),
        ("containerapps.bicep", "job-${prefix}-executor", 32),
        ("containerapps.bicep", "cae-${prefix}", 32),
        ("identities.bicep", "id-${prefix}-${name}", 128),
    ],
)
def test_resource_names_fit_at_the_longest_prefix(template: str, resource: str, limit: int) -> None:
    assert f"'{resource}'" in _text(template), f"{resource} not found in {template}"
    prefix_max = int(re.search(r"@maxLength\((\d+)\)\n@description\('short", _text("main.bicep")).group(1))  # type: ignore[union-attr]
    longest_service = max(topo.SERVICES + provisioning.MANAGED_IDENTITIES, key=len)
    name = _longest(
        resource, {"prefix": "p" * prefix_max, "suffix": "s" * 8, "s.name": longest_service, "name": longest_service}
    )
    assert len(name) <= limit, f"{name} ({len(name)}) exceeds {limit}"


def test_subscription_and_topic_names_fit_service_bus_limits() -> None:
    for s in entities.all_subscriptions():
        assert 1 <= len(s.name) <= entities.MAX_SUBSCRIPTION_NAME
    for t in topo.TOPICS:
        assert len(t.name) <= entities.MAX_TOPIC_NAME
