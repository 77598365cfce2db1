"""Per-service key folders: keys adopted from the old flat layout (same key, new home), strays
removed, owner-only modes, and the `X` / `X_FILE` layering the launcher hands each child."""

from __future__ import annotations

import stat
from pathlib import Path

from warden_bus.embedded_auth import ensure_auth_material
from warden_cli.key_folders import KeyFolders, tighten
from warden_cli.launcher import CHILDREN, layered_env
from warden_cli.layout import Layout
from warden_console.bootstrap import ensure_embedded_users
from warden_security.keys import load_or_create_private_key


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_later_variable_replaces_an_earlier_file_variable_and_back() -> None:
    env = layered_env(
        {"WARDEN_WEBHOOK_TOKEN": "from-the-shell", "WARDEN_LOG_LEVEL": "INFO"},
        {"WARDEN_WEBHOOK_TOKEN_FILE": "/data/keys/triage/webhook-token"},
    )
    assert env == {"WARDEN_WEBHOOK_TOKEN_FILE": "/data/keys/triage/webhook-token", "WARDEN_LOG_LEVEL": "INFO"}
    assert layered_env(env, {"WARDEN_WEBHOOK_TOKEN": "a test's own"}) == {
        "WARDEN_WEBHOOK_TOKEN": "a test's own",
        "WARDEN_LOG_LEVEL": "INFO",
    }


def test_keys_move_from_the_flat_layout_and_folders_hold_only_their_own(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "data")
    legacy = layout.keys / "policy-signing.pem"
    old_key = load_or_create_private_key(legacy).public_key()
    (layout.keys / "executor").mkdir(parents=True)
    (layout.keys / "executor" / "policy-signing.pem").write_text("left by an older version")

    ensure_embedded_users(layout.keys / "console-users.yaml", layout.keys / "console-initial-passwords.txt")
    folders = KeyFolders(layout)
    folders.create_owned_keys()
    placed = folders.place_all(ensure_auth_material(layout.nats_auth), layout.secrets(), CHILDREN)

    assert not legacy.exists()
    assert load_or_create_private_key(layout.policy_signing_key).public_key() == old_key  # the same key
    assert placed["executor"].files == {"executor.creds", "policy-signing.pub.pem"}
    assert sorted(p.name for p in (layout.keys / "executor").iterdir()) == ["executor.creds", "policy-signing.pub.pem"]
    assert placed["executor"].env["WARDEN_POLICY_PUBKEY"] == str(layout.keys / "executor" / "policy-signing.pub.pem")
    token_file = Path(placed["triage"].env["WARDEN_WEBHOOK_TOKEN_FILE"])
    assert token_file.read_text() == layout.secrets()["webhook_token"]
    assert placed["elevation"].env["WARDEN_NATS_ACCOUNT_DIR"] == str(layout.keys / "elevation")
    for service in CHILDREN:
        folder = layout.keys / service
        assert _mode(folder) == 0o700, service
        assert all(_mode(path) == 0o600 for path in folder.iterdir()), service


def test_tighten_takes_group_and_other_bits_away_and_keeps_read_only_read_only(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "logs").mkdir(parents=True)
    (root / "logs").chmod(0o755)
    log, sealed = root / "logs" / "triage.log", root / "segment-000001.jsonl"
    log.write_text("x")
    log.chmod(0o644)
    sealed.write_text("y")
    sealed.chmod(0o444)

    assert set(tighten(root)) >= {root / "logs", log, sealed}
    assert (_mode(root / "logs"), _mode(log), _mode(sealed)) == (0o700, 0o600, 0o400)
    assert tighten(root) == []
