"""The fidelity section as Markdown and as a self-contained HTML page, written side by side
from one sequence of calls (headings, paragraphs, lists, tables, figures), so the two cannot
drift apart. Every text is escaped: paths and scenario names reach the page as text, never
as markup. The HTML page loads nothing from outside (figures are data URIs; a
Content-Security-Policy forbids every request)."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'"
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1d232a; max-width: 1300px;
  margin: 0 auto; padding: 1.5em 2em 4em; }
h1 { font-size: 1.6em; border-bottom: 2px solid #2b6cb0; padding-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 1.8em; border-bottom: 1px solid #d5dbe1; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: 13px; }
caption { text-align: left; color: #4a5561; padding-bottom: .3em; }
th, td { border: 1px solid #d5dbe1; padding: .25em .55em; text-align: left; }
th { background: #eef2f6; white-space: nowrap; }
tbody tr:nth-child(even) { background: #f8fafc; }
figure img { max-width: 100%; border: 1px solid #e2e8f0; }
figcaption { color: #4a5561; font-size: 13px; }
"""
_MD_SPECIAL = re.compile(r"([\\`*_|<>])")


def md_text(text: str) -> str:
    """Plain text for Markdown: one line, with Markdown's and HTML's special characters
    escaped (a path or a name shows as written)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines())).replace("&", "&amp;")


class Page:
    """`page.heading(...)`, `page.table(...)`, ..., then `page.markdown()` / `page.html()`."""

    def __init__(self, title: str):
        self.title = title
        self._md: list[str] = [f"# {md_text(title)}", ""]
        self._html: list[str] = []

    def heading(self, level: int, text: str) -> None:
        self._md += ["#" * level + " " + md_text(text), ""]
        self._html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str) -> None:
        self._md += [md_text(text), ""]
        self._html.append(f"<p>{html.escape(text)}</p>")

    def bullets(self, items: Sequence[str]) -> None:
        self._md += [f"- {md_text(item)}" for item in items] + [""]
        lines = "".join(f"<li>{html.escape(item)}</li>" for item in items)
        self._html.append(f"<ul>{lines}</ul>")

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        caption: str = "",
        name: str = "",
    ) -> None:
        if caption:
            self._md += [f"*{md_text(caption)}*", ""]
        self._md.append("| " + " | ".join(md_text(c) for c in columns) + " |")
        self._md.append("|" + "|".join("---" for _ in columns) + "|")
        self._md += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
        self._md.append("")
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._html.append(
            f'<table data-table="{html.escape(name)}">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )

    def figure(self, path: str, png: bytes, alt: str, caption: str = "") -> None:
        """A PNG: linked by `path` in Markdown, inlined in HTML."""
        self._md += [f"![{md_text(alt)}]({path})", ""]
        if caption:
            self._md += [f"*{md_text(caption)}*", ""]
        data = base64.b64encode(png).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._html.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
            f"{cap}</figure>"
        )

    def markdown(self) -> str:
        return "\n".join(self._md).rstrip() + "\n"

    def html(self) -> str:
        title = html.escape(self.title)
        body = "\n".join(self._html)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
        )
