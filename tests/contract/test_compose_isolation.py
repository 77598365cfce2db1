"""docker-compose.yml separates the containers as `warden up` cannot (one OS user there): each runs
as its own unprivileged uid:gid and mounts only volumes of its own, its key folder read-only; no
container mounts another's key folder or audit's log. Docker cannot run on the development
machines, so this reads the file (PyYAML resolves the anchors) and checks `warden compose init`'s
hand-over (warden_cli.compose_owners) against it: the chown runs for real when the test runs as
root, and without root init prints the commands instead."""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner
from warden_bus.embedded_server import free_port
from warden_cli.compose_commands import compose_app, settle_owners, write_stack_config
from warden_cli.compose_owners import COMPOSE_UIDS, PROVISION, ownership, user_of, with_key_folders, with_state
from warden_cli.process_description import PROCESSES

ROOT = Path(__file__).resolve().parents[2]
INIT = "init"  # the one-shot that writes the volumes and hands them over: the only root step


def _services() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"])


def _mounts(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, mode) of each short-syntax volume entry."""
    mounts = []
    for entry in spec.get("volumes", []):
        source, target, *mode = entry.split(":")
        mounts.append((source, target, mode[0] if mode else "rw"))
    return mounts


def _user(spec: dict[str, Any]) -> tuple[int, int]:
    uid, gid = str(spec["user"]).split(":")
    return int(uid), int(gid)


def test_no_two_containers_share_a_uid_and_none_but_init_runs_as_root() -> None:
    services = _services()
    users = {name: _user(spec) for name, spec in services.items() if name != INIT}
    assert set(users) == set(services) - {INIT}, "every container names its user"
    for name, (uid, gid) in users.items():
        assert uid != 0 and gid != 0, f"{name} runs as root"
        assert services[name]["user"] == user_of(name), f"{name}: not the uid compose init hands its folders to"
    uids = [uid for uid, _ in users.values()]
    gids = [gid for _, gid in users.values()]
    assert len(set(uids)) == len(uids), f"a uid is shared: {users}"
    assert len(set(gids)) == len(gids), f"a group is shared: {users}"


def test_init_is_a_root_one_shot_with_only_the_capabilities_chown_needs() -> None:
    init = _services()[INIT]
    assert init["user"] == "0:0" and init["cap_drop"] == ["ALL"]
    assert set(init["cap_add"]) <= {"CHOWN", "DAC_OVERRIDE", "FOWNER"}
    assert "restart" not in init and "ports" not in init
    assert "--state-root" in init["command"]


def test_every_other_container_drops_all_capabilities() -> None:
    for name, spec in _services().items():
        if name != INIT:
            assert spec.get("cap_drop") == ["ALL"] and not spec.get("cap_add"), name


def test_no_volume_is_mounted_by_two_containers_besides_init() -> None:
    holders: dict[str, set[str]] = defaultdict(set)
    for name, spec in _services().items():
        for source, _, _ in _mounts(spec):
            if name != INIT and not source.startswith("./"):
                holders[source].add(name)
    shared = {source: names for source, names in holders.items() if len(names) > 1}
    assert shared == {}, f"volumes mounted by more than one container: {shared}"


def test_each_service_mounts_its_own_key_folder_read_only_and_no_other() -> None:
    services = _services()
    init_targets = {target: source for source, target, _ in _mounts(services[INIT])}
    for folder_owner in with_key_folders():
        volume = init_targets[f"/data/keys/{folder_owner}"]
        mounted_by = {
            name for name, spec in services.items() if name != INIT and any(s == volume for s, _, _ in _mounts(spec))
        }
        assert mounted_by == {folder_owner}, f"keys/{folder_owner} is mounted by {mounted_by}"
    for name, spec in services.items():
        if name == INIT:
            continue
        for source, target, mode in _mounts(spec):
            if target.startswith("/data/keys"):
                assert target == f"/data/keys/{name}", f"{name} mounts {target}"
                assert mode == "ro", f"{name} can write its key folder"
                assert init_targets[target] == source


def test_audit_log_is_mounted_by_audit_alone() -> None:
    services = _services()
    audit_dir = services["audit"]["environment"]["WARDEN_AUDIT_DIR"]
    (volume,) = [s for s, target, _ in _mounts(services["audit"]) if audit_dir.startswith(target + "/")]
    for name, spec in services.items():
        if name not in {INIT, "audit"}:
            assert volume not in {s for s, _, _ in _mounts(spec)}, f"{name} mounts audit's log"
            assert "WARDEN_AUDIT_DIR" not in (spec.get("environment") or {}), name


def test_every_path_a_service_is_given_lies_in_its_own_key_folder() -> None:
    for name, spec in _services().items():
        for variable, value in (spec.get("environment") or {}).items():
            if isinstance(value, str) and value.startswith("/data/keys"):
                own = f"/data/keys/{name}"
                assert value == own or value.startswith(own + "/"), f"{name}: {variable}={value}"


def test_init_hands_each_mounted_folder_to_the_user_of_the_container_that_mounts_it(tmp_path: Path) -> None:
    """compose_owners' plan, read with init's mount points, names for each volume the uid of the
    one other container mounting it."""
    services = _services()
    volume_at = {target: source for source, target, _ in _mounts(services[INIT])}
    user_of_volume = {
        source: spec["user"]
        for name, spec in services.items()
        if name != INIT
        for source, _, _ in _mounts(spec)
        if not source.startswith("./")
    }
    root, states = tmp_path / "data", tmp_path / "state"
    checked = set()
    for owned in ownership(root, states):
        target = "/" + owned.path.relative_to(tmp_path).as_posix()
        if target in volume_at:
            assert user_of_volume[volume_at[target]] == user_of(owned.owner), target
            checked.add(target)
    assert checked == set(volume_at), f"init mounts volumes it does not hand over: {set(volume_at) - checked}"


def _initialised(tmp_path: Path) -> tuple[Path, Path]:
    root, states = tmp_path / "data", tmp_path / "state"
    write_stack_config(root, listen="127.0.0.1", port=free_port())
    for container in with_state():
        (states / container).mkdir(parents=True)
    return root, states


def test_the_brokers_folder_holds_no_secret(tmp_path: Path) -> None:
    root, _ = _initialised(tmp_path)
    names = sorted(p.name for p in (root / "nats").iterdir())
    assert names == ["nats-server.conf", "operator.jwt", "resolver.json"]
    assert str(root / "nats-auth") not in (root / "nats" / "nats-server.conf").read_text()


def test_without_root_init_says_what_to_run_and_changes_no_owner(tmp_path: Path) -> None:
    root, states = _initialised(tmp_path)
    before = (root / "keys" / "policy").stat().st_uid

    commands = settle_owners(root, states, as_root=False)

    assert f"chown -R {COMPOSE_UIDS['policy']}:{COMPOSE_UIDS['policy']} {root / 'keys' / 'policy'}" in commands
    assert f"chown -R {COMPOSE_UIDS['audit']}:{COMPOSE_UIDS['audit']} {states / 'audit'}" in commands
    assert (root / "keys" / "policy").stat().st_uid == before


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to other users needs root")
def test_compose_init_as_root_hands_every_folder_to_its_containers_user(tmp_path: Path) -> None:
    root, states = tmp_path / "data", tmp_path / "state"

    result = CliRunner().invoke(
        compose_app, ["init", "--data-dir", str(root), "--state-root", str(states), "--port", str(free_port())]
    )

    assert result.exit_code == 0, result.output
    for service in with_key_folders():
        folder = root / "keys" / service
        assert _owner_and_mode(folder) == (COMPOSE_UIDS[service], 0o700), service
        for file in folder.iterdir():
            assert _owner_and_mode(file) == (COMPOSE_UIDS[service], 0o600), file
    assert _owner_and_mode(root / "keys" / "policy" / "policy-signing.pem")[0] == COMPOSE_UIDS["policy"]
    for container in (*PROCESSES, "azurite"):
        assert _owner_and_mode(states / container) == (COMPOSE_UIDS[container], 0o700), container
    assert _owner_and_mode(root / "nats" / "nats-server.conf") == (COMPOSE_UIDS["nats"], 0o600)
    assert _owner_and_mode(root / "nats-auth" / "admin.creds")[0] == COMPOSE_UIDS[PROVISION]
    assert _owner_and_mode(root / "keys" / "secrets.json") == (COMPOSE_UIDS[PROVISION], 0o600)

    again = CliRunner().invoke(compose_app, ["init", "--data-dir", str(root), "--state-root", str(states)])
    assert again.exit_code == 0, again.output  # idempotent over folders it already handed over
    assert _owner_and_mode(root / "keys" / "executor" / "executor.creds") == (COMPOSE_UIDS["executor"], 0o600)


def _owner_and_mode(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_uid, stat.S_IMODE(info.st_mode)
