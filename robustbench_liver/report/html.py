"""One self-contained HTML page from a `Document`: inline CSS, a few lines of inline JS for
sortable tables, plots as PNG data URIs, and a Content-Security-Policy that forbids every
outside request (so a page that tried one would show it as a console error)."""

from __future__ import annotations

import base64
import html
import json
import re

from robustbench_liver.report.document import (
    Block,
    Bullets,
    Cell,
    Code,
    Details,
    Document,
    Figure,
    Heading,
    Note,
    Paragraph,
    Table,
)

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232a;
  max-width: 1360px; margin: 0 auto; padding: 1.5em 2em 4em; }
h1 { font-size: 1.7em; border-bottom: 2px solid #2b6cb0; padding-bottom: .2em; }
h2 { font-size: 1.35em; margin-top: 2em; border-bottom: 1px solid #d5dbe1; }
h3 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: 13px; }
caption { text-align: left; color: #4a5561; padding-bottom: .3em; }
th, td { border: 1px solid #d5dbe1; padding: .25em .55em; text-align: left; vertical-align: top; }
th { background: #eef2f6; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: #f8fafc; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td:first-child { white-space: nowrap; }
div.wide { overflow-x: auto; }
figure { margin: 1em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e2e8f0; }
figcaption { color: #4a5561; font-size: 13px; }
pre { background: #f6f8fa; border: 1px solid #e2e8f0; padding: .7em; overflow-x: auto;
  font-size: 12px; }
:not(pre) > code { background: #f1f4f7; padding: 0 .2em; border-radius: 3px; }
details { margin: .6em 0; } summary { cursor: pointer; font-weight: 600; }
nav ul { columns: 2; font-size: 14px; }
div.note { border-left: 4px solid #c05621; background: #fffaf0; padding: .6em 1em;
  margin: 1em 0; }
"""

# A Markdown code span: `text` between single backticks on one line.
CODE_SPAN = re.compile(r"`([^`\n]+)`")

# Click (or Enter on) a header to sort by that column; again to reverse. Cells sort by their
# data-sort value when they have one (numbers numerically), else by their text; n/a last.
SCRIPT = """
(function () {
  function key(cell) {
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    var num = Number(raw);
    return raw === "" ? null : (isNaN(num) ? raw.toLowerCase() : num);
  }
  function compare(a, b) {
    if (a === null || b === null) { return a === b ? 0 : (a === null ? 1 : -1); }
    if (typeof a === typeof b) { return a < b ? -1 : (a > b ? 1 : 0); }
    return typeof a === "number" ? -1 : 1;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      function sort() {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var asc = th.getAttribute("aria-sort") !== "ascending";
        rows.sort(function (r, s) {
          var x = key(r.cells[col]), y = key(s.cells[col]);
          var order = (x === null || y === null) ? compare(x, y) : compare(x, y) * (asc ? 1 : -1);
          return order;
        });
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
    });
  });
})();
"""


def render_html(doc: Document, toc: bool = True) -> str:
    """The whole page as a string (deterministic: same document, same bytes)."""
    anchors: dict[int, str] = {}
    body = _blocks(doc.blocks, anchors)
    nav = ""
    if toc:
        items = [b for b in doc.blocks if isinstance(b, Heading) and b.level == 2]
        if len(items) > 2:
            links = "".join(
                f'<li><a href="#{anchors[id(h)]}">{_inline(h.text)}</a></li>' for h in items
            )
            nav = f"<nav><ul>{links}</ul></nav>\n"
    title = html.escape(doc.title)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{title}</h1>\n{nav}{body}<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def _blocks(blocks: list[Block] | tuple[Block, ...], anchors: dict[int, str]) -> str:
    """HTML of `blocks`; `anchors` collects each heading's id, made unique in the page."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            level = min(6, max(2, block.level))  # the page title is the only h1
            anchor, k = block.anchor, 1
            while anchor in anchors.values():
                k += 1
                anchor = f"{block.anchor}-{k}"
            anchors[id(block)] = anchor
            parts.append(f'<h{level} id="{anchor}">{_inline(block.text)}</h{level}>')
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Note):
            parts.append(
                f'<div class="note" role="note"><strong>{_inline(block.title)}</strong> '
                f"{_inline(block.text)}</div>"
            )
        elif isinstance(block, Bullets):
            items = "".join(f"<li>{_inline(i)}</li>" for i in block.items)
            parts.append(f"<ul>{items}</ul>")
        elif isinstance(block, Table):
            parts.append(_table(block))
        elif isinstance(block, Figure):
            data = base64.b64encode(block.png).decode("ascii")
            caption = f"<figcaption>{_inline(block.caption)}</figcaption>" if block.caption else ""
            parts.append(
                f'<figure><img alt="{html.escape(block.alt)}" '
                f'src="data:image/png;base64,{data}">{caption}</figure>'
            )
        elif isinstance(block, Code):
            parts.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
        elif isinstance(block, Details):
            inner = _blocks(block.blocks, anchors)
            parts.append(f"<details><summary>{_inline(block.summary)}</summary>{inner}</details>")
    return "\n".join(parts) + "\n"


def _table(table: Table) -> str:
    if not table.rows:
        caption = f"{_inline(table.caption)}: " if table.caption else ""
        return f"<p>{caption}(none)</p>"
    name = f' data-table="{html.escape(table.name)}"' if table.name else ""
    head = "".join(f'<th scope="col" tabindex="0">{_inline(c)}</th>' for c in table.columns)
    rows = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    caption = f"<caption>{_inline(table.caption)}</caption>" if table.caption else ""
    return (
        f'<div class="wide"><table class="sortable"{name}>{caption}<thead><tr>{head}</tr>'
        f"</thead><tbody>{rows}</tbody></table></div>"
    )


def _cell(c: Cell) -> str:
    if c.sort is None:
        return f"<td>{_inline(c.text)}</td>"
    if isinstance(c.sort, float | int):
        value = json.dumps(float(c.sort))  # repr-exact and locale-free
        return f'<td class="num" data-sort="{value}">{_inline(c.text)}</td>'
    return f'<td data-sort="{html.escape(str(c.sort))}">{_inline(c.text)}</td>'


def _inline(text: str) -> str:
    """`text` escaped for HTML, with its Markdown code spans as <code> (the Markdown page
    keeps the backticks; here they would show as literal characters)."""
    return CODE_SPAN.sub(r"<code>\1</code>", html.escape(text))
