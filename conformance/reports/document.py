"""A report as a few kinds of block (headings, paragraphs, lists, tables), written out as Markdown or as a standalone
HTML page from the project's template (``reports/summary.html``).

Text is plain: Markdown's and HTML's special characters are escaped here, so what a module said shows as it said it.
A table cell may carry a verdict (``Cell("failed", verdict="failed")``), which the HTML page colours.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from .results import REPORTS_DIR

__all__ = ["Cell", "Document"]

# what Markdown would read as markup: emphasis, code, raw HTML, table cells, and a backslash before punctuation
_MD_SPECIAL = re.compile(r"([`*<>|]|\\(?=[!-/:-@\[-`{-~]))")


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, and a verdict or kind the HTML page styles it by."""

    text: str
    verdict: str = ""
    code: bool = False


@dataclass
class Document:
    """A report being written: blocks in order."""

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("h", (level, text)))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("p", text))

    def items(self, lines: list[str]) -> None:
        if lines:
            self.blocks.append(("ul", list(lines)))

    def table(self, headers: list[str], rows: list[list[str | Cell]]) -> None:
        self.blocks.append(("table", (headers, [[c if isinstance(c, Cell) else Cell(str(c)) for c in r]
                                                for r in rows])))

    # -- output ------------------------------------------------------------------------------------------------

    def markdown(self) -> str:
        out = [f"# {_md(self.title)}", ""]
        for kind, value in self.blocks:
            if kind == "h":
                level, text = value  # type: ignore[misc]
                out += [f"{'#' * level} {_md(text)}", ""]
            elif kind == "p":
                out += [_md(str(value)), ""]
            elif kind == "ul":
                out += [f"- {_md(line)}" for line in value] + [""]  # type: ignore[union-attr]
            elif kind == "table":
                headers, rows = value  # type: ignore[misc]
                out.append("| " + " | ".join(_md(h) for h in headers) + " |")
                out.append("|" + "|".join(" --- " for _ in headers) + "|")
                for row in rows:
                    out.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
                out.append("")
        return "\n".join(out).rstrip() + "\n"

    def html(self, template: Path | None = None) -> str:
        body: list[str] = []
        for kind, value in self.blocks:
            if kind == "h":
                level, text = value  # type: ignore[misc]
                anchor = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
                body.append(f"<h{level} id='{anchor}'>{html.escape(text)}</h{level}>")
            elif kind == "p":
                body.append(f"<p>{html.escape(str(value))}</p>")
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in value) + "</ul>")  # type: ignore[union-attr]
            elif kind == "table":
                headers, rows = value  # type: ignore[misc]
                head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
                lines = ["<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in rows]
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>")
        page = Template((template or REPORTS_DIR / "summary.html").read_text(encoding="utf-8"))
        return page.safe_substitute(title=html.escape(self.title), body="\n".join(body))


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def _md_cell(cell: Cell) -> str:
    if cell.code and cell.text:
        return "`" + cell.text.replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"
    return _md(cell.text)


def _html_cell(cell: Cell) -> str:
    cls = f" class='{html.escape(cell.verdict)}'" if cell.verdict else ""
    text = html.escape(cell.text)
    return f"<td{cls}>{'<code>' + text + '</code>' if cell.code and text else text}</td>"
