"""The estate file: schema errors and cross-checks name the file, the line and the fix."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from warden_estate import EstateInvalid, load_estate, parse_estate
from warden_estate.schema import DEFAULT_PORTS

GOOD = """\
version: 1
services:
  - name: api
    environment: prod
    owner: team-api
    azure_resource_ids: [/subscriptions/s/resourceGroups/rg-a/providers/Microsoft.Web/sites/api]
    kubernetes:
      - {cluster: aks, namespace: shop, workload: api}
    match_labels:
      - {job: api}
  - name: worker
    environment: dev
    owner: team-api
    dependencies: [api]
response_plans:
  - name: dev-auto
    match: {environments: [dev], services: [worker]}
    run_mode: autonomous
approvers:
  users:
    - {name: alice, groups: [sre-oncall]}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(EstateInvalid) as caught:
        parse_estate(text, "w.yaml")
    return [str(p) for p in caught.value.problems]


def test_a_valid_estate_loads_with_fixed_default_ports() -> None:
    estate, _ = parse_estate(GOOD)
    assert [s.name for s in estate.services] == ["api", "worker"]
    assert estate.ports() == DEFAULT_PORTS
    assert all(port > 0 for port in estate.ports().values())


def test_random_ports_only_when_asked() -> None:
    estate, _ = parse_estate(GOOD + "listen: {random: true}\n")
    assert set(estate.ports().values()) == {0}


def test_the_bundled_demo_estate_passes_its_own_checks() -> None:
    path = Path(str(resources.files("warden_estate").joinpath("demo.yaml")))
    estate = load_estate(path)
    assert {s.name for s in estate.services} >= {"checkout-api", "payments-api", "kube-system/coredns"}


def test_a_missing_owner_names_the_line_of_the_service_and_the_fix() -> None:
    text = GOOD.replace("    owner: team-api\n    dependencies: [api]\n", "    dependencies: [api]\n")
    [found] = problems(text)
    assert found.startswith("w.yaml:11: services[1].owner: Field required")
    assert "add `owner: <team that is paged>`" in found


def test_a_missing_environment_and_an_unknown_one() -> None:
    [missing] = problems(GOOD.replace("    environment: dev\n", ""))
    assert "services[1].environment" in missing and "dev | staging | prod" in missing
    [bad] = problems(GOOD.replace("environment: dev", "environment: qa"))
    assert bad.startswith("w.yaml:12: services[1].environment") and "use one of" in bad


def test_a_plan_naming_an_unknown_service_points_at_that_entry() -> None:
    [found] = problems(GOOD.replace("services: [worker]", "services: [wrker]"))
    assert found.startswith("w.yaml:17: response_plans[0].match.services[0]")
    assert "'wrker'" in found and "declare 'wrker' under services" in found


def test_a_task_naming_an_unknown_service() -> None:
    text = GOOD + 'scheduled_tasks:\n  - {name: nightly, cron: "0 1 * * *", kind: health_check, services: [nope]}\n'
    [found] = problems(text)
    assert "scheduled_tasks[0].services[0]" in found and "'nope'" in found


def test_an_azure_resource_claimed_twice_differing_only_in_case() -> None:
    text = GOOD.replace(
        "    dependencies: [api]\n",
        "    dependencies: [api]\n"
        "    azure_resource_ids: [/SUBSCRIPTIONS/s/resourcegroups/RG-A/providers/Microsoft.Web/sites/API]\n",
    )
    [found] = problems(text)
    assert found.startswith("w.yaml:15: services[1].azure_resource_ids[0]")
    assert "claimed by api (services[0].azure_resource_ids[0]) and by worker" in found


def test_a_workload_without_cluster_collides_with_the_same_workload_on_a_cluster() -> None:
    text = GOOD.replace(
        "    dependencies: [api]\n", "    dependencies: [api]\n    kubernetes: [{namespace: shop, workload: api}]\n"
    )
    [found] = problems(text)
    assert "Kubernetes workload shop/api is claimed by api" in found


def test_a_label_matcher_claimed_twice() -> None:
    text = GOOD.replace("    dependencies: [api]\n", "    dependencies: [api]\n    match_labels: [{job: api}]\n")
    [found] = problems(text)
    assert "label matcher {job=api} is claimed by api" in found


def test_approver_groups_must_be_declared_and_someone_must_approve() -> None:
    undeclared, nobody_left = problems(GOOD.replace("groups: [sre-oncall]", "groups: [sre-oncal]"))
    assert "nobody can approve" in nobody_left
    assert "approvers.users[0].groups[0]" in undeclared and "add 'sre-oncal' to approvers.groups" in undeclared
    nobody = problems(GOOD.replace("groups: [sre-oncall]", "groups: [viewers]"))
    assert any("nobody can approve" in p for p in nobody)


def test_unknown_keys_duplicate_keys_bad_yaml_and_versions() -> None:
    [typo] = problems(GOOD.replace("    owner: team-api\n    azure", "    owner: team-api\n    ownr: x\n    azure"))
    assert typo.startswith("w.yaml:6: services[0].ownr") and "remove `ownr`" in typo
    [twice] = problems(GOOD.replace("    owner: team-api\n    azure", "    owner: team-api\n    owner: b\n    azure"))
    assert twice.startswith("w.yaml:6: services[0].owner") and "appears twice" in twice
    [syntax] = problems("version: 1\nservices: [\n")
    assert syntax.startswith("w.yaml:") and "not valid YAML" in syntax
    [version] = problems(GOOD.replace("version: 1", "version: 2"))
    assert version.startswith("w.yaml:1: version: unsupported schema version 2")


def test_unknown_dependency_and_port_clash() -> None:
    found = problems(GOOD.replace("dependencies: [api]", "dependencies: [db]") + "listen: {ports: {console: 7480}}\n")
    assert any("depends on 'db'" in p for p in found)
    assert any("port 7480 is used by both triage and console" in p for p in found)


def test_every_problem_is_reported_at_once() -> None:
    text = GOOD.replace("services: [worker]", "services: [x]").replace("groups: [sre-oncall]", "groups: [nope]")
    assert len(problems(text)) >= 3
