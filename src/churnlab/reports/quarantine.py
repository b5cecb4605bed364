"""Which column each quarantined row failed in, for the data-quality page.

Ingest writes one reason code per quarantined row (`_reason`; CONTRACTS §2) and, for
`account_rejected`, a `_detail`. A reason alone ("unparseable_date") does not say which of a
table's dates was wrong, so the page names the column too:

- a `_column` field (written by ingest since session 21: the column, or several joined by
  ", "), when the row has one, is used as written;
- otherwise (files of an older ingest) the column is found again with ingest's own parsers (`ingest.parse.type_frame`,
  the same code that rejected the row) and the contract's table specs: the first column, in
  contract order, where the row's reason applies. Ingest's params are not known here, so the
  parse uses the defaults of CONTRACTS §2 (null markers NULL / null / \\N, the default
  plausible-date window); a date rejected as implausible under another window is matched to
  the first date column that fails either date check. Reasons about the row as a whole
  (`malformed_row`, `duplicate`) have no column ("").

Importing ingest costs a few seconds (its schemas import pandera), so it happens only when
there are quarantined rows without `_column` whose reason has a column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# ingest.null_values' default (params.yaml); blank cells are always null
DEFAULT_NULL_VALUES = ("NULL", "null", "\\N")
ROW_REASONS = {"malformed_row", "duplicate"}  # about the row as a whole: no column
DATE_REASONS = ("unparseable_date", "implausible_date")


def reason_columns(quarantine: pd.DataFrame) -> pd.Series:
    """Per row of `quarantine` (every table's rows, with `_table` and `_reason`): the column
    its reason was found in ("a, b" when ingest named several), "" for the row as a whole or
    when it cannot be told. Ingest's `_column` is used where a row has one; only the other
    rows (files written before ingest named the column) are parsed again."""
    out = pd.Series("", index=quarantine.index, dtype=object)
    if quarantine.empty or "_reason" not in quarantine:
        return out
    need = ~quarantine["_reason"].astype(str).isin(ROW_REASONS)
    if "_column" in quarantine:
        given = quarantine["_column"]
        out = given.astype(object).where(given.notna(), "")
        need &= given.isna().to_numpy()
    if "_table" not in quarantine or not need.any():
        return out
    for table, rows in quarantine[need].groupby("_table", sort=True):
        out.loc[rows.index] = table_reason_columns(str(table), rows)
    return out


def table_reason_columns(table: str, rows: pd.DataFrame) -> list[str]:
    """`reason_columns` for the quarantined rows of one table (see the module docstring)."""
    from churnlab.ingest.schemas import TABLES

    spec = TABLES.get(table)
    if spec is None:  # not a contract table: nothing to match against
        return [""] * len(rows)
    by_spec = {"unknown_account": "account_id", "account_rejected": "account_id"}
    if spec.activity:
        by_spec |= {"before_signup": spec.activity, "after_contract_end": spec.activity}
    if spec.key:
        by_spec["duplicate_key"] = spec.key
    reasons = rows["_reason"].astype(str)
    out = reasons.map(by_spec).fillna("")
    parse = ~reasons.isin(list(by_spec))
    if parse.any():  # only rows whose column depends on their values are parsed again
        out[parse] = _parsed_columns(spec, rows[parse])
    return out.to_list()


def _parsed_columns(spec, rows: pd.DataFrame) -> list[str]:
    """The column of each row whose reason depends on its values (dates, numbers, blanks,
    categories, ranges, time order), found with ingest's parsers."""
    from churnlab.ingest.parse import type_frame
    from churnlab.ingest.schemas import CATEGORY

    frame = pd.DataFrame(
        {
            c: _raw(rows[c]) if c in rows else pd.Series(pd.NA, index=rows.index, dtype="string")
            for c in spec.columns
        }  # fmt: skip
    ).reset_index(drop=True)
    typed, bad, _ = type_frame(frame, spec, "UTC", DEFAULT_NULL_VALUES)
    masks: dict[str, dict[str, np.ndarray]] = {
        code: {c: np.asarray(m, dtype=bool) for c, m in by_col.items()}
        for code, by_col in bad.items()
    }
    n = len(frame)
    blank = masks.setdefault("blank_required", {})
    for name, col in spec.columns.items():
        present = frame[name].notna().to_numpy()
        if col.required:
            blank[name] = typed[name].isna().to_numpy() & ~_any(masks, DATE_REASONS, name, n)
            blank[name] &= ~masks.get("unparseable_number", {}).get(name, np.zeros(n, bool))
        if col.kind == CATEGORY:
            masks.setdefault("invalid_category", {})[name] = present
        if col.min_value is not None or col.max_value is not None:
            value = pd.to_numeric(typed[name], errors="coerce").to_numpy(dtype=float)
            low = value < col.min_value if col.min_value is not None else np.zeros(n, bool)
            high = value > col.max_value if col.max_value is not None else np.zeros(n, bool)
            code = "negative_mrr" if name == "mrr" else "out_of_range"
            masks.setdefault(code, {})[name] = low | high
    for earlier, later in spec.time_order:
        wrong = (typed[later] < typed[earlier]).fillna(False).astype(bool).to_numpy()
        masks.setdefault("time_order", {})[later] = wrong
    order = list(spec.columns)
    out = []
    for i, reason in enumerate(rows["_reason"].astype(str)):
        found = _first(masks.get(reason, {}), order, i)
        if not found and reason in DATE_REASONS:  # another plausible-date window
            found = _first({**masks["implausible_date"], **masks["unparseable_date"]}, order, i)
        out.append(found)
    return out


def _raw(s: pd.Series) -> pd.Series:
    """A quarantined column as ingest read it: strings, missing = <NA>."""
    return s.astype("string")


def _any(masks: dict, codes: tuple[str, ...], column: str, n: int) -> np.ndarray:
    hit = np.zeros(n, dtype=bool)
    for code in codes:
        hit |= masks.get(code, {}).get(column, np.zeros(n, dtype=bool))
    return hit


def _first(by_column: dict[str, np.ndarray], order: list[str], i: int) -> str:
    for column in order:
        mask = by_column.get(column)
        if mask is not None and bool(mask[i]):
            return column
    return ""
