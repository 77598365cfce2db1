"""`warden cluster status`: the nodes, each stream's replica health, each service replica's PID and
health, and why a service runs as one process. Read from `cluster.json`, the live processes, the
services' /healthz and JetStream's stream info (as the admin identity)."""

from __future__ import annotations

from typing import Any

import aiohttp
from warden_bus.nats_cluster import stream_health
from warden_contracts import topology as topo

from warden_cli.cluster import healthy, read_cluster, recorded
from warden_cli.cluster_replicas import plan
from warden_cli.launcher import CHILDREN
from warden_cli.layout import Layout


async def status(layout: Layout) -> dict[str, Any]:
    info = read_cluster(layout)
    processes = recorded(layout)
    nodes = [p for p in processes if p.kind == "node"]
    live_urls = [f"nats://127.0.0.1:{n.port}" for n in nodes if n.alive]
    services: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        for service in CHILDREN:
            state = plan(service)
            replicas = []
            for p in (p for p in processes if p.service == service):
                ok = await healthy(http, p.port)
                replicas.append(
                    {
                        "name": p.name,
                        "pid": p.pid,
                        "port": p.port,
                        "alive": p.alive,
                        "healthy": ok,
                    }
                )
            services.append(
                {
                    "service": service,
                    "replicas": len(replicas),
                    "requested": info["requested_replicas"],
                    "single_because": state.single_because or None,
                    "processes": replicas,
                }
            )
    streams = await stream_health(live_urls, layout.creds("admin")) if live_urls else []
    return {
        "data_dir": info["data_dir"],
        "database": info["database_url"],
        "nats_url": info["nats_url"],
        "nodes": [{"name": n.name, "pid": n.pid, "port": n.port, "alive": n.alive} for n in nodes],
        "streams": streams,
        "services": services,
        "healthy": all(n.alive for n in nodes)
        and all(s["healthy"] for s in streams)
        and len(streams) == len(topo.TOPICS)
        and all(r["healthy"] for s in services for r in s["processes"]),
    }


def render(report: dict[str, Any]) -> str:
    lines = [
        f"cluster on {report['data_dir']}: {'healthy' if report['healthy'] else 'NOT healthy'}",
        f"postgres  {report['database']}",
        "nodes",
    ]
    lines += [
        f"  {n['name']:<8} pid {n['pid']:<8} 127.0.0.1:{n['port']:<6} {'up' if n['alive'] else 'DOWN'}"
        for n in report["nodes"]
    ]
    lines.append("streams (replicas, leader, followers current/lag)")
    for s in report["streams"]:
        if "error" in s:
            lines.append(f"  {s['stream']:<26} ERROR {s['error']}")
            continue
        followers = ", ".join(
            f"{p['name']} {'offline' if p['offline'] else 'current' if p['current'] else 'behind'} lag {p['lag']}"
            for p in s["followers"]
        )
        mark = "ok" if s["healthy"] else "DEGRADED"
        lines.append(f"  {s['stream']:<26} R{s['replicas']} {mark:<8} leader {s['leader']}; {followers}")
    lines.append("services")
    for svc in report["services"]:
        why = f"  (1 replica: {svc['single_because']})" if svc["single_because"] else ""
        lines.append(f"  {svc['service']:<10} {svc['replicas']} of {svc['requested']}{why}")
        lines += [
            f"    {r['name']:<12} pid {r['pid']:<8} :{r['port']:<6} "
            f"{'healthy' if r['healthy'] else 'alive, not healthy' if r['alive'] else 'DEAD'}"
            for r in svc["processes"]
        ]
    return "\n".join(lines)
