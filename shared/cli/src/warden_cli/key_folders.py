"""Per-service key folders of the embedded stack: `<data>/keys/<service>/`, 0700, each holding only
that service's own material, handed to it as file paths (`WARDEN_X_FILE` for secret values).

Who holds what (docs/security-model.md):

- a signing key exists only in the folder of the service that signs with it (policy: actions and
  elevation tickets; elevation: sandbox write tokens and, with the NATS account seed, elevated
  users; console: approver identity tokens; audit: checkpoints); the services that check those
  signatures get the public half only;
- each service gets its own broker identity's `.creds`, nobody else's;
- the top of `<data>/keys/` and `<data>/nats-auth/` are the operator's (the person running
  `warden up` and the CLI): shared secrets (webhook token, sandbox admin secret), the approver
  directory and the broker's operator, account and admin material the launcher provisions with.

The launcher rewrites every folder at each start from those sources, so a rotated token or a
re-issued identity reaches its service, and removes what no longer belongs there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from warden_bus.embedded_auth import AuthMaterial
from warden_security.keys import load_or_create_private_key, public_path

from warden_cli.layout import Layout

OWNER_ONLY_DIR = 0o700
OWNER_ONLY_FILE = 0o600
# Where the signing keys lived before they moved into their owners' folders.
LEGACY_KEYS = {
    "policy-signing.pem": "policy",
    "approver-issuer.pem": "console",
    "elevation-authority.pem": "elevation",
    "audit-signing.pem": "audit",
}


# A file's source: a file to copy, a secret's text, or OWN: the service's own key, created in place.
OWN = None
Source = Path | str | None
Plan = tuple[dict[str, Source], dict[str, str]]


@dataclass(frozen=True)
class Placed:
    """One service's folder: the files it holds and the variables that point the service at them."""

    folder: Path
    files: frozenset[str]
    env: Mapping[str, str]


