"""Ingest one table file by file: type, check, split into accepted rows and quarantine.

Files are processed one at a time (the simulator writes events as several parts), so memory
is bounded by the largest file: accepted rows go to staging files as they are checked
(`spill.py`), except those of accounts and contracts, which ingest needs whole in memory.
Exact duplicates within a file are found here; across files, tables with an id remember the
hashes and ids kept so far (one per entity: bounded by accounts, contracts, users ...), and
tables without one (events) leave it to DuckDB over the staged rows
(`spill.cross_file_duplicates`, then `quarantine_duplicates` here).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnlab.ingest.checks import (
    Found,
    account_failures,
    duplicate_key_mask,
    duplicate_mask,
    first_reason,
    merge_seen,
    reason_masks,
    row_hashes,
    schema_failures,
)
from churnlab.ingest.parse import DEFAULT_WINDOW, DateWindow, type_frame
from churnlab.ingest.read import RawPart
from churnlab.ingest.schemas import STRING_DTYPE, TableSpec

SOURCE_COLUMNS = ["_source_file", "_source_row", "_reason", "_column", "_detail", "_raw_line"]
# `_column` joins the columns a row's reason was found in with this (contract names)
COLUMN_SEPARATOR = ", "


@dataclass
class AccountContext:
    """What row checks of later tables need from accounts and contracts."""

    accounts: pd.DataFrame | None = None  # account_id, signup_date (accepted rows)
    # account_id -> first day of activity "after the contract end" (NaT = open contract)
    activity_limit: pd.Series | None = None
    # Quarantined account rows whose id no accepted row has, one per id (the first):
    # index account_id; columns _reason, _source_file, _source_row.
    rejected: pd.DataFrame | None = None


def rejected_accounts(accepted: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    """The quarantined account rows whose account_id (trimmed) no accepted row has; the
    first row (by file and row) per id. Their other tables' rows get `account_rejected`."""
    cols = ["_reason", "_source_file", "_source_row"]
    if quarantine.empty or "account_id" not in quarantine:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="account_id"))
    ids = quarantine["account_id"].astype("string").str.strip()
    keep = ids.notna() & (ids != "") & ~ids.isin(accepted["account_id"])
    out = quarantine.loc[keep, cols].assign(account_id=ids[keep])
    return out.drop_duplicates("account_id").set_index("account_id")


@dataclass(frozen=True)
class RowRules:
    """The ingest params that row checks use."""

    source_timezone: str = "UTC"  # zone of naive timestamps (and of the calendar for dates)
    grace_days: int = 30  # activity allowed after the last contract ended
    null_values: tuple[str, ...] = ()  # text cells meaning "no value" besides blanks
    # {vocabulary name: {label key (trimmed, lower-case): meaning}} for closed columns
    vocabularies: dict[str, dict[str, str]] = field(default_factory=dict)
    window: DateWindow = DEFAULT_WINDOW  # plausible dates (ingest.earliest_date / latest_date)


@dataclass
class TableState:
    """Carried from one file of a table to the next (duplicates span files)."""

    seen_hashes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    seen_keys: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    # What rejected rows failed on, for the error when nothing passes:
    # {reason: {column: Counter(raw value as written)}} ("" column = the row as a whole).
    problems: dict[str, dict[str, Counter]] = field(default_factory=dict)
    rows_by_reason_column: Counter = field(default_factory=Counter)  # (reason, column) -> rows
    # Accepted rows read by a documented rule: (note, column) -> rows (parse.NOTES).
    notes: Counter = field(default_factory=Counter)
    # account_rejected rows by the reason their account row was quarantined for.
    cascade: Counter = field(default_factory=Counter)
    rows_read: dict[str, int] = field(default_factory=dict)  # file -> rows its reader returned
    # True: hashes and ids of kept rows are remembered here for the next file's duplicate
    # checks; False (tables without an id): duplicates across files are found afterwards.
    seen_in_memory: bool = True
    # Row hashes of the rows the last check_part accepted (staged beside them).
    kept_hashes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))

    def where(self, code: str) -> tuple[str, int, list[str]]:
        """For rows rejected with `code`: (the column most of them failed in, "" for the row as
        a whole; how many rows failed there; up to 3 commonest values as written)."""
        hits = [(col, n) for (c, col), n in self.rows_by_reason_column.items() if c == code]
        if not hits:
            return "", 0, []
        column, rows = min(hits, key=lambda kv: (-kv[1], kv[0]))  # ties: by name
        values = self.problems.get(code, {}).get(column, Counter())
        ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
        return column, rows, [v for v, _ in ranked[:3]]


# Offending values worth quoting in an error (a blank or a whole row is not).
_QUOTE_VALUES = {
    "unparseable_date",
    "unparseable_number",
    "invalid_category",
    "negative_mrr",
    "out_of_range",
    "unknown_account",
    "account_rejected",
    "implausible_date",
}


