"""Template helpers for the pages: safe markdown, safe links, and the burden picture's numbers.

Every helper escapes first and adds markup after, so nothing a user or a stored check carries can become HTML.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from markupsafe import Markup, escape

BURDEN_KINDS = ("sedation", "constipation", "anticholinergic")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def markdown_lite(text: str | None) -> Markup:
    """A finding's `detail` (markdown) as HTML: paragraphs, `- ` lists, **bold** and line breaks; nothing else.

    The text is escaped before any tag is added, so a `<script>` in it is shown as text."""
    blocks = []
    for block in re.split(r"\n\s*\n", (text or "").strip()):
        lines = [line for line in block.splitlines() if line.strip()]
        if lines and all(line.lstrip().startswith("- ") for line in lines):
            items = "".join(f"<li>{_inline(line.lstrip()[2:])}</li>" for line in lines)
            blocks.append(f"<ul>{items}</ul>")
        elif lines:
            blocks.append(f"<p>{'<br>'.join(_inline(line) for line in lines)}</p>")
    return Markup("".join(blocks))


def _inline(line: str) -> str:
    return _BOLD.sub(r"<strong>\1</strong>", str(escape(line)))


def safe_url(url: str | None) -> str | None:
    """The URL if it is http(s), else None: a `javascript:` link would run even when escaped."""
    return url if url and urlsplit(url).scheme in ("http", "https") else None


def burden_rows(response: dict) -> list[dict]:
    """Sedation, constipation and anticholinergic load per drug (each ingredient of each line), from `derived`.

    Rows with no load at all are left out; the chart's scale is the largest total."""
    rows = []
    for line in (response.get("derived") or {}).get("lines", []):
        for ingredient in line.get("ingredients", []):
            burden = ingredient.get("burden") or {}
            loads = {kind: int(burden.get(kind) or 0) for kind in BURDEN_KINDS}
            if any(loads.values()):
                rows.append({"drug": ingredient.get("name"), "line": line.get("line"), "loads": loads,
                             "total": sum(loads.values())})
    return rows


def line_label(ref: str) -> str:
    """`regimen[0]` as "ordered line 1", `patient.medications[1]` as "current medication 2"."""
    match = re.fullmatch(r"(regimen|patient\.medications)\[(\d+)\]", ref or "")
    if not match:
        return ref
    return f"{'ordered line' if match[1] == 'regimen' else 'current medication'} {int(match[2]) + 1}"
