"""Labels named in params `vocabulary:` or in an indicator's `where:` that match nothing.

A typo'd label ("Champoin" for "Champion", "invoice_sendt") does not fail anywhere: the
indicator it feeds is silently 0 on every row, and a hypothesis on it then reads "not
testable: one value in the data", blaming the data. The panel stage therefore checks every
label against the values the data really holds and warns, naming the param or the entry, the
table column and the closest value (found by a new user's trial, issue 16).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

# Which table column each vocabulary kind is matched against (CONTRACTS §1).
KIND_COLUMNS: dict[str, tuple[str, str]] = {
    "role": ("users", "role"),
    "touchpoint_kind": ("touchpoints", "kind"),
    "milestone": ("milestones", "milestone"),
    "ticket_category": ("tickets", "category"),
    "event_type": ("events", "event_type"),
}
MAX_DISTINCT = 10_000  # a column with more distinct values is not a label column


def _norm(value: object) -> str:
    return str(value).strip().casefold()


def unmatched(
    wanted: Iterable[tuple[str, object]],
    values: Iterable[object],
    column: str,
) -> list[str]:
    """One warning line per wanted label that no value matches (trimmed, case-insensitive).

    Args:
        wanted: (where the label is written, e.g. "vocabulary.role.key_person", label).
        values: the distinct values of `column` in the data.
        column: "table.column", for the message.

    Returns:
        Lines such as "vocabulary.role.key_person: label 'Champoin' matches no value of
        users.role (did you mean 'Champion'?)".
    """
    present = {_norm(v): str(v).strip() for v in values if v is not None}
    lines = []
    for place, label in wanted:
        if _norm(label) in present:
            continue
        close = difflib.get_close_matches(_norm(label), list(present), n=1, cutoff=0.6)
        hint = (
            f"did you mean {present[close[0]]!r}?"
            if close
            else f"values: {', '.join(sorted(present.values())[:8])}"
            + (", ..." if len(present) > 8 else "")
        )
        lines.append(f"{place}: label {label!r} matches no value of {column} ({hint})")
    return lines


def distinct_values(path: Path, column: str) -> list[object] | None:
    """The distinct values of one Parquet column (DuckDB, streamed), or None when it has more
    than MAX_DISTINCT (then it is not a label column and is not checked)."""
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute(
            f'SELECT DISTINCT "{column}" FROM read_parquet(?) LIMIT {MAX_DISTINCT + 1}',
            [str(path)],
        ).fetchall()
    finally:
        con.close()
    return None if len(rows) > MAX_DISTINCT else [r[0] for r in rows]


def label_warnings(
    vocabulary: Mapping[str, Mapping[str, Iterable[str]]],
    where_filters: Iterable[tuple[str, str, str, Iterable[object]]],
    paths: Mapping[str, Path],
) -> list[str]:
    """Every unmatched label of the vocabulary and of user indicators' text `where` filters.

    Args:
        vocabulary: kind -> meaning -> labels (params `vocabulary:`, defaults filled in).
        where_filters: (indicator id, table, column, values) of user indicators' filters.
        paths: table -> interim Parquet file (tables absent from the data are skipped: their
            indicators are "not testable" already).
    """
    asked: dict[tuple[str, str], list[tuple[str, object]]] = {}
    for kind, meanings in vocabulary.items():
        if kind not in KIND_COLUMNS:
            continue
        for meaning, labels in meanings.items():
            for label in labels:
                place = f"params.yaml vocabulary.{kind}.{meaning}"
                asked.setdefault(KIND_COLUMNS[kind], []).append((place, label))
    for ind_id, table, column, values in where_filters:
        for value in values:
            if isinstance(value, str):
                place = f"indicators.yaml '{ind_id}' where.{column}"
                asked.setdefault((table, column), []).append((place, value))
    lines: list[str] = []
    for (table, column), wanted in sorted(asked.items()):
        if table not in paths or not Path(paths[table]).exists():
            continue
        values = distinct_values(paths[table], column)
        if values is not None:
            lines.extend(unmatched(wanted, values, f"{table}.{column}"))
    return lines
