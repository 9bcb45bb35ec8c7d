"""The report's HTML building blocks. Every value that comes from data goes through ``esc`` (html.escape), here or
in the section that writes it, so a recipe or body-part name can never break the page."""

from __future__ import annotations

import html
import math
from typing import Any


def esc(value: Any) -> str:
    """A data-derived value as HTML text (the one escape helper)."""
    return html.escape(str(value))


def missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt(v: Any, digits: int = 3) -> str:
    """A number to ``digits`` decimals, '-' when missing; anything else escaped."""
    if missing(v):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return esc(v)


def ci(m: Any, lo: Any, hi: Any) -> str:
    """'m [lo, hi]', or m alone without an interval."""
    if missing(lo) or missing(hi):
        return fmt(m)
    return f"{fmt(m)} [{fmt(lo)}, {fmt(hi)}]"


def signed_ci(m: Any, lo: Any, hi: Any) -> str:
    """A change with its sign: '+m [+lo, +hi]'."""
    if missing(lo) or missing(hi):
        return f"{m:+.3f}"
    return f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def table(rows: list[dict[str, Any]], left: tuple[str, ...] = ()) -> str:
    """Rows of already marked-up cells (keys: column heads, escaped here); ``left``: columns aligned left."""
    if not rows:
        return "<p class='note'>nothing to show yet</p>"
    cols = list(rows[0])
    head = "".join(f"<th class='{'l' if c in left else ''}'>{esc(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td class='{'l' if c in left else ''}'>{r[c]}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def img(uri: str, alt: str) -> str:
    return f"<img src='{uri}' alt='{esc(alt)}'>"
