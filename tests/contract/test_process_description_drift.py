"""docker-compose.yml and the Bicep environments are generated from the process description
(warden_cli.process_description, from which `warden up` builds every child's environment).

The committed files must equal what `warden generate` (`make generate`) writes, rendered here
into memory. Then what the generated text means: compose read with PyYAML (which resolves the
`<<: *env` merges and `*env-<service>` aliases) gives each service exactly the description's
environment; the Bicep (no compiler here, read textually) hands each Azure-hosted app and the
executor job its generated environment, and every symbol a generated expression names is declared
in main.bicep (a module output in the module's file). Health probes use the described endpoint."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from warden_cli import environment_files
from warden_cli.generated_region import MissingRegion
from warden_cli.launcher import CHILDREN
from warden_cli.process_description import PROCESSES, process

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "deploy" / "bicep"
BICEP_FUNCTIONS = {"string", "subscription", "concat"}


def _compose_services() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"])


def _bicep(name: str) -> str:
    return re.sub(r"(^|\s)//.*$", "", (BICEP / name).read_text(), flags=re.M)


def test_every_child_of_warden_up_is_described_in_start_order() -> None:
    assert tuple(PROCESSES) == CHILDREN


@pytest.mark.parametrize("path", [environment_files.COMPOSE, environment_files.MAIN_BICEP])
def test_committed_file_is_what_make_generate_writes(path: Path) -> None:
    generated = environment_files.rendered(ROOT)[path]
    assert (ROOT / path).read_text() == generated, (
        f"{path} differs from the process description: run `make generate` (warden generate) and commit it"
    )


def test_generation_rewrites_only_the_region() -> None:
    """A hand edit inside the region is undone; hand-written text around it is kept."""
    region = environment_files.COMPOSE_REGION
    text = (ROOT / "docker-compose.yml").read_text()
    edited = text.replace("WARDEN_AUDIT_URL: http://audit:8080", "WARDEN_AUDIT_URL: http://elsewhere:1")
    edited = edited.replace("restart: unless-stopped", "restart: always")
    assert edited != text
    again = region.replace(edited, environment_files.compose_block(), where="docker-compose.yml")
    assert "WARDEN_AUDIT_URL: http://audit:8080" in again and "elsewhere" not in again
    assert "restart: always" in again
    with pytest.raises(MissingRegion, match=re.escape("docker-compose.yml")):
        region.replace(text.replace(region.end, ""), "", where="docker-compose.yml")


@pytest.mark.parametrize("service", list(PROCESSES))
def test_compose_environment_is_the_description(service: str) -> None:
    compose = _compose_services()
    assert service in compose, f"{service} missing from docker-compose.yml"
    spec = compose[service]
    env = {name: str(value) for name, value in (spec.get("environment") or {}).items()}
    assert env == process(service).compose_env(), f"{service}: use `environment: *env-{service}`"
    assert all(isinstance(value, str) for value in spec["environment"].values()), "compose takes strings"
    assert spec["build"]["args"]["SERVICE"] == service


def test_compose_has_no_top_level_name() -> None:
    """Debian's docker-compose 1.29 rejects it ('name' does not match any of the regexes: '^x-')."""
    assert "name" not in yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_no_service_in_compose_takes_a_secret_as_a_value() -> None:
    """Secrets reach every container as files in its key folder, never as `${...}` from .env."""
    for name, spec in _compose_services().items():
        for variable, value in (spec.get("environment") or {}).items():
            if isinstance(value, str) and value.startswith("${"):
                assert variable == "WARDEN_OTLP_ENDPOINT", f"{name}: {variable} comes from the shell"


def test_bicep_hands_every_azure_service_its_generated_environment() -> None:
    main = _bicep("main.bicep")
    wired = dict(re.findall(r"\{ name: '([a-z]+)', .*\benv: environments\.(\w+),", main))
    assert all(service == env for service, env in wired.items()), wired
    assert "executorEnv: environments.executor" in main
    on_azure = {name for name, p in PROCESSES.items() if p.on_azure}
    assert {*wired, "executor"} == on_azure, "the services deployed to Azure differ from the description's"
    apps = _bicep("containerapps.bicep")
    assert re.findall(r"^\s+env: (\S+)$", apps, re.M) == ["s.env", "executorEnv"], "the containers' env is passed as is"


def test_generated_bicep_expressions_name_declared_symbols() -> None:
    """What a compiler would catch first: an unknown variable, module or module output."""
    main = _bicep("main.bicep")
    declared = set(re.findall(r"^(?:param|var) (\w+)", main, re.M))
    modules = dict(re.findall(r"^module (\w+) '([^']+)'", main, re.M))
    for service, p in PROCESSES.items():
        for name, expression in p.azure_env().items():
            if expression.startswith("'"):
                continue
            for module, output in re.findall(r"\b(\w+)\.outputs\.(\w+)", expression):
                assert module in modules, f"{service} {name}: no module {module} in main.bicep"
                outputs = re.findall(r"^output (\w+)", (BICEP / modules[module]).read_text(), re.M)
                assert output in outputs, f"{service} {name}: {modules[module]} has no output {output}"
            symbols = set(re.findall(r"(?<![.\w])([A-Za-z_]\w*)", re.sub(r"'[^']*'", "", expression)))
            unknown = symbols - declared - set(modules) - BICEP_FUNCTIONS
            assert not unknown, f"{service} {name}: {expression} names undeclared {sorted(unknown)}"


def test_bicep_health_probes_use_the_described_endpoint() -> None:
    paths = set(re.findall(r"path: '([^']+)'", _bicep("containerapps.bicep")))
    assert paths == {p.health for p in PROCESSES.values() if p.on_azure}
