"""`warden generate` (`make generate`): write the deployment files' environments from the process
description (warden_cli.process_description; docs/adr/0008-one-process-description.md).

Two generated regions, everything around them hand-written:

- docker-compose.yml: one `x-env-<service>` anchor per service (what the services share in `x-env`),
  which each hand-written service block uses as `environment: *env-<service>`;
- deploy/bicep/main.bicep: `var environments`, each Azure-hosted service's container environment,
  which main.bicep hands to containerapps.bicep (`env: environments.<service>`).

tests/contract/test_process_description_drift.py renders both into memory and fails when the
committed files differ. `--check` exits 1 instead of writing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated

import typer
import yaml

from warden_cli.generated_region import MissingRegion, Region
from warden_cli.process_description import PROCESSES, ServiceProcess

COMPOSE = Path("docker-compose.yml")
MAIN_BICEP = Path("deploy/bicep/main.bicep")
TITLE = "warden process description"
NOTE = (
    "Written by `make generate` (warden generate) from shared/cli/src/warden_cli/process_description.py:\n"
    "edit the description, not these lines (docs/adr/0008-one-process-description.md)."
)
COMPOSE_REGION = Region(TITLE, "#", NOTE)
BICEP_REGION = Region(TITLE, "//", NOTE)


def _shared(envs: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """The variables every environment sets to the same value, in the first one's order."""
    first, *rest = envs
    return {name: value for name, value in first.items() if all(env.get(name) == value for env in rest)}


def _yaml_scalar(value: str) -> str:
    """`value` plain where YAML reads it back as the same string, else double-quoted (JSON's
    escapes are YAML's): "8080" must stay a string."""
    try:
        plain = value.strip() == value and "#" not in value and yaml.safe_load(f"k: {value}") == {"k": value}
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value)


def compose_block(processes: Mapping[str, ServiceProcess] = PROCESSES) -> str:
    envs = {name: p.compose_env() for name, p in processes.items()}
    shared = _shared(envs.values())
    lines = ["x-env: &env", *(f"  {k}: {_yaml_scalar(v)}" for k, v in shared.items())]
    for name, env in envs.items():
        lines += [f"x-env-{name}: &env-{name}", "  <<: *env"]
        lines += [f"  {k}: {_yaml_scalar(v)}" for k, v in env.items() if k not in shared]
    return "\n".join(lines)


def _bicep_entries(env: Mapping[str, str], indent: str) -> list[str]:
    return [f"{indent}{{ name: '{name}', value: {value} }}" for name, value in env.items()]


def bicep_block(processes: Mapping[str, ServiceProcess] = PROCESSES) -> str:
    envs = {name: p.azure_env() for name, p in processes.items() if p.on_azure}
    shared = _shared(envs.values())
    lines = ["var sharedEnv = [", *_bicep_entries(shared, "  "), "]", "var environments = {"]
    for name, env in envs.items():
        own = {k: v for k, v in env.items() if k not in shared}
        if own:
            lines += [f"  {name}: concat(sharedEnv, [", *_bicep_entries(own, "    "), "  ])"]
        else:
            lines.append(f"  {name}: sharedEnv")
    lines.append("}")
    return "\n".join(lines)


def rendered(root: Path) -> dict[Path, str]:
    """Each generated file (relative to the repository root) -> its text with the regions written."""
    return {
        COMPOSE: COMPOSE_REGION.replace((root / COMPOSE).read_text(), compose_block(), where=str(COMPOSE)),
        MAIN_BICEP: BICEP_REGION.replace((root / MAIN_BICEP).read_text(), bicep_block(), where=str(MAIN_BICEP)),
    }


def run(
    root: Annotated[
        Path, typer.Option("--root", help="the repository checkout (default: the current folder)")
    ] = Path(),
    check: Annotated[bool, typer.Option("--check", help="exit 1 if a file is stale instead of writing it")] = False,
) -> None:
    """Write docker-compose.yml's and the Bicep's environments from the process description."""
    try:
        files = rendered(root)
    except (FileNotFoundError, MissingRegion) as err:
        typer.secho(f"warden generate: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    stale = [path for path, text in files.items() if (root / path).read_text() != text]
    for path in files:
        if path not in stale:
            typer.echo(f"{path}: up to date")
        elif check:
            typer.secho(f"{path}: differs from the process description; run `make generate`", err=True)
        else:
            (root / path).write_text(files[path])
            typer.echo(f"{path}: rewritten from the process description")
    if check and stale:
        raise typer.Exit(1)
