"""The `warden` shell stays thin: its listing is what the real commands say, and it imports nothing heavy."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib.metadata import version

import pytest
import typer
from typer.testing import CliRunner
from warden_cli.lazy import Lazy, lazy_group
from warden_cli.main import BENCHMARKS, COMMANDS, app, bench_app

runner = CliRunner()


def _help(typer_app: typer.Typer, args: list[str]) -> str:
    result = runner.invoke(typer_app, [*args, "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    return result.output


def _eager_twin(typer_app: typer.Typer, entries: dict[str, Lazy]) -> typer.Typer:
    """The same app registered the old way: every command imported and added up front."""
    twin = typer.Typer(
        help=typer_app.info.help,
        no_args_is_help=typer_app.info.no_args_is_help,
        rich_markup_mode=typer_app.rich_markup_mode,
    )
    twin.registered_callback = typer_app.registered_callback
    twin.registered_commands = list(typer_app.registered_commands)
    for name, entry in entries.items():
        module, _, attribute = entry.target.partition(":")
        obj = getattr(importlib.import_module(module), attribute)
        if obj is bench_app:
            twin.add_typer(_eager_twin(bench_app, BENCHMARKS), name=name)
        elif isinstance(obj, typer.Typer):
            twin.add_typer(obj, name=name)
        else:
            twin.command(name)(obj)
    return twin


@pytest.mark.parametrize(("args", "entries"), [([], COMMANDS), (["bench"], BENCHMARKS)])
def test_the_lazy_listing_matches_the_loaded_commands(args: list[str], entries: dict[str, Lazy]) -> None:
    lazy = _help(app, args)
    assert lazy == _help(_eager_twin(app, COMMANDS), args)
    for name in entries:
        assert f" {name} " in lazy


def test_importing_the_shell_loads_no_service_sdk_or_bus() -> None:
    probe = "import json, sys, warden_cli.main; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True).stdout))
    heavy = {"warden_audit", "warden_contracts", "warden_bus", "warden_policy", "nats", "faststream", "pydantic"}
    heavy |= {"azure", "aiohttp", "yaml", "cryptography", "rich"}
    assert loaded & heavy == set()
    shell = {"warden_cli.main", "warden_cli.lazy", "warden_cli.errors"}
    assert not any(name.startswith("warden_cli.") and name not in shell for name in loaded)


def test_the_top_level_help_renders_without_rich() -> None:
    probe = (
        "import json, sys\nfrom warden_cli.main import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
    )
    probe += "print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True, text=True).stdout
    loaded = set(json.loads(out.splitlines()[-1]))
    assert "Commands:" in out
    assert not {name for name in loaded if name.split(".")[0] == "rich" or name == "typer.rich_utils"}


def test_version_comes_from_the_package_metadata() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"warden {version('warden-cli')}"


def test_a_missing_dev_only_package_is_one_clear_line() -> None:
    missing = "warden_not_installed_anywhere"
    entries = {"gone": Lazy(f"{missing}.bench:run", "A benchmark.", requires=missing)}
    shell = typer.Typer(cls=lazy_group(entries))
    shell.callback()(lambda: None)
    result = runner.invoke(shell, ["gone"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "`gone` needs the dev-only package warden_not_installed_anywhere (under tools/): run `uv sync` in the workspace"
    ]
