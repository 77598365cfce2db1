"""The shipped Cedar policy for an eval run, with one limit lifted: actions per hour across the estate.

One eval run replays dozens of incidents within minutes on one stack; the estate-wide hourly rate
limit (20 actions) is meant for a real hour of a real estate, and would refuse every action after
the twentieth scenario. Renaming services (isolation.py) keeps the per-target and per-incident
limits independent between scenarios; this keeps the global one out of the measurement too. Every
other rule is the shipped one, byte for byte.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SHIPPED_LIMIT = "context.actions_last_hour >= 20"
EVAL_LIMIT = "context.actions_last_hour >= 100000"


def write_eval_policy(folder: Path) -> Path:
    shipped = resources.files("warden_policy").joinpath("cedar")
    folder.mkdir(parents=True, exist_ok=True)
    for item in shipped.iterdir():
        if item.is_file() and item.name.endswith((".cedar", ".cedarschema", ".yaml")):
            text = item.read_text()
            if item.name.endswith(".cedar") and SHIPPED_LIMIT in text:
                text = text.replace(SHIPPED_LIMIT, EVAL_LIMIT)
            (folder / item.name).write_text(text)
    if not any(EVAL_LIMIT in p.read_text() for p in folder.glob("*.cedar")):
        raise RuntimeError(f"the shipped policy no longer says {SHIPPED_LIMIT!r}: update warden_eval.eval_policy")
    return folder
