"""Row-level checks on typed tables; each returns {reason_code: boolean mask}.

`schema_failures` runs the declared pandera schema; the others need state beyond one row
(duplicates, ids seen earlier) or another table (accounts, contracts).
"""

from __future__ import annotations

import functools

import duckdb
import numpy as np
import pandas as pd
from pandera.errors import SchemaErrors

from churnlab.ingest.schemas import REASONS, TableSpec, pandera_schema
from churnlab.ingest.spill import Engine, connect

Masks = dict[str, np.ndarray]
# Where each reason was found: {reason: {column: mask}}. The column is the one whose value
# failed ("" when the row as a whole did: an exact duplicate); error messages quote it.
Found = dict[str, dict[str, np.ndarray]]


def reason_masks(found: Found, n: int) -> Masks:
    """{reason: rows failing it in any column}."""
    out: Masks = {}
    for code, by_column in found.items():
        mask = np.zeros(n, dtype=bool)
        for column_mask in by_column.values():
            mask |= np.asarray(column_mask, dtype=bool)
        out[code] = mask
    return out


def schema_failures(typed: pd.DataFrame, spec: TableSpec) -> Found:
    """Rows violating the pandera schema, by reason and column (check names are reason codes).

    Pandera spends ~45 µs per failure case building its report, so rows with a blank
    required value (the schema's `nullable=False`, the commonest failure in exports) are
    split off in bulk first; pandera then validates the rest, which is nearly free when clean.
    """
    n = len(typed)
    required = [c for c, col in spec.columns.items() if col.required]
    blank_by_column = {c: typed[c].isna().to_numpy() for c in required}
    blank = np.zeros(n, dtype=bool)
    for mask in blank_by_column.values():
        blank |= mask
    found: Found = {"blank_required": blank_by_column}
    rest = typed[~blank]  # keeps the positional RangeIndex labels of `typed`
    error, validated = None, None
    try:
        # inplace: no copy of the rows (the schema coerces nothing, so nothing changes)
        validated = pandera_schema(spec).validate(rest, lazy=True, inplace=True)
    except SchemaErrors as exc:
        error = exc
    finally:
        for frame in (rest, validated, getattr(error, "data", None)):
            if isinstance(frame, pd.DataFrame):
                _drop_accessor(frame)
    if error is None:
        return found
    cases = error.failure_cases
    reason = cases["check"].astype(str).replace({"not_nullable": "blank_required"})
    unexpected = sorted(set(reason) - set(REASONS))
    if unexpected:  # a dtype/column failure means parse.py broke the contract: a bug
        raise RuntimeError(f"{spec.name}: schema failure {unexpected}: {cases.head()}") from error
    for code in reason.unique():
        if code == "time_order":  # a frame-wide check: pandera cannot say which pair
            found[code] = _time_order_by_column(typed, spec, ~blank)
            continue
        hit = cases[reason == code]
        for column in hit["column"].dropna().unique():
            rows = hit.loc[hit["column"] == column, "index"].dropna().astype(np.int64)
            by_column = found.setdefault(code, {})
            mask = by_column.get(column, np.zeros(n, dtype=bool)).copy()
            mask[rows.to_numpy()] = True
            by_column[str(column)] = mask
    return found


def _drop_accessor(frame: pd.DataFrame) -> None:
    """Forget the `frame.pandera` accessor pandera caches on a validated frame: it points
    back at the frame, a reference cycle that kept a copy of a whole file's rows alive until
    Python's cycle collector ran (~300 MB a file of events)."""
    frame.__dict__.pop("pandera", None)


def _time_order_by_column(typed: pd.DataFrame, spec: TableSpec, checked: np.ndarray) -> dict:
    """{later column: rows where it is before its earlier column} (the rule of schemas.py)."""
    out = {}
    for earlier, later in spec.time_order:
        wrong = (typed[later] < typed[earlier]).fillna(False).astype(bool).to_numpy()
        out[later] = out.get(later, np.zeros(len(typed), dtype=bool)) | (wrong & checked)
    return out


def first_reason(masks: Masks, n: int) -> np.ndarray:
    """One reason per row (object array, None = accepted): the first in REASONS order."""
    out = np.full(n, None, dtype=object)
    for code in reversed(REASONS):  # earlier codes overwrite later ones
        if code in masks:
            out[np.asarray(masks[code], dtype=bool)] = code
    return out


def row_hashes(typed: pd.DataFrame, spec: TableSpec) -> np.ndarray:
    """64-bit hash of each row's normalised contract values (for exact-duplicate detection).

    DuckDB's hash is ~7x cheaper than pandas' on millions of pyarrow strings.
    """
    frame = typed[list(spec.columns)]
    columns = ", ".join(f'"{c}"' for c in spec.columns)
    con = _duckdb()
    con.register("frame", frame)
    try:
        # A plain projection keeps row order (DuckDB preserves insertion order).
        return con.sql(f"SELECT hash({columns}) AS h FROM frame").fetchnumpy()["h"]
    finally:
        con.unregister("frame")


@functools.cache
def _duckdb() -> duckdb.DuckDBPyConnection:
    # One in-memory connection per process: opening one costs ~20 ms, a lot for small tables.
    # A fixed thread count and memory limit (hashes do not depend on them; memory does).
    return connect(Engine())


