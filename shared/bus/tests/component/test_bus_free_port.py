"""`free_port`: ports for servers about to start, out of the way of outgoing connections."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from warden_bus import embedded_server
from warden_bus.embedded_server import free_port


def _bind(port: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_ports_are_below_the_ephemeral_range_distinct_and_free() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(embedded_server.LOWEST_PORT <= p < low for p in ports)
    for port in ports:
        _bind(port)


def test_a_port_something_listens_on_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ranges = iter([busy, busy, 23456])
        monkeypatch.setattr(embedded_server.random, "randrange", lambda _a, _b: next(ranges))
        monkeypatch.setattr(embedded_server, "_ephemeral_low", lambda: 60000)
        monkeypatch.setattr(embedded_server, "_handed_out", set())
        assert free_port() == 23456


def test_without_the_kernel_range_the_kernel_picks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embedded_server, "EPHEMERAL_RANGE", tmp_path / "missing")
    port = free_port()
    _bind(port)
