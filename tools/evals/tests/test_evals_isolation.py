"""Per-scenario service names: every mention renamed, whole names only, the estate stays valid."""

from __future__ import annotations

from warden_eval.isolation import isolated
from warden_eval.scenario import Scenario
from warden_sandbox.adapters.estate_file import EstateSpec


def test_every_mention_of_a_service_is_renamed_and_nothing_else() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "checkout-api story",
            "description": "checkout-api leaks",
            "faults": [{"service": "cache-redis", "kind": "error_burst", "params": {"caused_by": "orders-worker"}}],
            "alerts": [{"service": "kube-system/coredns", "rule": "r", "description": "restart checkout-api now"}],
            "expect": {
                "service": "cache-redis",
                "incident_class": "elevated_error_rate",
                "runbook": "elevated_error_rate",
                "forbidden_actions": [{"kind": "restart_service", "target": "checkout-api"}],
                "executed": False,
                "escalation": True,
            },
            "llm": [{"say": '{"target": "cache-redis", "note": "cache-redis-like and my-cache-redis stay"}'}],
        }
    )
    own, estate = isolated(scenario, "-s03")
    assert own.name == "checkout-api story" and own.description == "checkout-api leaks"
    assert own.faults[0].service == "cache-redis-s03" and own.faults[0].params["caused_by"] == "orders-worker-s03"
    assert own.alerts[0].service == "kube-system/coredns-s03"
    assert own.alerts[0].description == "restart checkout-api-s03 now"
    assert own.expect.service == "cache-redis-s03" and own.expect.forbidden_actions[0].target == "checkout-api-s03"
    assert own.llm[0]["say"] == '{"target": "cache-redis-s03", "note": "cache-redis-like and my-cache-redis stay"}'
    spec = EstateSpec.model_validate(estate)
    checkout = next(s for s in spec.services if s.name == "checkout-api-s03")
    assert checkout.dependencies == ["payments-api-s03", "cache-redis-s03"] and checkout.owner == "team-shop-dev"
    assert own.world == estate
