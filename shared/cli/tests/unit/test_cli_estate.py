"""`warden init`, `warden check`, `warden connect` and the estate -> service settings wiring."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml
from typer.testing import CliRunner
from warden_cli.estate_wiring import wire
from warden_cli.layout import Layout
from warden_cli.main import app
from warden_policy.adapters.config_files import load_policy_config
from warden_sandbox.adapters.estate_file import load_estate as load_sandbox_estate
from warden_scheduler.adapters.task_file import load_tasks
from warden_triage.adapters.catalog_file import load_catalog

runner = CliRunner()


def _init(tmp_path: Path) -> Path:
    path = tmp_path / "warden.yaml"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_init_writes_a_starter_that_check_accepts(tmp_path: Path) -> None:
    path = _init(tmp_path)
    assert path.read_text().startswith("# warden.yaml")
    checked = runner.invoke(app, ["check", str(path)])
    assert checked.exit_code == 0, checked.output
    assert "ok — 2 services" in checked.output and "triage 7480" in checked.output
    again = runner.invoke(app, ["init", str(path)])
    assert again.exit_code == 1 and "--force" in again.output


def test_check_exits_non_zero_naming_file_line_and_fix(tmp_path: Path) -> None:
    path = _init(tmp_path)
    path.write_text(path.read_text().replace("services: [shop-api]", "services: [shop-apii]"))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "shop-apii" in text)
    assert f"{path}:{line}: response_plans[1].match.services[0]" in result.output
    assert "fix: declare 'shop-apii' under services" in result.output


def test_the_derived_files_are_what_each_service_loads(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "data")
    wiring = wire(layout, _init(tmp_path))
    env = wiring.env
    catalog = load_catalog(Path(env["triage"]["WARDEN_SERVICE_CATALOG"]))
    assert [s.name for s in catalog.services] == ["shop-api", "shop-db"]
    assert catalog.services[0].kubernetes[0].namespace == "shop"
    policy = load_policy_config(Path(env["policy"]["WARDEN_POLICY_CONFIG_DIR"]))
    plan = policy.plans.select("memory_pressure", "dev", "shop-api")
    assert plan is not None and plan.name == "shop-api-memory"
    assert {u.name for u in policy.approvers.users} == {"alice", "bob"}
    assert policy.inventory is not None
    assert policy.inventory.place("shop-api", "dev").environment == "prod"  # as warden.yaml says
    assert policy.inventory.place("not-in-the-estate", "dev").environment == "unknown"
    from datetime import UTC, datetime

    sandbox = load_sandbox_estate(Path(env["sandbox"]["WARDEN_SANDBOX_ESTATE"]), datetime.now(UTC))
    assert {s.name for s in sandbox} == {"shop-api", "shop-db"}
    tasks = load_tasks(Path(env["scheduler"]["WARDEN_SCHEDULER_TASKS_FILE"]))
    assert [t.name for t in tasks.tasks] == ["daily-health-report"]
    assert wiring.ports["triage"] == 7480 and wiring.ports["nats"] == 7422


def test_an_environment_variable_overrides_the_estate(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WARDEN_SERVICE_CATALOG", "/my/own/catalog.yaml")
    wiring = wire(Layout(tmp_path / "data"), _init(tmp_path))
    assert "WARDEN_SERVICE_CATALOG" not in wiring.env["triage"]
    assert "WARDEN_SANDBOX_ESTATE" in wiring.env["sandbox"]


def test_a_changed_estate_starts_a_fresh_simulated_world(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "data")
    path = _init(tmp_path)
    wire(layout, path)
    world = layout.root / "sandbox" / "world.json"
    world.parent.mkdir(parents=True)
    world.write_text("{}")
    wire(layout, path)
    assert world.exists()  # same estate: the saved world stays
    path.write_text(path.read_text().replace("replicas: 3", "replicas: 4"))
    wire(layout, path)
    assert not world.exists()


def test_connect_prints_receivers_with_the_token_file(tmp_path: Path) -> None:
    path, data = _init(tmp_path), tmp_path / "data"
    token_file = data / "keys" / "webhook-token"

    def connect(source: str, *extra: str) -> str:
        return runner.invoke(app, ["connect", source, *extra, "--config", str(path), "--data-dir", str(data)]).output

    out = runner.invoke(app, ["connect", "alertmanager", "--config", str(path), "--data-dir", str(data)])
    assert out.exit_code == 0, out.output
    config = yaml.safe_load(out.output)
    [hook] = config["receivers"][0]["webhook_configs"]
    assert hook["url"] == "http://127.0.0.1:7480/webhooks/prometheus"
    assert hook["http_config"]["authorization"] == {"type": "Bearer", "credentials_file": str(token_file)}
    assert oct(os.stat(token_file).st_mode & 0o777) == "0o600"
    token = token_file.read_text()
    inline = yaml.safe_load(connect("alertmanager", "--inline"))
    assert inline["receivers"][0]["webhook_configs"][0]["http_config"]["authorization"]["credentials"] == token
    grafana = yaml.safe_load(connect("grafana"))
    settings = grafana["contactPoints"][0]["receivers"][0]["settings"]
    assert settings["url"].endswith("/webhooks/grafana")
    assert settings["authorization_credentials"] == f"$__file{{{token_file}}}"
    azure = connect("azure-monitor")
    assert f"http://127.0.0.1:7480/webhooks/azure-monitor?token={token}" in azure
    curl = connect("cloudevents")
    assert "/webhooks/cloudevents" in curl and f"$(cat {token_file})" in curl
    event = json.loads(curl.split("--data '", 1)[1].rsplit("'", 1)[0])
    assert event["specversion"] == "1.0"
    unknown = runner.invoke(app, ["connect", "pagerduty", "--data-dir", str(data)])
    assert unknown.exit_code == 2


def test_the_timeline_shows_the_unmapped_note_with_its_snippet() -> None:
    from warden_cli.timeline import incidents_from, render

    note = "unmapped resource — add it to warden.yaml:\nservices:\n  - name: vm-1"
    record = {
        "seq": 3,
        "type": "sre.incident.changed.v1",
        "correlationid": "inc-1",
        "envelope": {
            "time": "2026-11-30T08:00:00.000Z",
            "data": {
                "incident_id": "inc-1",
                "change": "opened",
                "incident_class": "unknown",
                "service": "vm-1",
                "environment": "unknown",
                "alert_count": 1,
                "notes": [note],
            },
        },
    }
    [view] = incidents_from([record]).values()
    text = render(view)
    assert "  note: unmapped resource — add it to warden.yaml:\n        services:\n          - name: vm-1" in text


def test_the_estates_approvers_can_sign_in_to_the_console(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "data")
    wire(layout, _init(tmp_path))
    users = yaml.safe_load((layout.keys / "console-users.yaml").read_text())
    text = json.dumps(users)
    assert "alice" in text and "bob" in text and "carol" not in text
    passwords = (layout.keys / "console-initial-passwords.txt").read_text()
    assert "alice (" in passwords and "bob (" in passwords


def test_the_console_users_follow_the_estates_approvers_on_every_start(tmp_path: Path) -> None:
    from warden_console.adapters.local_users import LocalDirectory

    layout = Layout(tmp_path / "data")
    path = _init(tmp_path)
    assert wire(layout, path).console_users == []  # first start: created, passwords in the file
    users_file = layout.keys / "console-users.yaml"
    bob_hash = yaml.safe_load(users_file.read_text())["users"]["bob"]["password_hash"]
    assert wire(layout, path).console_users == []  # nothing changed, nothing rewritten

    text = path.read_text()
    old = "    - {name: alice, groups: [sre-oncall]}\n    - {name: bob, groups: [sre-leads]}\n"
    assert old in text
    path.write_text(
        text.replace(old, "    - {name: bob, groups: [sre-oncall]}\n    - {name: erin, groups: [sre-leads]}\n")
    )
    changes = wire(layout, path).console_users
    assert sorted(changes) == [
        "added erin (administrator)",
        "changed bob: groups ['sre-oncall'], approver",
        "removed alice",
    ]
    users = yaml.safe_load(users_file.read_text())["users"]
    assert sorted(users) == ["bob", "erin"]
    assert users["bob"] == {"password_hash": bob_hash, "groups": ["sre-oncall"], "role": "approver"}  # kept
    assert oct(users_file.stat().st_mode & 0o777) == "0o600"

    passwords = layout.keys / "console-initial-passwords.txt"
    erin_password = passwords.read_text().splitlines()[-1].removeprefix("erin (administrator): ")
    assert oct(passwords.stat().st_mode & 0o777) == "0o600"
    directory = LocalDirectory(users_file)
    erin = directory.authenticate("erin", erin_password)
    assert erin is not None and erin.groups == ("sre-leads",)
    assert directory.lookup("alice") is None  # removed from the estate: no longer signs in
