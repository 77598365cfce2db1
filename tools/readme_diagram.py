"""`make docs`: rewrite the README's topology diagram from the topology table.

The block between `<!-- topology:begin -->` and `<!-- topology:end -->` is replaced by
`warden_contracts.topology.mermaid_diagram()`; tests/contract/test_readme_diagram.py fails when the
committed README and the table disagree. `--check` exits 1 instead of writing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from warden_contracts.topology import mermaid_diagram

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- topology:begin -->", "<!-- topology:end -->"


def render(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n```mermaid\n{mermaid_diagram().rstrip()}\n```\n{END}{tail}"


def main(argv: list[str]) -> int:
    text = README.read_text()
    new = render(text)
    if new == text:
        print("README.md: topology diagram up to date")
        return 0
    if "--check" in argv:
        print("README.md: topology diagram is stale; run `make docs`", file=sys.stderr)
        return 1
    README.write_text(new)
    print("README.md: topology diagram rewritten")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
