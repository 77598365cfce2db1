"""Key separation of a real `warden up` (issue 16 item 4), checked from outside by PID:

- no secret value (webhook token, sandbox admin secret, NATS seeds and JWTs, private keys,
  console passwords, a token exported in the launcher's own environment) is in any child's
  `/proc/<pid>/environ`: secrets arrive as files, and children get an allow-listed environment;
- every file under the data folder is owner-only (0600, 0400 when sealed read-only) and every
  folder 0700;
- each service's key folder holds exactly its own material, and each private key (the NATS
  account seed included) exists in the folder of the service that signs with it and nowhere
  else under the data folder.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
from warden_testkit.embedded_up import nats_pids, post_webhook, start_up, stop_up, wait_stack

pytestmark = pytest.mark.e2e
SHELL_SECRET = "ghp_exported_in_the_operators_shell"

EXPECTED_FOLDERS = {
    "sandbox": {"admin-secret", "alert-webhook-token", "elevation-authority.pub.pem"},
    "triage": {"triage.creds", "webhook-token"},
    "planner": {"planner.creds"},
    "scheduler": {"scheduler.creds"},
    "policy": {"policy.creds", "policy-signing.pem", "policy-signing.pub.pem", "approver-issuer.pub.pem"},
    "executor": {"executor.creds", "policy-signing.pub.pem"},
    "audit": {"audit.creds", "audit-signing.pem", "audit-signing.pub.pem", "approver-issuer.pub.pem"},
    "elevation": {
        "elevation.creds",
        "elevation-authority.pem",
        "elevation-authority.pub.pem",
        "policy-signing.pub.pem",
        "account.seed",
    },
    "console": {
        "approver.creds",
        "operator.creds",
        "approver-issuer.pem",
        "approver-issuer.pub.pem",
        "console-users.yaml",
    },
}
SIGNING_KEYS = {
    "policy-signing.pem": "policy",
    "elevation-authority.pem": "elevation",
    "approver-issuer.pem": "console",
    "audit-signing.pem": "audit",
    "account.seed": "elevation",  # the NATS account key: one copy, which the launcher reads too
}


def _secret_values(data: Path) -> dict[str, str]:
    """Every secret the stack holds, by where it came from."""
    values = {f"secrets.json:{k}": v for k, v in json.loads((data / "keys" / "secrets.json").read_text()).items()}
    for path in data.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".creds":  # the user JWT and its seed
            for i, block in enumerate(re.findall(r"-----BEGIN [^-]+-----\n(.+?)\n------END", text, re.S)):
                values[f"{path.name}#{i}"] = block.strip()
        elif path.name == "account.seed":
            values[str(path.relative_to(data))] = text.strip()
        elif "PRIVATE KEY-----" in text:
            body = "".join(line for line in text.splitlines() if not line.startswith("-----"))
            values[str(path.relative_to(data))] = body
    passwords = (data / "keys" / "console-initial-passwords.txt").read_text()
    for name, password in re.findall(r"^(\w+) \([^)]*\): (\S+)$", passwords, re.M):
        values[f"console password of {name}"] = password
    return values


def _mode_offenders(data: Path) -> list[str]:
    offenders = []
    for path in [data, *data.rglob("*")]:
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
            is_dir = path.is_dir()
        except FileNotFoundError:  # a journal or temporary file that came and went
            continue
        allowed = {0o700} if is_dir else {0o600, 0o400}
        if mode not in allowed:
            offenders.append(f"{path.relative_to(data)} {oct(mode)}")
    return offenders


def test_secrets_are_files_owner_only_and_each_service_holds_only_its_own_keys(tmp_path: Path) -> None:
    data = tmp_path / "stack"
    # A secret the operator's shell exported must not follow the launcher into its children.
    up = start_up(data, env={**os.environ, "GITHUB_TOKEN": SHELL_SECRET})
    try:
        stack = wait_stack(data, up)
        children = {**stack["pids"], **{f"nats-server {pid}": pid for pid in nats_pids(data)}}
        assert len(children) == len(stack["pids"]) + 1, "nats-server not found"
        secrets = _secret_values(data) | {"the launcher's GITHUB_TOKEN": SHELL_SECRET}
        assert len(secrets) > 20, sorted(secrets)

        leaks = []
        for name, pid in children.items():
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            leaks += [f"{name}: {what}" for what, value in secrets.items() if value and value in environ]
        assert not leaks, "secret values in child environments:\n" + "\n".join(leaks)

        offenders = _mode_offenders(data)
        assert not offenders, "not owner-only (files 0600/0400, folders 0700):\n" + "\n".join(offenders)

        keys = data / "keys"
        held = {service: set(os.listdir(keys / service)) for service in EXPECTED_FOLDERS}
        assert held == EXPECTED_FOLDERS
        assert {p.name for p in keys.iterdir() if p.is_dir()} == set(EXPECTED_FOLDERS)

        for key_name, owner in SIGNING_KEYS.items():
            key = (keys / owner / key_name).read_bytes()
            copies = [
                str(path.relative_to(data))
                for path in data.rglob("*")
                if path.is_file() and path != keys / owner / key_name and key in path.read_bytes()
            ]
            assert not copies, f"{key_name} (owned by {owner}) also in: {copies}"
        assert not [p for p in (keys / "executor").iterdir() if b"PRIVATE KEY" in p.read_bytes()]

        # The services really read their secrets from those files.
        token = json.loads((keys / "secrets.json").read_text())["webhook_token"]
        assert post_webhook(stack["webhook_url"], "wrong-token") == 401
        assert post_webhook(stack["webhook_url"], token) != 401
    finally:
        stop_up(up)