def duplicate_mask(hashes: np.ndarray, candidate: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Candidate rows equal to an earlier candidate row or to a row kept from an earlier file
    (`seen`: sorted hashes of rows kept so far).

    With 64-bit hashes a false match among 10M rows has probability ~3e-6.
    """
    dup = np.zeros(len(hashes), dtype=bool)
    idx = np.flatnonzero(candidate)
    # Work in hash order: equal hashes become neighbours (a stable sort keeps the earliest
    # row first) and sorted look-ups into `seen` stay cache-friendly on millions of rows.
    order = np.argsort(hashes[idx], kind="stable")
    h = hashes[idx][order]
    dup_sorted = np.zeros(len(h), dtype=bool)
    dup_sorted[1:] = h[1:] == h[:-1]
    if len(seen):
        pos = np.searchsorted(seen, h).clip(max=len(seen) - 1)
        dup_sorted |= seen[pos] == h
    dup[idx[order]] = dup_sorted
    return dup


def merge_seen(seen: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """`seen` plus the hashes of newly kept rows, still sorted."""
    # Timsort ("stable") merges the two sorted runs in linear time.
    return np.sort(np.concatenate([seen, np.sort(kept)]), kind="stable")


def duplicate_key_mask(
    typed: pd.DataFrame, key: str | None, candidate: np.ndarray, seen: pd.Index
) -> np.ndarray:
    """Candidate rows reusing an id already taken by an earlier (different) row."""
    dup = np.zeros(len(typed), dtype=bool)
    if key is None:
        return dup
    idx = np.flatnonzero(candidate)
    ids = typed[key].iloc[idx]
    dup[idx] = ids.duplicated().to_numpy() | ids.isin(seen).to_numpy()
    return dup


def activity_limit(
    contracts: pd.DataFrame, grace_days: int, renewal_grace_days: int = 0
) -> pd.Series:
    """Per account, the first day on which activity counts as after the contract end: the
    end of its last contract + `grace_days`, or + `renewal_grace_days` if longer when that
    last term has no cancellation notice (its renewal may just not be recorded yet: the same
    window in which history.py censors instead of churning). NaT when a contract is
    open-ended. Index: account_id."""
    if contracts.empty:
        return pd.Series(dtype="datetime64[ns]", index=pd.Index([], dtype=object))
    by_account = contracts.groupby("account_id")
    open_ended = contracts["end_date"].isna().groupby(contracts["account_id"]).any()
    last = by_account["end_date"].transform("max")
    noticed = (contracts["end_date"] == last) & contracts["cancelled_at"].notna()
    noticed = noticed.groupby(contracts["account_id"]).any()
    days = noticed.map({True: grace_days, False: max(grace_days, renewal_grace_days)})
    end = by_account["end_date"].max()
    return (end + pd.to_timedelta(days, unit="D")).mask(open_ended)


def local_days(instants: pd.Series, tz: str) -> np.ndarray:
    """Calendar day (datetime64[D]) of UTC instants on the wall clock of `tz`."""
    if tz != "UTC":
        instants = instants.dt.tz_convert(tz)
    # Casting to days floors, so 23:59 stays on its day; NaT stays NaT.
    return instants.dt.tz_localize(None).to_numpy().astype("datetime64[D]")


def account_failures(
    typed: pd.DataFrame,
    spec: TableSpec,
    accounts: pd.DataFrame,
    limit_by_account: pd.Series,
    source_timezone: str,
    rejected_ids: pd.Index | None = None,
) -> Found:
    """unknown_account / account_rejected / before_signup / after_contract_end for rows of
    an account table.

    An account_id not among the accepted `accounts` is `account_rejected` when it is among
    `rejected_ids` (the account's own row was quarantined: it exists, but its row is
    broken) and `unknown_account` otherwise. Dates in the raw files are the company's
    calendar (`source_timezone`), so an instant is compared by its local date there.
    `limit_by_account` is `activity_limit`.
    """
    if not spec.needs_account:
        return {}
    pos = pd.Index(accounts["account_id"]).get_indexer(typed["account_id"])
    missing = (pos < 0) & typed["account_id"].notna().to_numpy()
    rejected = np.zeros(len(typed), dtype=bool)
    if rejected_ids is not None and len(rejected_ids) and missing.any():
        rejected = missing & typed["account_id"].isin(rejected_ids).to_numpy()
    found: Found = {
        "unknown_account": {"account_id": missing & ~rejected},
        "account_rejected": {"account_id": rejected},
    }
    if spec.activity is None:
        return found
    local_day = local_days(typed[spec.activity], source_timezone)
    known = pos >= 0
    signup = np.full(len(typed), np.datetime64("NaT"), dtype="datetime64[D]")
    signup[known] = accounts["signup_date"].to_numpy().astype("datetime64[D]")[pos[known]]
    found["before_signup"] = {spec.activity: known & (local_day < signup)}
    if spec.after_end_check:
        first_after = limit_by_account.reindex(accounts["account_id"])
        first_after = first_after.to_numpy(dtype="datetime64[D]")
        limit = np.full(len(typed), np.datetime64("NaT"), dtype="datetime64[D]")
        limit[known] = first_after[pos[known]]
        # NaT limit (open contract or no contracts) compares False: never "after the end".
        found["after_contract_end"] = {spec.activity: known & (local_day >= limit)}
    return found
