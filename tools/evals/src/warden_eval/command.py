"""`warden eval DIR [--planner runbook|llm]`: run the scenarios, print the scorecard."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

import typer
from warden_cli.layout import Layout

from warden_eval.runner import EvalOptions, load_and_run
from warden_eval.scenario import ScenarioError


def run(
    directory: Annotated[Path, typer.Argument(help="folder of scenario YAML files (see evals/README.md)")],
    planner: Annotated[str, typer.Option(help="runbook | llm (LLM planner against the scripted double)")] = "runbook",
    only: Annotated[str | None, typer.Option(help="run only scenarios whose name contains this")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="stack data (default: a temp folder)")] = None,
    tick: Annotated[float, typer.Option(help="sandbox tick in seconds")] = 0.25,
) -> None:
    """Run evaluation scenarios end to end through the embedded stack and print the scorecard."""
    if planner not in ("runbook", "llm"):
        raise typer.BadParameter("--planner must be runbook or llm")
    kind: Literal["runbook", "llm"] = "llm" if planner == "llm" else "runbook"
    root = data_dir or Path(tempfile.mkdtemp(prefix="warden-eval-"))
    try:
        card = load_and_run(directory, Layout(root.resolve()), typer.echo, EvalOptions(planner=kind, tick_s=tick), only)
    except ScenarioError as err:
        typer.secho(f"bad scenario: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    finally:
        if data_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    typer.echo("")
    typer.echo(card.render())
    if card.unsafe or not card.outcomes:
        raise typer.Exit(1)
