"""A delimited generated region inside a hand-written file.

The region runs from the line starting with `<comment> BEGIN GENERATED: <title>` to the line
`<comment> END GENERATED: <title>`, both included; everything outside stays as written. Replacing
it is a pure text function, so a test can render into memory and compare with the committed file.
"""

from __future__ import annotations

from dataclasses import dataclass


class MissingRegion(ValueError):
    """The file lacks the region's markers, has them twice, or has them out of order."""


@dataclass(frozen=True)
class Region:
    title: str
    comment: str  # the file's line-comment token: "#" in YAML, "//" in Bicep
    note: str  # said right after the begin marker: who writes the region and what to edit instead

    @property
    def begin(self) -> str:
        return f"{self.comment} BEGIN GENERATED: {self.title}"

    @property
    def end(self) -> str:
        return f"{self.comment} END GENERATED: {self.title}"

    def replace(self, text: str, body: str, *, where: str) -> str:
        """`text` with the region's content set to `body` (lines, no trailing newline needed)."""
        lines = text.splitlines(keepends=True)
        begins = [i for i, line in enumerate(lines) if line.startswith(self.begin)]
        ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == self.end]
        if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
            raise MissingRegion(
                f"{where}: needs exactly one `{self.begin}` line followed by one `{self.end}` line "
                f"(found {len(begins)} and {len(ends)})"
            )
        note = "".join(f"{self.comment} {line}".rstrip() + "\n" for line in self.note.splitlines())
        region = f"{self.begin}\n{note}{body.rstrip()}\n{self.end}\n"
        return "".join(lines[: begins[0]]) + region + "".join(lines[ends[0] + 1 :])
