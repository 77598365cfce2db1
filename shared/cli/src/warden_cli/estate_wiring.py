"""From `warden.yaml` to the settings each service already reads.

The estate is derived into the files the services know (written under `<data>/estate/`) and
the environment variables that point at them, so no service imports `warden_estate`. A variable
already set in the environment wins over the estate (the documented overrides keep working).

    <data>/estate/sandbox-estate.yaml        WARDEN_SANDBOX_ESTATE        (sandbox)
    <data>/estate/service-catalog.yaml       WARDEN_SERVICE_CATALOG       (triage)
    <data>/estate/policy/response_plans.yaml WARDEN_POLICY_CONFIG_DIR     (policy)
    <data>/estate/policy/approvers.yaml        "
    <data>/estate/policy/services.yaml         "   (the inventory policy places targets by)
    <data>/estate/scheduler-tasks.yaml       WARDEN_SCHEDULER_TASKS_FILE  (scheduler)
    observers.prometheus / azure_monitor     WARDEN_PROMETHEUS_URL, ...   (planner)
    <data>/keys/webhook-token                the webhook bearer token alone (credentials_file)
    <data>/keys/console-users.yaml           the estate's approvers, created on the first start
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from warden_estate import Estate, derive, load_estate

from warden_cli.layout import Layout

HEADER = "# Derived from {source} by `warden up`; edit that file instead, this one is rewritten.\n"


def demo_estate_path() -> Path:
    return Path(str(resources.files("warden_estate").joinpath("demo.yaml")))


def webhook_token_file(layout: Layout) -> Path:
    """The webhook token alone in an owner-only file, for Alertmanager's `credentials_file`."""
    path = layout.keys / "webhook-token"
    token = layout.secrets()["webhook_token"]
    if not path.exists() or path.read_text().strip() != token:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
    return path


@dataclass(frozen=True)
class Wiring:
    estate: Estate
    source: Path
    ports: dict[str, int]  # listener -> fixed port; 0: a free one
    env: dict[str, dict[str, str]]  # service -> variables derived from the estate
    console_users: list[str] = field(default_factory=list)  # what this start changed in the console's users


def _write(path: Path, document: dict[str, Any], source: Path) -> bool:
    """Write a derived file; True when its content changed."""
    text = HEADER.format(source=source) + yaml.safe_dump(document, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def wire(layout: Layout, source: Path) -> Wiring:
    """Load and check the estate (raises `EstateInvalid`), write the derived files, say how to
    point each service at them."""
    estate = load_estate(source)
    out = layout.root / "estate"
    sandbox_file = out / "sandbox-estate.yaml"
    if _write(sandbox_file, derive.sandbox_estate(estate), source):
        # The sandbox restores its saved world before reading an estate: a changed estate
        # starts a fresh simulated world, or edits would silently not apply.
        for world in layout.sandbox_worlds():
            world.unlink(missing_ok=True)
    _write(out / "service-catalog.yaml", derive.triage_catalog(estate), source)
    _write(out / "policy" / "response_plans.yaml", derive.response_plans(estate), source)
    _write(out / "policy" / "approvers.yaml", derive.approvers(estate), source)
    _write(out / "policy" / "services.yaml", derive.policy_services(estate), source)
    _write(out / "scheduler-tasks.yaml", derive.scheduler_tasks(estate), source)
    people = _console_people(layout, estate)
    env = {
        "sandbox": {"WARDEN_SANDBOX_ESTATE": str(sandbox_file)},
        "triage": {"WARDEN_SERVICE_CATALOG": str(out / "service-catalog.yaml")},
        "policy": {"WARDEN_POLICY_CONFIG_DIR": str(out / "policy")},
        "scheduler": {"WARDEN_SCHEDULER_TASKS_FILE": str(out / "scheduler-tasks.yaml")},
        "planner": derive.planner_settings(estate),
    }
    overridden = {name: {k: v for k, v in values.items() if k not in os.environ} for name, values in env.items()}
    return Wiring(estate, source, estate.ports(), overridden, people)


def _console_people(layout: Layout, estate: Estate) -> list[str]:
    """The estate's approvers, and only they, can sign in to the console: the users file follows
    the estate on every start, as policy's approvers file does."""
    from warden_console import api as console

    approvers = [(user.name, tuple(user.groups)) for user in estate.approvers.users]
    layout.secrets()  # creates keys/ with owner-only permissions
    return console.follow_approvers(
        layout.keys / "console-users.yaml", layout.keys / "console-initial-passwords.txt", approvers
    )


def busy_ports(ports: dict[str, int]) -> list[str]:
    """Fixed ports something else already listens on, as `name port` (checked before starting)."""
    busy = []
    for name, port in ports.items():
        if not port:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"{name} {port}")
    return busy