@dataclass(frozen=True)
class KeyFolders:
    layout: Layout

    def owned_keys(self) -> tuple[Path, ...]:
        lay = self.layout
        return (lay.policy_signing_key, lay.approver_issuer_key, lay.elevation_key, lay.audit_signing_key)

    def create_owned_keys(self) -> None:
        """Each signing key, created in (or moved into) its owner's folder."""
        for name, owner in LEGACY_KEYS.items():
            self._adopt_legacy(self.layout.keys / name, self.layout.service_keys(owner) / name)
        for key in self.owned_keys():
            _owner_only_dir(key.parent)
            load_or_create_private_key(key)

    def place_all(self, auth: AuthMaterial, secrets: Mapping[str, str], services: tuple[str, ...]) -> dict[str, Placed]:
        plan = self._plan(auth, secrets)
        return {service: self._place(service, plan.get(service, ({}, {}))) for service in services}

    def _plan(self, auth: AuthMaterial, secrets: Mapping[str, str]) -> dict[str, Plan]:
        """service -> (file name -> source, variable -> file name or "." for the folder)."""
        lay = self.layout
        policy_pub, issuer_pub = public_path(lay.policy_signing_key), public_path(lay.approver_issuer_key)
        elevation_pub, audit_pub = public_path(lay.elevation_key), public_path(lay.audit_signing_key)

        def creds(identity: str) -> tuple[str, Path]:
            return f"{identity}.creds", auth.creds(identity)

        def own(*names: str) -> dict[str, Source]:
            return dict.fromkeys(names, OWN)

        return {
            "sandbox": (
                {
                    "admin-secret": secrets["sandbox_admin_secret"],
                    "alert-webhook-token": secrets["webhook_token"],
                    elevation_pub.name: elevation_pub,
                },
                {
                    "WARDEN_SANDBOX_ADMIN_SECRET_FILE": "admin-secret",
                    "WARDEN_ALERT_WEBHOOK_TOKEN_FILE": "alert-webhook-token",
                    "WARDEN_SANDBOX_TOKEN_PUBKEY": elevation_pub.name,
                },
            ),
            "triage": (
                dict([creds("triage"), ("webhook-token", secrets["webhook_token"])]),
                {"WARDEN_NATS_CREDS": "triage.creds", "WARDEN_WEBHOOK_TOKEN_FILE": "webhook-token"},
            ),
            "planner": (dict([creds("planner")]), {"WARDEN_NATS_CREDS": "planner.creds"}),
            "scheduler": (dict([creds("scheduler")]), {"WARDEN_NATS_CREDS": "scheduler.creds"}),
            "policy": (
                {
                    **dict([creds("policy")]),
                    **own(lay.policy_signing_key.name, policy_pub.name),
                    issuer_pub.name: issuer_pub,
                },
                {
                    "WARDEN_NATS_CREDS": "policy.creds",
                    "WARDEN_SIGNING_KEY": lay.policy_signing_key.name,
                    "WARDEN_APPROVER_ISSUER_PUBKEY": issuer_pub.name,
                },
            ),
            "executor": (
                {**dict([creds("executor")]), policy_pub.name: policy_pub},
                {"WARDEN_NATS_CREDS": "executor.creds", "WARDEN_POLICY_PUBKEY": policy_pub.name},
            ),
            "audit": (
                {
                    **dict([creds("audit")]),
                    **own(lay.audit_signing_key.name, audit_pub.name),
                    issuer_pub.name: issuer_pub,
                },
                {
                    "WARDEN_NATS_CREDS": "audit.creds",
                    "WARDEN_AUDIT_SIGNING_KEY": lay.audit_signing_key.name,
                    "WARDEN_APPROVER_ISSUER_PUBKEY": issuer_pub.name,
                },
            ),
            "elevation": (
                {
                    **dict([creds("elevation")]),
                    **own(lay.elevation_key.name, elevation_pub.name),
                    policy_pub.name: policy_pub,
                    **self._account_seed(auth),
                },
                {
                    "WARDEN_NATS_CREDS": "elevation.creds",
                    "WARDEN_ELEVATION_KEY": lay.elevation_key.name,
                    "WARDEN_POLICY_PUBKEY": policy_pub.name,
                    "WARDEN_NATS_ACCOUNT_DIR": ".",  # AuthMaterial(folder).account_seed_path
                },
            ),
            "console": (
                {
                    **dict([creds("approver"), creds("operator")]),
                    **own(lay.approver_issuer_key.name, issuer_pub.name),
                    "console-users.yaml": lay.keys / "console-users.yaml",
                },
                {
                    "WARDEN_NATS_CREDS": "approver.creds",
                    "WARDEN_OPERATOR_CREDS": "operator.creds",
                    "WARDEN_APPROVER_ISSUER_KEY": lay.approver_issuer_key.name,
                    "WARDEN_USERS_FILE": "console-users.yaml",
                },
            ),
        }

    def _account_seed(self, auth: AuthMaterial) -> dict[str, Source]:
        """The account seed is elevation's own when the broker material keeps it there
        (`Layout.account_seed`, as `warden up`, `cluster` and `compose init` do); else a copy."""
        seed = auth.account_seed_path
        return {seed.name: OWN if seed == self.layout.account_seed else seed}

    def _place(self, service: str, plan: Plan) -> Placed:
        sources, variables = plan
        folder = self.layout.service_keys(service)
        _owner_only_dir(folder)
        for name, source in sources.items():
            if source is not OWN:
                write_owner_only(folder / name, source.read_bytes() if isinstance(source, Path) else source.encode())
        for stray in set(os.listdir(folder)) - set(sources):
            _remove(folder / stray)  # material a previous layout or version left here
        env = {var: str(folder if name == "." else folder / name) for var, name in variables.items()}
        return Placed(folder, frozenset(sources), env)

    @staticmethod
    def _adopt_legacy(old: Path, new: Path) -> None:
        if not old.exists() or new.exists():
            return
        _owner_only_dir(new.parent)
        os.replace(old, new)
        with contextlib.suppress(FileNotFoundError):
            os.replace(public_path(old), public_path(new))


def _owner_only_dir(path: Path) -> None:
    path.mkdir(mode=OWNER_ONLY_DIR, parents=True, exist_ok=True)
    path.chmod(OWNER_ONLY_DIR)


def write_owner_only(path: Path, content: bytes) -> None:
    """Atomically (a reader never sees half a key), mode 0600 whatever the umask."""
    if path.exists() and path.read_bytes() == content:
        path.chmod(OWNER_ONLY_FILE)
        return
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OWNER_ONLY_FILE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    os.replace(tmp, path)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def tighten(root: Path) -> list[Path]:
    """Owner-only modes on what an older version left readable under `root` (0644 logs, state...);
    returns the paths changed. Read-only files (sealed audit segments) stay read-only."""
    changed: list[Path] = []
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o777
        wanted = OWNER_ONLY_DIR if path.is_dir() else (mode & 0o700) or OWNER_ONLY_FILE
        if mode != wanted:
            path.chmod(wanted)
            changed.append(path)
    return changed
