"""Signup-month cohort logo retention (a cohort x months-since table for the heatmap).

An account of cohort c (its signup month) is *retained at months_since k* when it is still a
customer at the end of month k, i.e. on that month's last day b = c + (k + 1) months - 1 day it
has not churned (churn_date, the first day without service, is NaT or later than b). Cells whose boundary b lies after as_of are left out
(not observed yet), so young cohorts have short rows.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["cohort_month", "months_since", "cohort_size", "retained_accounts", "retention"]


def cohort_retention(
    cohort_start: pd.DataFrame, lifetimes: pd.DataFrame, as_of: pd.Timestamp, max_months: int
) -> pd.DataFrame:
    """cohort_start: account_id, cohort_day (signup date). lifetimes: account_id, churn_date.

    Only accounts that ever had a contract (present in lifetimes) are counted."""
    df = lifetimes[["account_id", "churn_date"]].merge(cohort_start, on="account_id", how="inner")
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    df["cohort_month"] = df["cohort_day"].dt.to_period("M").dt.to_timestamp()
    rows = []
    for k in range(max_months + 1):
        boundary = df["cohort_month"] + pd.DateOffset(months=k + 1) - pd.Timedelta(days=1)
        observed = boundary <= as_of
        retained = df["churn_date"].isna() | (df["churn_date"] > boundary)
        cell = pd.DataFrame(
            {
                "cohort_month": df["cohort_month"],
                "observed": observed,
                "retained": retained & observed,
            }
        )
        agg = cell.groupby("cohort_month").agg(
            cohort_size=("observed", "size"),
            observed=("observed", "all"),
            retained_accounts=("retained", "sum"),
        )
        agg = agg[agg["observed"]].drop(columns="observed").reset_index()
        agg["months_since"] = k
        rows.append(agg)
    out = pd.concat(rows, ignore_index=True)
    out["retained_accounts"] = out["retained_accounts"].astype(int)
    out["cohort_size"] = out["cohort_size"].astype(int)
    out["retention"] = out["retained_accounts"] / out["cohort_size"]
    return out.sort_values(["cohort_month", "months_since"]).reset_index(drop=True)[COLUMNS]
