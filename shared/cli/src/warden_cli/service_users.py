"""`warden up --service-users`: every service as its own system user (`warden-<service>`), so the
folder modes of the embedded stack become a boundary between services and not only between the
stack and other people on the machine (docs/security-model.md).

Needs root: the launcher creates the users, hands each one its folders and starts each service
as its user (`Popen(user=, group=, extra_groups=[])`). Ownership under the data folder:

- `<data>/` and `<data>/keys/`: root, 0711 — a service may pass through, not list;
- `<data>/keys/<service>/` and `<data>/services/<service>/` (its `WARDEN_DATA_DIR`: state and
  whatever else it writes): the service's user, 0700, files 0600;
- `<data>/audit/` and `<data>/anchors/`: the audit user;
- files the estate derived for one service (`<data>/estate/...`): root, group of that service,
  0640 (folders 0710 / 0711), readable by exactly the services that read them;
- everything else (secrets.json, nats-auth/, logs, stack.json): root, 0700 / 0600. Logs are
  opened by the launcher and handed to each child as its stdout.

NATS keeps running as the launcher's user: it holds only the operator and account JWTs (public)
and the admin identity the launcher provisions with.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden_cli.layout import Layout

PREFIX = "warden-"
SETTING = "WARDEN_SERVICE_USERS"
TRAVERSE_ONLY = 0o711
GROUP_LIST = 0o750
GROUP_READ = 0o640
OWNER_ONLY_DIR = 0o700
USERADD = ("useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin")


class ServiceUsersUnavailable(RuntimeError):
    """`--service-users` cannot be honoured here (not root, no useradd, an unreachable Python)."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


def user_name(service: str) -> str:
    return PREFIX + service


def enabled(flag: bool, environ: Mapping[str, str] | None = None) -> bool:
    """`--service-users`, or the setting WARDEN_SERVICE_USERS=1 (true/yes/on)."""
    value = (os.environ if environ is None else environ).get(SETTING, "")
    return flag or value.strip().lower() in {"1", "true", "yes", "on"}


def require_root(euid: int | None = None) -> None:
    if (os.geteuid() if euid is None else euid) != 0:
        raise ServiceUsersUnavailable(
            "--service-users needs root: the launcher creates one system user per service "
            "(warden-<service>) and starts each service as its user. Run `warden up --service-users` "
            "as root, or without it (then every service runs as you, and any service can read "
            "every other's keys: see docs/security-model.md)"
        )


