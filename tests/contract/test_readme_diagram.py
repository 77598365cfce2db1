"""The README's diagram is generated from the topology table and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from warden_contracts.topology import mermaid_diagram

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_diagram_matches_topology() -> None:
    text = README.read_text()
    block = text.split("<!-- topology:begin -->")[1].split("<!-- topology:end -->")[0]
    assert mermaid_diagram() in block
