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
class Note:
    """A call-out the reader must not miss (what the scores mean): a quoted paragraph in
    Markdown, a boxed one in HTML."""

    title: str
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


Block = Heading | Paragraph | Note | Bullets | Table | Figure | Code | Details


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


# A code span as CommonMark reads it when its backticks are single: not escaped (`\``), not
# part of a longer run. Text inside is shown as written, so it is left alone; anything this
# does not recognise is escaped, which at worst shows an entity inside code.
_CODE_SPAN = re.compile(r"(?<![`\\])`[^`]+`(?!`)")
# What makes Markdown emit HTML: a '<' that opens a tag, comment, declaration or autolink,
# and an '&' that starts a character reference.
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")


def md_escape(text: str, inline: bool = True) -> str:
    """Untrusted text (model names, descriptions, error messages) made safe for Markdown:
    outside code spans, '<' that would open an HTML tag becomes '&lt;' and '&' that would
    start an entity '&amp;', so no page shows a writer's HTML; `inline` text (headings, list
    items, table cells, captions) also loses its line breaks, which would start new blocks.
    Pipes are the table's business (`_md_table`). Plain text such as 'p < 0.05' is kept."""
    if inline:
        text = " ".join(text.splitlines())
    out, last = [], 0
    for m in _CODE_SPAN.finditer(text):
        out += [_escape_html(text[last : m.start()]), m.group(0)]
        last = m.end()
    out.append(_escape_html(text[last:]))
    return "".join(out)


def _escape_html(text: str) -> str:
    return _TAG_OPEN.sub("&lt;", _ENTITY.sub("&amp;", text))


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`, so none can close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render_markdown(doc: Document, figure_dir: str = "figures") -> str:
    """GitHub-flavoured Markdown; figures are linked as `figure_dir/<name>`. Every text is
    passed through `md_escape`, so text from run folders cannot put HTML in the page."""
    lines = [f"# {md_escape(doc.title)}", ""]
    lines += _md_blocks(doc.blocks, figure_dir)
    return "\n".join(lines).rstrip() + "\n"


def _md_blocks(blocks: tuple[Block, ...] | list[Block], figure_dir: str) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * min(6, block.level) + " " + md_escape(block.text), ""]
        elif isinstance(block, Paragraph):
            lines += [md_escape(block.text, inline=False), ""]
        elif isinstance(block, Note):
            lines += [f"> **{md_escape(block.title)}** {md_escape(block.text)}", ""]
        elif isinstance(block, Bullets):
            lines += [f"- {md_escape(item)}" for item in block.items] + [""]
        elif isinstance(block, Table):
            lines += _md_table(block)
        elif isinstance(block, Figure):
            # CommonMark shows alt text as plain text (HTML escaped); brackets could end it
            alt = " ".join(block.alt.splitlines()).replace("[", "\\[").replace("]", "\\]")
            lines += [f"![{alt}]({figure_dir}/{block.name})", ""]
            if block.caption:
                lines += [f"*{md_escape(block.caption)}*", ""]
        elif isinstance(block, Code):
            fence = _fence(block.text)
            lines += [fence + block.language, block.text.rstrip("\n"), fence, ""]
        elif isinstance(block, Details):
            lines += [f"**{md_escape(block.summary)}**", ""]
            lines += _md_blocks(block.blocks, figure_dir)
    return lines


def _md_table(table: Table) -> list[str]:
    def esc(text: str) -> str:
        return md_escape(text).replace("|", "\\|")

    lines = []
    if table.caption:
        lines += [f"*{md_escape(table.caption)}*", ""]
    if not table.rows:
        return [*lines, "(none)", ""]
    lines.append("| " + " | ".join(esc(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(esc(c.text) for c in row) + " |")
    return [*lines, ""]