def _note_problems(
    state: TableState, frame: pd.DataFrame, reasons: np.ndarray, found: Found
) -> None:
    """Count rejected rows by (reason, column) and remember their commonest raw values."""
    for code in pd.unique(reasons[pd.notna(reasons)]):
        rows = reasons == code
        for column, mask in found.get(code, {}).items():
            hit = rows & np.asarray(mask, dtype=bool)
            if not hit.any():
                continue
            state.rows_by_reason_column[(code, column)] += int(hit.sum())
            if code in _QUOTE_VALUES and column in frame.columns:
                # Only the commonest few per file: enough to quote, bounded on huge files.
                top = frame[column][hit].astype(str).value_counts().head(10)
                state.problems.setdefault(code, {}).setdefault(column, Counter()).update(
                    top.to_dict()
                )


def failed_columns(reasons: np.ndarray, found: Found, order: list[str]) -> pd.Series:
    """Per row (positions of `reasons`), the column(s) its reason was found in, in the
    table's contract order `order` and joined by ", " (e.g. "start_date, end_date" when
    both dates are unreadable); null for accepted rows and for reasons about the row as a
    whole (an exact duplicate: `found` names its column ""). Written as the quarantine's
    `_column`, so the data-quality report does not have to parse the rows again."""
    out = pd.Series(pd.NA, index=range(len(reasons)), dtype=STRING_DTYPE)
    rank = {c: i for i, c in enumerate(order)}
    for code in pd.unique(reasons[pd.notna(reasons)]):
        rows = reasons == code
        columns = sorted(
            (c for c in found.get(code, {}) if c), key=lambda c: (rank.get(c, len(rank)), c)
        )
        for column in columns:
            hit = np.flatnonzero(rows & np.asarray(found[code][column], dtype=bool))
            if not len(hit):
                continue
            before = out.iloc[hit]
            out.iloc[hit] = before.where(before.isna(), before + COLUMN_SEPARATOR + column).fillna(
                column
            )
    return out


def _quarantine_frame(
    part: RawPart, reasons: np.ndarray, detail: pd.Series, columns: pd.Series | None = None
) -> pd.DataFrame:
    """Rejected rows as the user wrote them (strings), with where they came from and why.
    `detail` (per frame row, null where there is nothing to add) says more than the code;
    `columns` (per frame row, `failed_columns`; None = no column) names where it failed."""
    rejected = np.flatnonzero(pd.notna(reasons))
    q = part.frame.iloc[rejected].astype(STRING_DTYPE).reset_index(drop=True)
    q["_source_file"] = str(part.path)
    q["_source_row"] = part.source_row[rejected]
    q["_reason"] = reasons[rejected].astype(str)
    if columns is None:
        q["_column"] = pd.Series(pd.NA, index=q.index, dtype=STRING_DTYPE)
    else:
        q["_column"] = columns.iloc[rejected].astype(STRING_DTYPE).reset_index(drop=True)
    q["_detail"] = detail.iloc[rejected].astype(STRING_DTYPE).reset_index(drop=True)
    q["_raw_line"] = pd.Series(pd.NA, index=q.index, dtype=STRING_DTYPE)
    if len(part.malformed):
        bad = pd.DataFrame(
            {
                "_source_file": str(part.path),
                "_source_row": part.malformed["_source_row"].to_numpy(),
                "_reason": "malformed_row",
                "_column": pd.array([pd.NA] * len(part.malformed), dtype=STRING_DTYPE),
                "_detail": pd.array([pd.NA] * len(part.malformed), dtype=STRING_DTYPE),
                "_raw_line": part.malformed["_raw_line"].astype(STRING_DTYPE),
            }
        )
        q = pd.concat([q, bad], ignore_index=True)
    return q


def _cascade_detail(
    typed: pd.DataFrame, rows: np.ndarray, rejected: pd.DataFrame | None, state: TableState
) -> pd.Series:
    """`_detail` for account_rejected rows: the account row's reason and where it is, e.g.
    "account row quarantined: unparseable_date (data/raw/accounts.csv row 3)"; counts the
    rows per account-row reason in `state.cascade`."""
    detail = pd.Series(pd.NA, index=typed.index, dtype=STRING_DTYPE)
    if not rows.any() or rejected is None:
        return detail
    acc = rejected.reindex(typed.loc[rows, "account_id"])
    state.cascade.update(acc["_reason"].value_counts().to_dict())
    text = (
        "account row quarantined: "
        + acc["_reason"].astype(str)
        + " ("
        + acc["_source_file"].astype(str)
        + " row "
        + acc["_source_row"].astype(str)
        + ")"
    )
    detail[rows] = text.to_numpy()
    return detail