def ensure_account(service: str) -> Account:
    """The service's system user and its own group, created when missing."""
    name = user_name(service)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if shutil.which(USERADD[0]) is None:
            raise ServiceUsersUnavailable(f"cannot create the user {name}: no `useradd` on PATH") from None
        done = subprocess.run([*USERADD, name], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ServiceUsersUnavailable(f"useradd {name} failed: {done.stderr.strip()}") from None
        entry = pwd.getpwnam(name)
    return Account(name, entry.pw_uid, entry.pw_gid)


def unreachable_by_others(paths: Iterable[Path]) -> str | None:
    """The first folder on the way to `paths` that a user other than its owner and group cannot
    pass through (the service users are in neither), or a file it cannot read; None if all can."""
    for path in paths:
        target = path.resolve()
        for folder in reversed(target.parents):
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                return f"{folder} (mode {oct(stat.S_IMODE(mode))}) is not searchable by other users"
        if not target.stat().st_mode & stat.S_IROTH:
            return f"{target} is not readable by other users"
    return None


def check_python() -> None:
    """The services run this interpreter and these packages as their own users: refuse clearly
    when another user cannot reach them (e.g. a venv whose Python lives under a 0700 /root)."""
    import warden_cli

    wanted = [Path(sys.executable), Path(sys.base_prefix) / "lib", Path(warden_cli.__file__)]
    problem = unreachable_by_others(wanted)
    if problem:
        raise ServiceUsersUnavailable(
            f"the service users cannot run {sys.executable}: {problem}. Install Warden where other users "
            "can read it (a virtualenv under /opt with a system Python), or run without --service-users"
        )


def own_tree(path: Path, account: Account) -> None:
    """`path` and everything under it belongs to the account; folders 0700."""
    path.mkdir(mode=OWNER_ONLY_DIR, parents=True, exist_ok=True)
    for item in [path, *path.rglob("*")]:
        if item.is_symlink():
            continue
        os.chown(item, account.uid, account.gid)
        if item.is_dir():
            item.chmod(OWNER_ONLY_DIR)


def grant_read(root: Path, path: Path, account: Account) -> None:
    """Let exactly this account's group read `path` under `root` (a file, or a folder and its
    files): root keeps owning it, the group reads, others get nothing; the folders on the way
    become passable without being listable (0711)."""
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.chown(item, 0, account.gid)
        item.chmod(GROUP_LIST if item.is_dir() else GROUP_READ)
    folder = path.parent
    while folder != root and root in folder.parents:
        folder.chmod(TRAVERSE_ONLY)
        folder = folder.parent


@dataclass(frozen=True)
class ServiceUsers:
    """The accounts of one stack and the folders each owns."""

    layout: Layout
    accounts: Mapping[str, Account]

    @classmethod
    def prepare(cls, layout: Layout, services: Iterable[str]) -> ServiceUsers:
        require_root()
        check_python()
        closed = [f for f in layout.root.resolve().parents if not f.stat().st_mode & stat.S_IXOTH]
        if closed:
            raise ServiceUsersUnavailable(
                f"the service users cannot reach {layout.root}: {closed[0]} is not searchable by other users "
                "(put the data folder where they can pass, e.g. /srv/warden or /var/lib/warden)"
            )
        return cls(layout, {service: ensure_account(service) for service in services})

    def data_dir(self, service: str) -> Path:
        """The service's own `WARDEN_DATA_DIR` (its state under `state/`)."""
        return self.layout.root / "services" / service

    def hand_over(self, reads: Mapping[str, Iterable[Path]]) -> None:
        """Give every service its folders and read access to the shared files it names (`reads`:
        service -> paths under the data folder); after the key folders are placed, before any
        service starts. A file two services read would need a copy each: refused."""
        lay = self.layout
        for top in (lay.root, lay.keys, lay.root / "services"):
            top.mkdir(mode=OWNER_ONLY_DIR, parents=True, exist_ok=True)
            top.chmod(TRAVERSE_ONLY)
        for service, account in self.accounts.items():
            self._adopt_shared_state(service)
            own_tree(lay.service_keys(service), account)
            own_tree(self.data_dir(service), account)
        if "audit" in self.accounts:
            for folder in (lay.audit_dir, lay.root / "anchors"):
                own_tree(folder, self.accounts["audit"])
        readers: dict[Path, str] = {}
        for service, paths in reads.items():
            for path in paths:
                other = readers.setdefault(path, service)
                if other != service:
                    raise ServiceUsersUnavailable(f"{path} is read by {other} and {service}: give each its own copy")
                grant_read(lay.root, path, self.accounts[service])

    def shared_reads(self, service: str, env: Mapping[str, str]) -> list[Path]:
        """The paths in a service's environment under the data folder that are not its own."""
        lay = self.layout
        own = [lay.service_keys(service), self.data_dir(service)]
        if service == "audit":
            own += [lay.audit_dir, lay.root / "anchors"]
        found = []
        for value in env.values():
            path = Path(value)
            if not path.is_absolute() or lay.root not in path.parents or not path.exists():
                continue
            if not any(path == mine or mine in path.parents for mine in own):
                found.append(path)
        return found

    def _adopt_shared_state(self, service: str) -> None:
        """State a run without service users kept in the shared folders moves to the service's own."""
        lay, own = self.layout, self.data_dir(service)
        shared_state = lay.root / "state"
        if shared_state.is_dir():
            for path in shared_state.glob(f"{service}.db*"):
                target = own / "state" / path.name
                if not target.exists():
                    target.parent.mkdir(mode=OWNER_ONLY_DIR, parents=True, exist_ok=True)
                    os.replace(path, target)
        if service == "sandbox" and (lay.root / "sandbox").is_dir() and not (own / "sandbox").exists():
            own.mkdir(mode=OWNER_ONLY_DIR, parents=True, exist_ok=True)
            os.replace(lay.root / "sandbox", own / "sandbox")

    def env(self, service: str) -> dict[str, str]:
        """What changes in the service's environment when it runs as its own user."""
        own = self.data_dir(service)
        env = {"WARDEN_DATA_DIR": str(own), "HOME": str(own)}
        if service == "audit":  # where `warden audit verify` looks for them, in audit's folder
            env["WARDEN_ANCHOR_FILE"] = str(self.layout.root / "anchors" / "checkpoints.jsonl")
        return env

    def popen_kwargs(self, service: str) -> dict[str, Any]:
        account = self.accounts[service]
        return {"user": account.uid, "group": account.gid, "extra_groups": []}
