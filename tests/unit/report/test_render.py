"""Markdown and HTML rendering: escaping, sortable cells, unique anchors, self-contained pages."""

from __future__ import annotations

import re

from robustbench_liver.report.document import (
    Bullets,
    Cell,
    Code,
    Details,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    render_markdown,
)
from robustbench_liver.report.html import render_html

PNG = b"\x89PNG\r\n\x1a\nfake"


def sample() -> Document:
    doc = Document("Report <1>")
    doc.add(
        Heading(2, "Scores"),
        Paragraph("a < b & <script>alert(1)</script>"),
        Bullets(("one", "two | three")),
        Table(
            ("model", "DSC"),
            (
                (Cell("m|1"), Cell("0.50 [0.40, 0.60]", 0.5)),
                (Cell("m2"), Cell("n/a", "")),
            ),
            caption="scores",
            name="scores",
        ),
        Figure("a.png", PNG, "alt <text>", "caption"),
        Heading(2, "Scores"),
        Details("more", (Code("x = 1\n", "python"), Table(("a",), ()))),
    )
    return doc


def test_markdown_escapes_pipes_and_links_figures():
    md = render_markdown(sample())
    assert md.startswith("# Report <1>\n")
    assert "| m\\|1 | 0.50 [0.40, 0.60] |" in md
    assert "![alt <text>](figures/a.png)" in md
    assert "```python\nx = 1\n```" in md
    assert "(none)" in md  # an empty table says so


def test_html_escapes_text_and_embeds_figures():
    page = render_html(sample())
    assert "<script>alert(1)</script>" not in page
    assert "a &lt; b &amp; &lt;script&gt;" in page
    assert 'src="data:image/png;base64,iVBORw0KGgpmYWtl"' in page
    assert '<td class="num" data-sort="0.5">0.50 [0.40, 0.60]</td>' in page
    assert '<td data-sort="">n/a</td>' in page
    assert 'data-table="scores"' in page


def test_html_anchors_are_unique():
    page = render_html(sample())
    ids = re.findall(r' id="([^"]+)"', page)
    assert ids == ["scores", "scores-2"]


def test_html_is_self_contained_and_locks_out_the_network():
    page = render_html(sample())
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "url(" not in page
    assert "default-src 'none'" in page and "img-src data:" in page
    assert page.count("<script>") == 1  # the sorting script, inline


def test_rendering_is_deterministic():
    assert render_html(sample()) == render_html(sample())
    assert render_markdown(sample()) == render_markdown(sample())
