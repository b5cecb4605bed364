"""Report tables: a DataFrame of typed values plus how to show it, and `style()` to show it.

A report table (built in `tables`) is an ordinary DataFrame whose headers are in the report
language and whose cells hold the values (floats, ints, text), so an analyst can filter,
sort or add a column in the notebook. How each column is shown (percent, integer, a
coloured pill, hazard ratio with its interval) travels with the frame in
`df.attrs["churnlab"]`; pandas keeps `attrs` through filtering and sorting, so
`style(verdicts.sort_values(...))` still looks like the report.

`style(df)` returns a pandas `Styler` (or, for no rows, the "not available" note as HTML)
that renders the report's look: `<table class="cl-table">`, numbers right-aligned, data
escaped, pills for verdicts and bands. Its HTML is deterministic: the table id is a hash
of what it shows, never pandas' random uuid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from churnlab.reports import markup as m

SPEC = "churnlab"

FORMATS: dict[str, Callable[[object], str]] = {
    "text": lambda v: "–" if m._missing(v) else str(v),
    "int": m.fmt_int,
    "num0": lambda v: m.fmt_num(v, 0),
    "num1": lambda v: m.fmt_num(v, 1),
    "num2": lambda v: m.fmt_num(v, 2),
    "num3": lambda v: m.fmt_num(v, 3),
    "pct": m.fmt_pct,
    "pct0": lambda v: m.fmt_pct(v, 0),
    "pct2": lambda v: m.fmt_pct(v, 2),
    "p": m.fmt_p,
}


def with_spec(
    df: pd.DataFrame,
    *,
    formats: Mapping[str, str | Callable[[object], str]] | None = None,
    numeric: Iterable[str] = (),
    badges: Mapping[str, tuple[str, Mapping[str, str]]] | None = None,
    intervals: Mapping[str, tuple[str, str]] | None = None,
    hidden: Iterable[str] = (),
    empty_text: str = "–",
) -> pd.DataFrame:
    """Attach how to show `df` (returned, same object) for `style`.

    formats: column -> a name in FORMATS ("pct", "int", ...) or a function value -> text.
        Columns without one are shown as text ("–" when missing).
    numeric: right-aligned columns.
    badges: column -> (kind, {cell text: css key}); the cell becomes a coloured pill
        `<span class="kind kind-key">text</span>` (kind "verdict" or "band").
    intervals: column -> (low column, high column); the cell reads "2.31 (1.80–2.96)".
    hidden: columns kept in the frame (to sort on) but not shown.
    empty_text: what a table without rows says.
    """
    df.attrs[SPEC] = {
        "formats": dict(formats or {}),
        "numeric": list(numeric),
        "badges": {k: (kind, dict(keys)) for k, (kind, keys) in (badges or {}).items()},
        "intervals": dict(intervals or {}),
        "hidden": list(hidden),
        "empty_text": empty_text,
    }
    return df


def spec_of(df: pd.DataFrame) -> dict[str, Any]:
    return df.attrs.get(SPEC) or {
        "formats": {},
        "numeric": [],
        "badges": {},
        "intervals": {},
        "hidden": [],
        "empty_text": "–",
    }


def _formatter(fmt: str | Callable[[object], str] | None) -> Callable[[object], str]:
    if fmt is None:
        return FORMATS["text"]
    return FORMATS[fmt] if isinstance(fmt, str) else fmt


def display_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The cells as the page shows them: HTML-escaped text, pills as markup."""
    spec = spec_of(df)
    shown = [c for c in df.columns if c not in set(spec["hidden"])]
    out = {}
    for col in shown:
        values = df[col]
        if col in spec["intervals"]:
            lo, hi = spec["intervals"][col]
            out[col] = [
                m.esc(m.fmt_hr(v, a, b)) for v, a, b in zip(values, df[lo], df[hi], strict=True)
            ]
        elif col in spec["badges"]:
            kind, keys = spec["badges"][col]
            out[col] = [
                "–" if m._missing(v) else m.badge(f"{kind} {kind}-{keys.get(str(v), v)}", str(v))
                for v in values
            ]
        else:
            fmt = _formatter(spec["formats"].get(col))
            out[col] = [m.esc(fmt(v)) for v in values]
    return pd.DataFrame(out, columns=shown, index=range(len(df)))


def style(df: pd.DataFrame) -> Styler | Any:
    """The report's look for a report table (see `with_spec`).

    Returns a `Styler` (Jupyter displays it; `.to_html()` gives the markup), or for a frame
    without rows an `IPython.display.HTML` note saying the table is empty/not available.
    """
    spec = spec_of(df)
    if df is None or df.empty:
        return empty_note(spec["empty_text"])
    shown = display_frame(df)
    numeric = [c for c in spec["numeric"] if c in shown.columns]
    key = shown.to_json(orient="split", force_ascii=False) + repr(numeric)
    uuid = hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]
    styler = Styler(shown, uuid=uuid, cell_ids=False)
    styler.hide(axis="index")
    styler.format_index(escape="html", axis=1)
    styler.set_table_attributes('class="cl-table"')
    if numeric:
        classes = pd.DataFrame("", index=shown.index, columns=shown.columns)
        classes[numeric] = "num"
        styler.set_td_classes(classes)
        positions = [shown.columns.get_loc(c) for c in numeric]
        styler.set_table_styles(
            [{"selector": f"th.col{i}", "props": "text-align: right"} for i in positions]
        )
    return styler


class _Html:
    """Minimal stand-in for IPython's HTML when IPython is not importable."""

    def __init__(self, data: str):
        self.data = data

    def _repr_html_(self) -> str:
        return self.data


def empty_note(text: str) -> Any:
    html = f'<p class="empty">{m.esc(text)}</p>'
    try:
        from IPython.display import HTML
    except ImportError:  # pragma: no cover - IPython ships with the notebook extras
        return _Html(html)
    return HTML(html)


def to_html(df: pd.DataFrame) -> str:
    """`style(df)` as an HTML string."""
    styled = style(df)
    return styled.to_html() if isinstance(styled, Styler) else styled.data
