"""The data-quality summary: rows per table, quarantine reasons, date coverage."""

from __future__ import annotations

import pandas as pd

from churnlab.ingest.schemas import REASONS, TableSpec

ALL_REASONS = ["malformed_row", *REASONS]


class RowCountMismatch(RuntimeError):
    """Rows read from the files differ from accepted + quarantined: a bug in ingest, not in
    the data (a row was lost or made up on the way), so it is not a UserError."""


def row_counts(table: str, accepted: int, quarantine: pd.DataFrame, read: int) -> dict:
    """read / accepted / quarantined and quarantined per reason (every code, zeros included).

    `accepted` is the number of accepted rows; `read` is counted by the readers (Parquet metadata num_rows; Arrow's CSV rows plus the
    ragged lines it skipped), independently of validation; RowCountMismatch when
    accepted + quarantined differ from it."""
    if accepted + len(quarantine) != read:
        raise RowCountMismatch(
            f"ingest bug: table '{table}': the files hold {read} rows but {accepted} were "
            f"accepted and {len(quarantine)} quarantined ({accepted + len(quarantine)}); "
            "every row read must end up in exactly one of them. Please report this with the "
            "file that triggers it."
        )
    by_reason = quarantine["_reason"].value_counts()
    return {
        "read": read,
        "accepted": accepted,
        "quarantined": len(quarantine),
        "by_reason": {code: int(by_reason.get(code, 0)) for code in ALL_REASONS},
    }


def date_coverage(typed: pd.DataFrame, spec: TableSpec) -> list[str | None]:
    """[first, last] calendar day (UTC for instants) of the table's main time column."""
    if spec.coverage is None or typed.empty:
        return [None, None]
    col = typed[spec.coverage]
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        col = col.dt.tz_convert("UTC").dt.tz_localize(None)
    lo, hi = col.min(), col.max()
    return [None if pd.isna(v) else v.strftime("%Y-%m-%d") for v in (lo, hi)]


def accounts_without_events(accounts: pd.DataFrame, event_accounts: pd.Index) -> int:
    """Accepted accounts that have no accepted event at all (often a broken join key);
    `event_accounts`: the account_ids of the accepted events (each once)."""
    return int((~accounts["account_id"].isin(event_accounts)).sum())
