"""Monthly subscription KPIs: logo churn rate and the MRR bridge behind GRR / NRR.

Definitions (stated in models/kpis.json too):
- A month m runs from its first day `ms` to the first day of the next month `ns`. Its opening
  state is taken on the eve `ms - 1 day` (the last day of the previous month) and its closing
  state on its own last day `ns - 1 day`, so a change effective on day d (a new term starting,
  or a churn date = exclusive end) lands in the month containing d. Only months whose last
  day is <= as_of are reported.
- active_accounts = accounts with a running contract on the opening day.
- logo_churn_rate = accounts active on the opening day whose churn date (see lifetimes.py)
  falls in [ms, ns) / active_accounts.
- MRR bridge compares each account's MRR on the opening day (s) and on the closing day (e):
  inactive -> active: new_mrr += e; active -> inactive: churned_mrr += s;
  active on both: e > s -> expansion_mrr += e - s, e < s -> contraction_mrr += s - e.
  Changes inside a month net out (an upgrade then a downgrade back counts as nothing).
- grr = (mrr_start - contraction - churned) / mrr_start  (never above 1)
  nrr = (mrr_start + expansion - contraction - churned) / mrr_start  (new MRR excluded)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.kpis.lifetimes import active_at

DAY = pd.Timedelta(days=1)

SERIES_COLUMNS = [
    "month",
    "active_accounts",
    "churned_accounts",
    "logo_churn_rate",
    "new_accounts",
    "mrr_start",
    "mrr_end",
    "new_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churned_mrr",
    "grr",
    "nrr",
]


def complete_months(first_day: pd.Timestamp, as_of: pd.Timestamp) -> pd.DatetimeIndex:
    """Month starts from the month of `first_day` whose last day is <= as_of."""
    start = first_day.to_period("M").to_timestamp()
    months = pd.date_range(start, as_of, freq="MS")
    return months[(months + pd.offsets.MonthBegin(1) - DAY) <= as_of]


def account_months(
    contracts: pd.DataFrame, lifetimes: pd.DataFrame, months: pd.DatetimeIndex
) -> pd.DataFrame:
    """One row per account x month where the account is active at either boundary."""
    months = pd.DatetimeIndex(months)
    if len(months) == 0:
        return pd.DataFrame(
            columns=[
                "account_id",
                "month",
                "active_start",
                "active_end",
                "mrr_start",
                "mrr_end",
                "billing_period",
                "churned",
            ]
        )
    # opening day of each month, plus the closing day of the last one
    eves = months.append(pd.DatetimeIndex([months[-1] + pd.offsets.MonthBegin(1)])) - DAY
    state = active_at(contracts, eves)
    state["date"] = state["date"] + DAY  # the month that this eve opens
    start = state.rename(columns={"date": "month", "mrr": "mrr_start"})
    end = state.rename(columns={"date": "month", "mrr": "mrr_end"}).drop(columns="billing_period")
    end["month"] = end["month"] - pd.offsets.MonthBegin(1)
    start["active_start"] = True
    end["active_end"] = True
    am = start.merge(end, on=["account_id", "month"], how="outer")
    am = am[am["month"].isin(months)]
    am["active_start"] = am["active_start"].astype("boolean").fillna(False).astype(bool)
    am["active_end"] = am["active_end"].astype("boolean").fillna(False).astype(bool)
    am["mrr_start"] = am["mrr_start"].fillna(0.0)
    am["mrr_end"] = am["mrr_end"].fillna(0.0)
    churn = lifetimes.set_index("account_id")["churn_date"]
    cd = am["account_id"].map(churn)
    next_month = am["month"] + pd.offsets.MonthBegin(1)
    am["churned"] = am["active_start"] & (cd >= am["month"]) & (cd < next_month)
    return am.sort_values(["month", "account_id"]).reset_index(drop=True)


def bridge_columns(am: pd.DataFrame) -> pd.DataFrame:
    """Per-row MRR movements of the bridge (see module docstring)."""
    both = am["active_start"] & am["active_end"]
    diff = am["mrr_end"] - am["mrr_start"]
    return pd.DataFrame(
        {
            "new_mrr": np.where(~am["active_start"] & am["active_end"], am["mrr_end"], 0.0),
            "churned_mrr": np.where(am["active_start"] & ~am["active_end"], am["mrr_start"], 0.0),
            "expansion_mrr": np.where(both & (diff > 0), diff, 0.0),
            "contraction_mrr": np.where(both & (diff < 0), -diff, 0.0),
            "mrr_start": np.where(am["active_start"], am["mrr_start"], 0.0),
            "mrr_end": np.where(am["active_end"], am["mrr_end"], 0.0),
            "active_start": am["active_start"].astype(int),
            "new_accounts": (~am["active_start"] & am["active_end"]).astype(int),
            "churned_accounts": am["churned"].astype(int),
        },
        index=am.index,
    )


def _rates(agg: pd.DataFrame) -> pd.DataFrame:
    agg = agg.copy()
    s = agg["mrr_start"].replace(0.0, np.nan)
    agg["logo_churn_rate"] = agg["churned_accounts"] / agg["active_accounts"].replace(0, np.nan)
    agg["grr"] = (agg["mrr_start"] - agg["contraction_mrr"] - agg["churned_mrr"]) / s
    agg["nrr"] = (
        agg["mrr_start"] + agg["expansion_mrr"] - agg["contraction_mrr"] - agg["churned_mrr"]
    ) / s
    return agg


def summarise(am: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sum the bridge over `by` (e.g. ["month"] or ["billing_period"]) and derive the rates."""
    flows = bridge_columns(am)
    for col in by:
        flows[col] = am[col]
    agg = (
        flows.groupby(by, sort=True)
        .sum(numeric_only=True)
        .rename(columns={"active_start": "active_accounts"})
        .reset_index()
    )
    return _rates(agg)


def monthly_series(am: pd.DataFrame, months: pd.DatetimeIndex) -> pd.DataFrame:
    """The monthly KPI series, one row per complete month (zeros for months with no activity)."""
    agg = summarise(am, ["month"]).set_index("month")
    agg = agg.reindex(pd.DatetimeIndex(months, name="month"))
    count_cols = [c for c in SERIES_COLUMNS if c not in ("month", "logo_churn_rate", "grr", "nrr")]
    agg[count_cols] = agg[count_cols].fillna(0)
    agg = _rates(agg.reset_index())
    for col in ("active_accounts", "churned_accounts", "new_accounts"):
        agg[col] = agg[col].astype(int)
    return agg[SERIES_COLUMNS]


def trailing_retention(
    contracts: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp
) -> dict[str, float | None]:
    """GRR and NRR of the accounts active on day t0, measured on day t1 (e.g. a year later).

    GRR caps each account at its t0 MRR (expansion does not count); NRR counts expansion."""
    state = active_at(contracts, [t0, t1])
    s0 = state[state["date"] == t0].set_index("account_id")["mrr"]
    s1 = state[state["date"] == t1].set_index("account_id")["mrr"].reindex(s0.index).fillna(0.0)
    base = float(s0.sum())
    if base <= 0:
        return {"grr": None, "nrr": None, "base_mrr": base, "accounts": int(len(s0))}
    return {
        "grr": float(np.minimum(s0, s1).sum() / base),
        "nrr": float(s1.sum() / base),
        "base_mrr": base,
        "accounts": int(len(s0)),
    }
