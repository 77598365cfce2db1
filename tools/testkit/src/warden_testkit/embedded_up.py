"""`warden up` as a separate process, for the e2e tests that look at it from outside (by PID,
through `/proc`, with other users): start it, wait for `stack.json`, find its nats-server, stop it.

`public_python` gives a Python that users other than root can run with this checkout's packages,
for `warden up --service-users` on a machine whose interpreter lives under a 0700 home.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# A loaded 2-core machine may need minutes for nine Python services to answer /healthz.
HEALTH_TIMEOUT_S = 600


def start_up(
    data: Path, *extra: str, python: str = sys.executable, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """`python -m warden_cli up` on `data` (free ports, long health timeout) with `env` (None: ours)."""
    return subprocess.Popen(
        [
            python, "-m", "warden_cli", "up", "--data-dir", str(data), "--random-ports",
            "--health-timeout", str(HEALTH_TIMEOUT_S), "--stop-timeout", "5", *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )  # fmt: skip


def wait_stack(data: Path, up: subprocess.Popen[str]) -> dict:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S + 30
    while time.monotonic() < deadline:
        if up.poll() is not None:
            raise AssertionError(f"warden up exited early:\n{up.stdout.read() if up.stdout else ''}")
        if (data / "stack.json").exists():
            return json.loads((data / "stack.json").read_text())
        time.sleep(0.5)
    raise AssertionError("the stack did not come up")


def stop_up(up: subprocess.Popen[str]) -> str:
    """SIGTERM, then SIGKILL if it has not stopped after two minutes; returns its output."""
    if up.poll() is None:
        up.send_signal(signal.SIGTERM)
    try:
        output, _ = up.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        up.kill()
        output, _ = up.communicate()
    return output or ""


def nats_pids(data: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if f"{data}/nats-server.conf" in cmdline:
                found.append(int(entry.name))
    return found


def post_webhook(url: str, token: str) -> int:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"not the stack's loopback webhook: {url}")
    request = urllib.request.Request(  # noqa: S310 (checked above: http on loopback)
        url, data=b"{}", headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def uid_of(pid: int) -> int:
    """The real uid of a process (`Uid:` in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise LookupError(f"no Uid in /proc/{pid}/status")


def _searchable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in path.resolve().parents)


def public_python(folder: Path) -> tuple[Path | None, str]:
    """A Python other users can run with this environment's packages: this interpreter if they
    can reach it, else a virtualenv in `folder` (which must be 0755) made of the system's Python
    of the same version and this environment's site-packages. (None, why) when there is none."""
    if _searchable_by_others(Path(sys.executable)) and _searchable_by_others(Path(sys.base_prefix) / "lib"):
        return Path(sys.executable), ""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    system = Path(f"/usr/bin/python{version}")
    if not system.exists():
        return None, f"{sys.executable} is not reachable by other users and there is no {system}"
    site = Path(sys.prefix) / "lib" / f"python{version}" / "site-packages"
    if not _searchable_by_others(site):
        return None, f"{site} is not reachable by other users"
    venv = folder / "public-venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    (venv / "lib" / f"python{version}").mkdir(parents=True, exist_ok=True)
    # Explicit modes: the process umask may be 077 (an in-process `warden up` sets it).
    for made in (venv, venv / "bin", venv / "lib", venv / "lib" / f"python{version}"):
        made.chmod(0o755)
    (venv / "pyvenv.cfg").write_text(f"home = {system.parent}\ninclude-system-site-packages = false\n")
    (venv / "pyvenv.cfg").chmod(0o644)
    for link, target in (
        (venv / "bin" / "python", system),
        (venv / "lib" / f"python{version}" / "site-packages", site),
        (venv / "bin" / "nats-server", Path(sys.executable).parent / "nats-server"),
    ):
        if not link.is_symlink() and target.exists():
            os.symlink(target, link)
    return venv / "bin" / "python", ""
