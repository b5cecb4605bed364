"""Small HTML building blocks for the reports; every value from the data is escaped here.

Notebooks display these strings with IPython's HTML(); names from the data (accounts,
customers, CSMs) can contain `<`, `&` or quotes, so nothing is interpolated unescaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

import pandas as pd


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt_pct(value: object, digits: int = 1) -> str:
    """0.0213 -> '2.1%'; missing -> '–'."""
    if _missing(value):
        return "–"
    return f"{float(value) * 100:.{digits}f}%"


def fmt_num(value: object, digits: int = 2) -> str:
    if _missing(value):
        return "–"
    value = float(value)
    if math.isfinite(value) and value == int(value) and digits == 0:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def fmt_p(value: object) -> str:
    """p- and q-values: 3 decimals, '<0.001' below that."""
    if _missing(value):
        return "–"
    return "<0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def fmt_int(value: object) -> str:
    if _missing(value):
        return "–"
    return f"{int(round(float(value))):,}"


def fmt_hr(hr: object, lo: object, hi: object) -> str:
    """'2.31 (1.80–2.96)'."""
    if _missing(hr):
        return "–"
    return f"{float(hr):.2f} ({fmt_num(lo)}–{fmt_num(hi)})"


def heading(text: str, level: int = 2) -> str:
    return f"<h{level}>{esc(text)}</h{level}>"


def paragraph(text: str, css: str | None = None) -> str:
    cls = f' class="{esc(css)}"' if css else ""
    return f"<p{cls}>{esc(text)}</p>"


def bullet_list(items: Iterable[str], css: str | None = None) -> str:
    cls = f' class="{esc(css)}"' if css else ""
    return f"<ul{cls}>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def kpi_cards(cards: Sequence[tuple[str, str]]) -> str:
    """A row of (label, formatted value) boxes."""
    boxes = "".join(
        f'<div class="kpi"><div class="value">{esc(v)}</div><div class="label">{esc(k)}</div></div>'
        for k, v in cards
    )
    return f'<div class="kpis">{boxes}</div>'


def badge(css_class: str, text: str) -> str:
    """A coloured pill (verdicts, bands); returned as raw HTML for `table(raw_cols=...)`."""
    return f'<span class="{esc(css_class)}">{esc(text)}</span>'


def table(
    df: pd.DataFrame,
    numeric: Iterable[str] = (),
    raw: Iterable[str] = (),
    empty_text: str = "–",
) -> str:
    """Render a DataFrame as an escaped HTML table; `raw` columns hold trusted markup we built."""
    if df is None or df.empty:
        return f'<p class="empty">{esc(empty_text)}</p>'
    numeric, raw = set(numeric), set(raw)
    head = "".join(
        f'<th class="num">{esc(c)}</th>' if c in numeric else f"<th>{esc(c)}</th>"
        for c in df.columns
    )
    rows = []
    for record in df.itertuples(index=False, name=None):
        cells = []
        for col, value in zip(df.columns, record, strict=True):
            text = value if col in raw else esc("–" if _missing(value) else value)
            cls = ' class="num"' if col in numeric else ""
            cells.append(f"<td{cls}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="cl-table"><thead><tr>{head}</tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )


def link_list(items: Sequence[tuple[str, str, str]]) -> str:
    """Index entries: (href, title, one-line summary)."""
    lis = "".join(
        f'<li><a href="{esc(href)}">{esc(title)}</a><span class="summary">{esc(summary)}</span></li>'
        for href, title, summary in items
    )
    return f'<ul class="report-index">{lis}</ul>'
