"""docker-compose.yml and the Bicep environment blocks against the process description
(warden_cli.process_description), from which `warden up` builds every child's environment.

Compose: each service's environment is exactly the description's (names and values; the file is
read with PyYAML, which resolves the `<<: *env` merges). Bicep (no compiler here): the `env`
arrays are read textually, `containerapps.bicep`'s `common` array and the per-app additions plus
each service's own `env` in `main.bicep`'s `services` list, and the executor job's block; their
variable names must be exactly the description's Azure settings of that service. Health probes
use the description's endpoint."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from warden_cli.launcher import CHILDREN
from warden_cli.process_description import PROCESSES, process

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "deploy" / "bicep"
VARIABLE = re.compile(r"\{\s*name:\s*'((?:WARDEN|AZURE)_\w+)'")


def _compose_services() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"])


def _bicep(name: str) -> str:
    return re.sub(r"(^|\s)//.*$", "", (BICEP / name).read_text(), flags=re.M)


def _names(block: str) -> set[str]:
    return set(VARIABLE.findall(block))


def _bracketed(text: str, start: int) -> str:
    """The text of the `[...]` opening at or after `start`, nested brackets included."""
    begin = text.index("[", start)
    depth = 0
    for i in range(begin, len(text)):
        depth += {"[": 1, "]": -1}.get(text[i], 0)
        if depth == 0:
            return text[begin + 1 : i]
    raise AssertionError(f"unbalanced [ at {begin}")


def _bicep_envs() -> dict[str, set[str]]:
    """service -> the variable names its Azure container gets."""
    apps = _bicep("containerapps.bicep")
    common = _names(_bracketed(apps, apps.index("var common =")))
    app_env = apps.index("env: concat(common, s.env,")
    per_app = _names(_bracketed(apps, apps.index("s.env,", app_env) + len("s.env,")))
    job = apps.index("resource executor 'Microsoft.App/jobs")
    job_env = _names(_bracketed(apps, apps.index("env: concat(common,", job) + len("env: concat(common,")))
    main = _bicep("main.bicep")
    services = _bracketed(main, main.index("services: ["))
    # Each entry starts at its `name: '<service>'`; its env runs to the next entry.
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"\bname: '([a-z]+)'", services)]
    envs = {}
    for (at, service), (end, _) in zip(starts, [*starts[1:], (len(services), "")], strict=True):
        envs[service] = common | per_app | _names(services[at:end])
    envs["executor"] = common | job_env
    return envs


def test_every_child_of_warden_up_is_described_in_start_order() -> None:
    assert tuple(PROCESSES) == CHILDREN


@pytest.mark.parametrize("service", list(PROCESSES))
def test_compose_environment_is_the_description(service: str) -> None:
    compose = _compose_services()
    assert service in compose, f"{service} missing from docker-compose.yml"
    spec = compose[service]
    env = {name: str(value) for name, value in (spec.get("environment") or {}).items()}
    expected = process(service).compose_env()
    assert set(env) - set(expected) == set(), f"{service}: docker-compose.yml sets variables it does not read"
    assert set(expected) - set(env) == set(), f"{service}: docker-compose.yml misses variables it needs"
    assert env == expected
    assert spec["build"]["args"]["SERVICE"] == service


def test_no_service_in_compose_takes_a_secret_as_a_value() -> None:
    """Secrets reach every container as files in its key folder, never as `${...}` from .env."""
    for name, spec in _compose_services().items():
        for variable, value in (spec.get("environment") or {}).items():
            if isinstance(value, str) and value.startswith("${"):
                assert variable == "WARDEN_OTLP_ENDPOINT", f"{name}: {variable} comes from the shell"


def test_bicep_environments_are_the_description() -> None:
    envs = _bicep_envs()
    on_azure = {name for name, p in PROCESSES.items() if p.on_azure}
    assert set(envs) == on_azure, "the services deployed to Azure differ from the description's"
    for service, names in envs.items():
        expected = process(service).azure_names()
        assert names - expected == set(), f"{service}: the Bicep sets variables the description does not have"
        assert expected - names == set(), f"{service}: the Bicep misses variables the description requires"


def test_bicep_health_probes_use_the_described_endpoint() -> None:
    paths = set(re.findall(r"path: '([^']+)'", _bicep("containerapps.bicep")))
    assert paths == {p.health for p in PROCESSES.values() if p.on_azure}


def test_the_drift_check_sees_a_variable_added_on_one_side() -> None:
    """The Bicep reader finds a variable in a service's own env block (else the test above proves nothing)."""
    envs = _bicep_envs()
    assert "WARDEN_AUDIT_BLOB_CONTAINER" in envs["audit"]
    assert "WARDEN_AUDIT_BLOB_CONTAINER" not in envs["triage"]
    assert "WARDEN_PIM_ROLES" in envs["executor"] and "AZURE_CLIENT_ID" in envs["planner"]
