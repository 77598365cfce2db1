"""A real Prometheus and a real Alertmanager (Debian's binaries) as child processes for tests.

Both bind 127.0.0.1 on free ports and keep their data under the test's directory. Tests skip
with `missing_binaries()` as the reason when the packages are not installed (`.ci/run` installs
them). Intervals are short so an alert travels scrape -> rule -> Alertmanager -> webhook in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
import yaml
from warden_bus.embedded_server import free_port

REPO = Path(__file__).resolve().parents[4]
SANDBOX_RULES = REPO / "deploy" / "prometheus" / "warden-sandbox.rules.yml"


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def alertmanager_binary() -> str | None:
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def missing_binaries() -> str | None:
    """Why the real-Prometheus tests cannot run here, or None when they can."""
    missing = [
        pkg
        for pkg, found in (("prometheus", prometheus_binary()), ("prometheus-alertmanager", alertmanager_binary()))
        if not found
    ]
    if not missing:
        return None
    return f"needs Debian's {' and '.join(missing)} (apt-get install {' '.join(missing)}; .ci/run installs them)"


def warden_scrape_jobs(targets: dict[str, str]) -> list[dict[str, Any]]:
    """One job per Warden service: `targets` maps a service name to its `host:port`."""
    return [
        {"job_name": f"warden-{name}", "static_configs": [{"targets": [address], "labels": {"warden_service": name}}]}
        for name, address in sorted(targets.items())
    ]


def sandbox_scrape_job(address: str, services: list[dict[str, Any]]) -> dict[str, Any]:
    """The sandbox scraped as one target per simulated service (`/metrics?service=NAME`), so
    `up{service=...}` is each service's own health. `honor_labels` keeps the exposition's
    `service`/`environment` labels instead of renaming them `exported_*`."""
    return {
        "job_name": "warden-sandbox",
        "honor_labels": True,
        "static_configs": [
            {
                "targets": [address],
                "labels": {
                    "__param_service": s["name"],
                    "service": s["name"],
                    "environment": s["environment"],
                },
            }
            for s in services
        ],
    }


def prometheus_config(
    jobs: list[dict[str, Any]],
    *,
    rule_files: list[Path] | None = None,
    alertmanager: str | None = None,
    interval: str = "1s",
    query_log: Path | None = None,
) -> dict[str, Any]:
    """`query_log`: Prometheus writes every query it answers there (JSON lines), so a test can
    see which PromQL a client really sent."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "scrape_configs": jobs,
    }
    if query_log is not None:
        config["global"]["query_log_file"] = str(query_log)
    if rule_files:
        config["rule_files"] = [str(p) for p in rule_files]
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


def alertmanager_receiver(webhook_url: str, token: str, name: str = "warden") -> dict[str, Any]:
    """The Alertmanager receiver that posts to Warden's triage webhook with its bearer token
    (the shape `warden connect alertmanager` prints)."""
    return {
        "name": name,
        "webhook_configs": [
            {
                "url": webhook_url,
                "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
            }
        ],
    }


def alertmanager_config(receiver: dict[str, Any], *, wait: str = "1s") -> dict[str, Any]:
    """A route that sends everything to `receiver` at once (and its resolution as fast)."""
    return {
        "route": {
            "receiver": receiver["name"],
            "group_by": ["alertname", "service"],
            "group_wait": wait,
            "group_interval": wait,
            "repeat_interval": "1h",
        },
        "receivers": [receiver],
    }


@dataclass
class _Process:
    name: ClassVar[str] = "process"
    root: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def log(self) -> Path:
        return self.root / f"{self.name}.log"

    def _spawn(self, argv: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.root)

    async def _ready(self, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with httpx.AsyncClient(timeout=1.0) as http:
            while True:
                assert self.popen is not None
                if self.popen.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/-/ready")).status_code == 200:
                        return
                if loop.time() > deadline:
                    raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f}s:\n{self.tail()}")
                await asyncio.sleep(0.1)

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            await asyncio.to_thread(self.popen.wait, 10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            await asyncio.to_thread(self.popen.wait, 5)


@dataclass
class Prometheus(_Process):
    name: ClassVar[str] = "prometheus"

    async def start(self, config: dict[str, Any], timeout_s: float = 30.0) -> Prometheus:
        path = self.root / "prometheus.yml"
        self.root.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        binary = prometheus_binary()
        assert binary, missing_binaries()
        self._spawn(
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={self.root / 'tsdb'}",
                f"--web.listen-address={self.address}",
                "--storage.tsdb.retention.time=1h",
            ]
        )
        await self._ready(timeout_s)
        return self

    async def api(self, path: str, **params: str) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=5.0) as http:
            resp = await http.get(f"/api/v1/{path}", params=params)
        body = resp.json()
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus {path} failed: {body}")
        return body["data"]

    async def targets(self) -> list[dict[str, Any]]:
        data = await self.api("targets", state="active")
        return list(data["activeTargets"])

    async def query(self, promql: str) -> list[dict[str, Any]]:
        data = await self.api("query", query=promql)
        return list(data["result"])

    async def alerts(self) -> list[dict[str, Any]]:
        return list((await self.api("alerts"))["alerts"])

    async def wait_for_targets(self, count: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Until `count` targets have been scraped at least once (health no longer "unknown")."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            targets = await self.targets()
            if len(targets) >= count and all(t["health"] != "unknown" for t in targets):
                return targets
            if loop.time() > deadline:
                raise AssertionError(f"targets never all scraped: {[(t['scrapeUrl'], t['health']) for t in targets]}")
            await asyncio.sleep(0.2)


@dataclass
class Alertmanager(_Process):
    name: ClassVar[str] = "alertmanager"

    async def start(self, config: dict[str, Any], timeout_s: float = 30.0) -> Alertmanager:
        path = self.root / "alertmanager.yml"
        self.root.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        binary = alertmanager_binary()
        assert binary, missing_binaries()
        self._spawn(
            [
                binary,
                f"--config.file={path}",
                f"--storage.path={self.root / 'data'}",
                f"--web.listen-address={self.address}",
                "--cluster.listen-address=",  # a single instance: no gossip port
            ]
        )
        await self._ready(timeout_s)
        return self

    async def alerts(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url, timeout=5.0) as http:
            resp = await http.get("/api/v2/alerts")
        resp.raise_for_status()
        return list(resp.json())
