"""Cohort logo retention (a cohort x months-since table for the heatmap).

Cohort c of an account = the month its first spell started. The account is *retained at
months_since k* when it has a piece in force (spells.py: any spell, so a reactivated account
counts again) on month k's last day b = c + (k + 1) months - 1 day. Cells whose b lies after
as_of are left out (not observed yet), so young cohorts have short rows.
"""

from __future__ import annotations

import pandas as pd

from churnlab.kpis.spells import state_at

COLUMNS = ["cohort_month", "months_since", "cohort_size", "retained_accounts", "retention"]


def cohort_retention(
    first_start: pd.DataFrame, terms: pd.DataFrame, as_of: pd.Timestamp, max_months: int
) -> pd.DataFrame:
    """first_start: account_id, first_start (first spell's start; only these accounts are
    counted). terms: terms_in_force(). Returns COLUMNS, long format, sorted."""
    if first_start.empty:
        return pd.DataFrame(columns=COLUMNS)
    df = first_start[["account_id"]].copy()
    df["cohort_month"] = first_start["first_start"].dt.to_period("M").dt.to_timestamp()
    # one boundary per (cohort month, k), computed on the few distinct pairs
    grid = pd.DataFrame(
        [
            (c, k, c + pd.DateOffset(months=k + 1) - pd.Timedelta(days=1))
            for c in sorted(df["cohort_month"].unique())
            for k in range(max_months + 1)
        ],
        columns=["cohort_month", "months_since", "boundary"],
    )
    cells = df.merge(grid, on="cohort_month")
    cells = cells[cells["boundary"] <= as_of]
    if cells.empty:
        return pd.DataFrame(columns=COLUMNS)
    active = state_at(terms[terms["account_id"].isin(df["account_id"])], cells["boundary"])
    active = active[["account_id", "date"]].assign(retained=1)
    cells = cells.merge(
        active, left_on=["account_id", "boundary"], right_on=["account_id", "date"], how="left"
    )
    out = (
        cells.groupby(["cohort_month", "months_since"], sort=True)
        .agg(cohort_size=("account_id", "size"), retained_accounts=("retained", "sum"))
        .reset_index()
    )
    out["cohort_size"] = out["cohort_size"].astype(int)
    out["retained_accounts"] = out["retained_accounts"].astype(int)
    out["retention"] = out["retained_accounts"] / out["cohort_size"]
    return out[COLUMNS]
