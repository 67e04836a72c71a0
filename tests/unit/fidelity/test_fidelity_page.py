"""The fidelity page: Markdown and HTML from one description, every text escaped."""

from __future__ import annotations

from robustbench_liver.fidelity.page import Page


def test_names_reach_both_pages_as_text():
    page = Page("Fidelity: <b>x</b>")
    page.paragraph("a & b <script>alert(1)</script>")
    page.table(("name", "value"), [("a|b", "1 [0.2, 0.4]")], caption="c", name="t")
    md, html = page.markdown(), page.html()
    assert "<script>" not in md and "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "a\\|b" in md  # a pipe does not open a table cell
    assert "| name | value |" in md and 'data-table="t"' in html
    assert "1 [0.2, 0.4]" in md  # intervals stay readable in the raw Markdown


def test_figures_are_linked_in_markdown_and_inline_in_html():
    page = Page("t")
    page.figure("figures/f.png", b"\x89PNG", alt="plot", caption="cap")
    assert "![plot](figures/f.png)" in page.markdown()
    assert 'src="data:image/png;base64,iVBORw==' in page.html()
    assert "img-src data:" in page.html()  # nothing is fetched from outside
