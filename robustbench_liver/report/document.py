"""A report as a list of plain blocks, rendered to Markdown here and to HTML in `html.py`:
one description of the content, so the two pages cannot drift apart."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    """A table cell: the text shown, and what it sorts by (a number, or the text itself)."""

    text: str
    sort: float | str | None = None


@dataclass(frozen=True)
class Heading:
    level: int
    """2 for a section, 3 for a subsection (the title is the only level 1)."""
    text: str

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.text.lower()).strip("-") or "section"


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""
    name: str = ""
    """Identifies the table in the HTML (data-table attribute), e.g. for tests."""


@dataclass(frozen=True)
class Figure:
    name: str
    """File name under figures/ (e.g. 'quickstart-metrics.png')."""
    png: bytes
    alt: str
    caption: str = ""


@dataclass(frozen=True)
class Code:
    text: str
    language: str = ""


@dataclass(frozen=True)
class Details:
    """Folded away in HTML (<details>); a titled section in Markdown."""

    summary: str
    blocks: tuple[Block, ...]


Block = Heading | Paragraph | Bullets | Table | Figure | Code | Details


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)

    def figures(self) -> list[Figure]:
        return [b for b in _walk(self.blocks) if isinstance(b, Figure)]


def _walk(blocks: list[Block] | tuple[Block, ...]) -> list[Block]:
    out: list[Block] = []
    for block in blocks:
        out.append(block)
        if isinstance(block, Details):
            out += _walk(block.blocks)
    return out


def render_markdown(doc: Document, figure_dir: str = "figures") -> str:
    """GitHub-flavoured Markdown; figures are linked as `figure_dir/<name>`."""
    lines = [f"# {doc.title}", ""]
    lines += _md_blocks(doc.blocks, figure_dir)
    return "\n".join(lines).rstrip() + "\n"


def _md_blocks(blocks: tuple[Block, ...] | list[Block], figure_dir: str) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * min(6, block.level) + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Bullets):
            lines += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, Table):
            lines += _md_table(block)
        elif isinstance(block, Figure):
            lines += [f"![{block.alt}]({figure_dir}/{block.name})", ""]
            if block.caption:
                lines += [f"*{block.caption}*", ""]
        elif isinstance(block, Code):
            fence = "````" if "```" in block.text else "```"
            lines += [fence + block.language, block.text.rstrip("\n"), fence, ""]
        elif isinstance(block, Details):
            lines += [f"**{block.summary}**", ""]
            lines += _md_blocks(block.blocks, figure_dir)
    return lines


def _md_table(table: Table) -> list[str]:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = []
    if table.caption:
        lines += [f"*{table.caption}*", ""]
    if not table.rows:
        return [*lines, "(none)", ""]
    lines.append("| " + " | ".join(esc(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(esc(c.text) for c in row) + " |")
    return [*lines, ""]