def check_part(
    part: RawPart,
    spec: TableSpec,
    ctx: AccountContext,
    state: TableState,
    rules: RowRules,
    more_files: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed accepted rows and the quarantine of one file; updates `state` in place."""
    frame = part.frame.reset_index(drop=True)
    part.frame = frame
    typed, unparseable, notes = type_frame(
        frame, spec, rules.source_timezone, rules.null_values, rules.vocabularies, rules.window
    )
    found: Found = {
        code: {c: m.to_numpy() for c, m in by_column.items()}
        for code, by_column in unparseable.items()
    }
    found.update(schema_failures(typed, spec))
    if spec.needs_account and ctx.accounts is not None:
        rejected_ids = None if ctx.rejected is None else ctx.rejected.index
        found.update(
            account_failures(
                typed,
                spec,
                ctx.accounts,
                ctx.activity_limit,
                rules.source_timezone,
                rejected_ids,
            )
        )
    n = len(typed)
    masks = reason_masks(found, n)
    reasons = first_reason(masks, n)

    # Duplicates compete only among rows that passed every other check, so a clean row is
    # never dropped in favour of a broken copy, and a copy of a rejected row keeps its reason.
    hashes = row_hashes(typed, spec)
    ok = pd.isna(reasons)
    masks["duplicate"] = duplicate_mask(hashes, ok, state.seen_hashes)
    found["duplicate"] = {"": masks["duplicate"]}
    ok &= ~masks["duplicate"]
    masks["duplicate_key"] = duplicate_key_mask(typed, spec.key, ok, state.seen_keys)
    found["duplicate_key"] = {spec.key or "": masks["duplicate_key"]}
    reasons = first_reason(masks, n)
    _note_problems(state, frame, reasons, found)
    if len(part.malformed):
        state.rows_by_reason_column[("malformed_row", "")] += len(part.malformed)

    accepted = pd.isna(reasons)
    for note, by_column in notes.items():
        for column, mask in by_column.items():
            state.notes[(note, column)] += int((mask.to_numpy() & accepted).sum())
    detail = _cascade_detail(typed, reasons == "account_rejected", ctx.rejected, state)
    state.kept_hashes = hashes[accepted]
    if more_files and state.seen_in_memory:  # later files are checked against rows kept
        state.seen_hashes = merge_seen(state.seen_hashes, hashes[accepted])
        if spec.key:
            kept = pd.Index(typed.loc[accepted, spec.key])
            state.seen_keys = kept if state.seen_keys.empty else state.seen_keys.append(kept)
    ok = typed if accepted.all() else typed.loc[accepted]  # no copy of millions of clean rows
    columns = failed_columns(reasons, found, list(spec.columns))
    return ok, _quarantine_frame(part, reasons, detail, columns)


def sort_stable(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Stable sort by `keys`, nulls last; Arrow's sort is ~10x faster than pandas' on
    millions of string keys."""
    table = pa.Table.from_pandas(df[keys], preserve_index=False)
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys]).to_numpy()
    if np.array_equal(order, np.arange(len(df))):  # already in order (the simulator's events)
        return df.reset_index(drop=True)
    return df.take(order).reset_index(drop=True)


def finish_table(
    accepted: list[pd.DataFrame], quarantined: list[pd.DataFrame], spec: TableSpec
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate the files of a table, sorted deterministically."""
    typed = pd.concat(accepted, ignore_index=True) if accepted else pd.DataFrame()
    typed = sort_stable(typed, list(spec.sort))
    return typed, finish_quarantine(quarantined)


def finish_quarantine(quarantined: list[pd.DataFrame]) -> pd.DataFrame:
    """The quarantine frames of a table's files as one, the user's columns first, sorted by
    file and row."""
    q = pd.concat(quarantined, ignore_index=True)
    front = [c for c in q.columns if c not in SOURCE_COLUMNS]
    q = q[front + SOURCE_COLUMNS]
    q = q.astype({c: STRING_DTYPE for c in q.columns if c != "_source_row"})
    q["_source_row"] = q["_source_row"].astype(np.int64)
    return q.sort_values(["_source_file", "_source_row"], kind="stable").reset_index(drop=True)


def quarantine_duplicates(
    part: RawPart, rows: np.ndarray, spec: TableSpec, state: TableState, rules: RowRules
) -> pd.DataFrame:
    """The quarantine of rows (positions in `part.frame`, read again) found afterwards to
    be exact copies of a row kept from an earlier file; they were counted as accepted by
    check_part, so their notes are taken back and the duplicates counted in `state`."""
    frame = part.frame.reset_index(drop=True)
    part.frame = frame
    _, _, notes = type_frame(
        frame.iloc[rows],
        spec,
        rules.source_timezone,
        rules.null_values,
        rules.vocabularies,
        rules.window,
    )
    for note, by_column in notes.items():
        for column, mask in by_column.items():
            state.notes[(note, column)] -= int(mask.to_numpy().sum())
    state.rows_by_reason_column[("duplicate", "")] += len(rows)
    reasons = np.full(len(frame), None, dtype=object)
    reasons[rows] = "duplicate"
    part.malformed = part.malformed.iloc[:0]  # quarantined with the file's first pass
    return _quarantine_frame(part, reasons, pd.Series(pd.NA, index=frame.index, dtype=STRING_DTYPE))
