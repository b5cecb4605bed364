"""The one as-of date of the pipeline, whether the data are a snapshot, and end-of-data warnings.

as_of is `base.as_of` when set, else the latest date in the accepted tables: every date and
timestamp column (instants by their UTC day) except the end dates of contracts and CSM
assignments, which may lie in the future (an annual term booked to its end). In a snapshot
(no activity table has a row) there is nothing else to tell where the data end, and the
churn records are contract end dates, so those end dates count too.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from churnlab.errors import ConfigError
from churnlab.ingest.schemas import DATE, TABLE_ORDER, TABLES, TIMESTAMP

# Tables that record what customers do; without any of them the data are a snapshot.
ACTIVITY_TABLES = ("users", "events", "tickets", "surveys", "touchpoints", "milestones")
# Dates that may be scheduled beyond the end of the data.
FUTURE_DATES = {("contracts", "end_date"), ("csm_assignments", "end_date")}

# Warning thresholds (CONTRACTS.md §2).
PILE_UP_RATIO = 3.0  # last complete month > 3x the median of the 12 before it
MIN_CHURNS = 5  # fewer churns than this are too few for either warning
SINGLE_DATE_SHARE = 0.9


def parse_as_of(value: object) -> pd.Timestamp | None:
    """`base.as_of` (None, a YAML date or 'YYYY-MM-DD') as a midnight Timestamp."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return pd.Timestamp(value.date())
    if isinstance(value, dt.date):
        return pd.Timestamp(value)
    text = str(value).strip()
    try:
        return pd.Timestamp(dt.date.fromisoformat(text))
    except ValueError:
        raise ConfigError(
            f"params.yaml: base.as_of '{value}' is not a date; expected YYYY-MM-DD or null "
            "(null = the latest date in the data)"
        ) from None


def is_snapshot(accepted_rows: dict[str, int]) -> bool:
    """True when no activity table has an accepted row (absent or empty alike: a header-only
    placeholder tells nothing about where the data end). `accepted_rows`: {table: n}."""
    return not any(accepted_rows.get(t, 0) for t in ACTIVITY_TABLES)


def date_maxima(table: str, df: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """{column: latest day} over the date and timestamp columns of one accepted table
    (instants by their UTC day); columns with no value are left out."""
    out = {}
    for column, col in TABLES[table].columns.items():
        if col.kind not in (DATE, TIMESTAMP) or df.empty:
            continue
        values = df[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        top = values.max()
        if not pd.isna(top):
            out[column] = pd.Timestamp(top).normalize()
    return out


def latest_date(
    maxima: dict[str, dict[str, pd.Timestamp]], snapshot: bool
) -> tuple[pd.Timestamp | None, str | None]:
    """(latest day, 'table.column' it comes from) from `date_maxima` of each table, leaving
    out FUTURE_DATES (but counting contracts.end_date in a snapshot); (None, None) when there
    is no date. Ties go to the first table and column in contract order."""
    best, where = None, None
    for table in TABLE_ORDER:
        for column in TABLES[table].columns:
            top = maxima.get(table, {}).get(column)
            if top is None:
                continue
            if (table, column) in FUTURE_DATES and not (snapshot and table == "contracts"):
                continue
            if best is None or top > best:
                best, where = top, f"{table}.{column}"
    return best, where


def choose_as_of(
    configured: pd.Timestamp | None, maxima: dict[str, dict[str, pd.Timestamp]], snapshot: bool
) -> tuple[pd.Timestamp, str]:
    """(as_of, as_of_source): `base.as_of` when set, else `latest_date`. ValueError when
    there is no date at all (ingest never gets here without an accepted account)."""
    if configured is not None:
        return configured, "base.as_of"
    as_of, where = latest_date(maxima, snapshot)
    if as_of is None:
        raise ValueError("no date in any accepted table")
    return as_of, f"latest date in the data ({where})"


def _month_counts(churn_dates: pd.Series) -> pd.Series:
    """Churns per calendar month (index: month start)."""
    return churn_dates.dt.to_period("M").dt.to_timestamp().value_counts()


def churn_warnings(
    spells: pd.DataFrame, as_of: pd.Timestamp, first_day: pd.Timestamp | None
) -> list[dict[str, str]]:
    """End-of-data warnings from the spells (ingest's `spells` frame).

    - `churn_pile_up_at_end`: the last complete month (last day <= as_of) has >= MIN_CHURNS
      churns and more than PILE_UP_RATIO x the median of the (up to) 12 months before it,
      counting only months from `first_day` (the earliest term start) on;
    - `single_churn_date`: >= MIN_CHURNS churns and >= 90% of them on one date (a snapshot).
    A pile-up that is the single date is reported once, as single_churn_date: both have one
    cause, and the pile-up's advice (a renewal grace period) does not apply to snapshots.
    """
    churns = spells.loc[spells["churned"], "end_date"]
    out: list[dict[str, str]] = []
    if len(churns) < MIN_CHURNS:
        return out
    per_month = _month_counts(churns)
    last = (as_of + pd.Timedelta(days=1)).to_period("M").to_timestamp() - pd.DateOffset(months=1)
    earliest = first_day.to_period("M").to_timestamp() if first_day is not None else last
    before = pd.date_range(last - pd.DateOffset(months=12), periods=12, freq="MS")
    before = before[before >= earliest]
    per_day = churns.value_counts().sort_index()
    top_date, n_top = per_day.idxmax(), int(per_day.max())  # ties: the earliest date
    single_date = n_top >= SINGLE_DATE_SHARE * len(churns)
    n_last = int(per_month.get(last, 0))
    if len(before) and n_last >= MIN_CHURNS and not single_date:
        median = float(np.median([per_month.get(m, 0) for m in before]))
        if n_last > PILE_UP_RATIO * median:
            out.append(
                {
                    "code": "churn_pile_up_at_end",
                    "message": (
                        f"{n_last} accounts churned in {last:%B %Y}, the last complete month "
                        f"before as_of {as_of:%Y-%m-%d}, against a median of {median:g} a month "
                        f"in the {len(before)} months before: churn piles up at the end of the "
                        "data. Often the export ends before renewals are recorded, so terms "
                        "that simply ran to their end look like churn. Check the latest end "
                        "dates; set base.as_of earlier or raise ingest.renewal_grace_days if "
                        "so. Until then the last months' churn rates are too high."
                    ),
                }
            )
    if single_date:
        out.append(
            {
                "code": "single_churn_date",
                "message": (
                    f"{n_top} of {len(churns)} churns ({n_top / len(churns):.0%}) fall on one "
                    f"date, {top_date:%Y-%m-%d}: the data look like a snapshot, where a churned "
                    "account is dated the export day rather than the day it left. Churn timing "
                    "is unknown within the export and there is no usage history: monthly churn "
                    "rates and survival curves place all churn on that date; comparisons "
                    "between plans, segments or billing periods still hold."
                ),
            }
        )
    return out
