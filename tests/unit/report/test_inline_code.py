"""Markdown code spans (`--include-seen`) are <code> in the HTML page, backticks in Markdown."""

from __future__ import annotations

import re

from robustbench_liver.report.document import (
    Bullets,
    Cell,
    Details,
    Document,
    Figure,
    Paragraph,
    Table,
    render_markdown,
)
from robustbench_liver.report.html import render_html

PNG = b"\x89PNG\r\n\x1a\nfake"


def with_code_spans() -> Document:
    doc = Document("Leaderboard")
    doc.add(
        Paragraph("rebuild with `robustbench-liver leaderboard RUNDIR... --out DIR --verify`."),
        Bullets(("rows seen in training count only with `--include-seen`",)),
        Table(
            ("model", "note"),
            ((Cell("m"), Cell("`a < b` & more")), (Cell("n"), Cell("`x`", "x"))),
            caption="see `compare`",
            name="t",
        ),
        Figure("f.png", PNG, "alt", "from `report`"),
        Details("cards of `run`", (Paragraph("plain"),)),
    )
    return doc


def body(page: str) -> str:
    """The page without its inline script and style, which are not report text."""
    page = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    return re.sub(r"<style>.*?</style>", "", page, flags=re.S)


def test_html_renders_code_spans_as_code_elements():
    page = body(render_html(with_code_spans()))
    assert "`" not in page
    assert (
        "<p>rebuild with <code>robustbench-liver leaderboard RUNDIR... --out DIR --verify</code>"
        ".</p>"
    ) in page
    assert "<li>rows seen in training count only with <code>--include-seen</code></li>" in page
    assert "<td><code>a &lt; b</code> &amp; more</td>" in page  # escaped first
    assert '<td data-sort="x"><code>x</code></td>' in page
    assert "<caption>see <code>compare</code></caption>" in page
    assert "<figcaption>from <code>report</code></figcaption>" in page
    assert "<summary>cards of <code>run</code></summary>" in page


def test_markdown_keeps_the_backticks():
    md = render_markdown(with_code_spans())
    assert "rebuild with `robustbench-liver leaderboard RUNDIR... --out DIR --verify`." in md
    assert "`--include-seen`" in md
    assert "<code>" not in md


def test_text_without_backticks_renders_as_before():
    doc = Document("t")
    doc.add(Paragraph("a < b & 'c'"), Table(("k",), ((Cell("1 `"),),)))
    page = render_html(doc)
    assert "<p>a &lt; b &amp; &#x27;c&#x27;</p>" in page
    assert "<td>1 `</td>" in page  # a lone backtick is left alone
