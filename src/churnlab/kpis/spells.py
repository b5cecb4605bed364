"""Per-account lifetimes from a contract history: first start, churn date, current state.

Contract semantics (CONTRACTS.md §1): terms are consecutive; `end_date` is exclusive and null
for an open-ended monthly plan. An account is *active on day d* when one of its contracts has
`start_date <= d < end_date` (or no end). **Logo churn** = the account's last contract has
ended (`end_date <= as_of`) with nothing running or starting later; the churn date is that
`end_date` (the first day without service). `cancelled_at` is only the notice date: an annual
contract cancelled mid-term still churns at its term end.
"""

from __future__ import annotations

import pandas as pd


def account_lifetimes(contracts: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per account: first_start, churn_date (NaT = still a customer), churned, first
    billing_period (the plan at time zero, so grouping never looks into the future)."""
    c = contracts[contracts["start_date"] <= as_of].sort_values(
        ["account_id", "start_date", "contract_id"]
    )
    if c.empty:
        return pd.DataFrame(
            columns=["account_id", "first_start", "churn_date", "churned", "first_billing_period"]
        )
    grouped = c.groupby("account_id", sort=True)
    out = pd.DataFrame(
        {
            "first_start": grouped["start_date"].min(),
            "last_end": grouped["end_date"].max(),
            # any open-ended contract means the account is still running
            "has_open": grouped["end_date"].apply(lambda s: bool(s.isna().any())),
            "first_billing_period": grouped["billing_period"].first(),
        }
    )
    # contracts dated after as_of (e.g. a renewal already booked) also mean "not churned"
    later = contracts.loc[contracts["start_date"] > as_of, "account_id"].unique()
    ended = ~out["has_open"] & (out["last_end"] <= as_of) & ~out.index.isin(later)
    out["churned"] = ended
    out["churn_date"] = out["last_end"].where(ended)
    out = out.reset_index()
    return out[["account_id", "first_start", "churn_date", "churned", "first_billing_period"]]


def active_at(contracts: pd.DataFrame, dates: pd.DatetimeIndex | list) -> pd.DataFrame:
    """State of every account at each date: active flag, MRR and billing period.

    Returns rows only for (account, date) pairs where the account is active; MRR is summed over
    running contracts (ingest guarantees they do not overlap, so that is the one contract)."""
    dates = pd.DataFrame({"date": pd.DatetimeIndex(dates)})
    c = contracts[["account_id", "start_date", "end_date", "mrr", "billing_period"]]
    pairs = c.merge(dates, how="cross")
    running = (pairs["start_date"] <= pairs["date"]) & (
        pairs["end_date"].isna() | (pairs["end_date"] > pairs["date"])
    )
    pairs = pairs[running]
    out = (
        pairs.sort_values(["account_id", "date", "start_date"])
        .groupby(["account_id", "date"], sort=True)
        .agg(mrr=("mrr", "sum"), billing_period=("billing_period", "last"))
        .reset_index()
    )
    return out
