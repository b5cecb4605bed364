"""Monthly subscription KPIs: logo churn rate and the MRR bridge behind GRR / NRR.

Definitions (stated in models/kpis.json too):
- A month m runs from its first day `ms` to the first day of the next month `ns`. Its opening
  state is taken on the eve `ms - 1 day` (the last day of the previous month) and its closing
  state on its own last day `ns - 1 day`, so a change effective on day d (a term starting, or
  a churn date = exclusive end) lands in the month containing d. Only months whose last day is
  <= as_of are reported.
- active_accounts = accounts with a piece in force on the opening day (spells.py).
- Each account-month compares the spell and MRR in force at the opening (k_s, s) and at the
  closing (k_e, e):
  same spell running at both: e > s -> expansion_mrr += e - s, e < s -> contraction_mrr += s - e;
  the opening spell is no longer running at the close -> it churned in the month:
  churned_accounts += 1, churned_mrr += s;
  the closing spell started in the month -> spell 1: new_accounts += 1, new_mrr += e;
  spell k > 1: reactivated_accounts += 1, reactivated_mrr += e.
  (An account can churn and come back in one month: both lines.) Changes inside a month net
  out, and a spell that starts and ends inside one month appears in no line.
  mrr_end = mrr_start + new + reactivated + expansion - contraction - churned.
- logo_churn_rate = churned_accounts / active_accounts.
- grr = (mrr_start - contraction - churned) / mrr_start  (never above 1)
  nrr = (mrr_start + expansion - contraction - churned) / mrr_start  (new and reactivated MRR
  excluded: they are not the opening base's revenue)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.kpis.spells import state_at

DAY = pd.Timedelta(days=1)

SERIES_COLUMNS = [
    "month",
    "active_accounts",
    "churned_accounts",
    "logo_churn_rate",
    "new_accounts",
    "reactivated_accounts",
    "mrr_start",
    "mrr_end",
    "new_mrr",
    "reactivated_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churned_mrr",
    "grr",
    "nrr",
]
COUNT_COLUMNS = ["active_accounts", "churned_accounts", "new_accounts", "reactivated_accounts"]
AM_COLUMNS = [
    "account_id", "month", "spell_start", "spell_end", "mrr_start", "mrr_end", "billing_period",
]  # fmt: skip


def complete_months(first_day: pd.Timestamp, as_of: pd.Timestamp) -> pd.DatetimeIndex:
    """Month starts from the month of `first_day` whose last day is <= as_of."""
    start = first_day.to_period("M").to_timestamp()
    months = pd.date_range(start, as_of, freq="MS")
    return months[(months + pd.offsets.MonthBegin(1) - DAY) <= as_of]


def account_months(terms: pd.DataFrame, months: pd.DatetimeIndex) -> pd.DataFrame:
    """One row per account x month where the account is active at either boundary: AM_COLUMNS.

    spell_start / spell_end: the spell in force on the opening / closing day (<NA> = none);
    mrr_* 0.0 when not active; billing_period of the opening piece (else the closing one)."""
    months = pd.DatetimeIndex(months)
    if len(months) == 0:
        return pd.DataFrame(columns=AM_COLUMNS)
    # opening day of each month, plus the closing day of the last one: eve i opens month i
    # and closes month i - 1
    eves = months.append(pd.DatetimeIndex([months[-1] + pd.offsets.MonthBegin(1)])) - DAY
    state = state_at(terms, eves)
    # join on integer codes (account, eve position): string keys made this the slow part
    codes, names = pd.factorize(state["account_id"])
    pos = eves.get_indexer(state["date"])
    cols = {"spell": state["spell"].to_numpy(), "mrr": state["mrr"].to_numpy()}
    opening = pd.DataFrame({"code": codes, "m": pos, **cols, "bp": state["billing_period"]})
    closing = pd.DataFrame({"code": codes, "m": pos - 1, **cols, "bp": state["billing_period"]})
    am = opening[opening["m"] < len(months)].merge(
        closing[closing["m"] >= 0], on=["code", "m"], how="outer", suffixes=("_start", "_end")
    )
    am = am.sort_values(["m", "code"], kind="stable")
    am = pd.DataFrame(
        {
            "account_id": names.to_numpy()[am["code"].to_numpy()],
            "month": months[am["m"].to_numpy()],
            "spell_start": am["spell_start"].astype("Int64"),
            "spell_end": am["spell_end"].astype("Int64"),
            "mrr_start": am["mrr_start"].fillna(0.0),
            "mrr_end": am["mrr_end"].fillna(0.0),
            "billing_period": am["bp_start"].fillna(am["bp_end"]),
        }
    )
    return am.reset_index(drop=True)[AM_COLUMNS]


def bridge_columns(am: pd.DataFrame) -> pd.DataFrame:
    """Per-row counts and MRR movements of the bridge (see module docstring)."""
    active_start = am["spell_start"].notna().to_numpy()
    active_end = am["spell_end"].notna().to_numpy()
    ks = am["spell_start"].fillna(0).to_numpy(dtype="int64")
    ke = am["spell_end"].fillna(0).to_numpy(dtype="int64")
    same = active_start & active_end & (ks == ke)
    churned = active_start & ~same
    started = active_end & ~same
    s = am["mrr_start"].to_numpy(dtype=float)
    e = am["mrr_end"].to_numpy(dtype=float)
    diff = e - s
    return pd.DataFrame(
        {
            "active_accounts": active_start.astype(int),
            "churned_accounts": churned.astype(int),
            "new_accounts": (started & (ke == 1)).astype(int),
            "reactivated_accounts": (started & (ke > 1)).astype(int),
            "mrr_start": np.where(active_start, s, 0.0),
            "mrr_end": np.where(active_end, e, 0.0),
            "new_mrr": np.where(started & (ke == 1), e, 0.0),
            "reactivated_mrr": np.where(started & (ke > 1), e, 0.0),
            "expansion_mrr": np.where(same & (diff > 0), diff, 0.0),
            "contraction_mrr": np.where(same & (diff < 0), -diff, 0.0),
            "churned_mrr": np.where(churned, s, 0.0),
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
    agg = flows.groupby(by, sort=True).sum(numeric_only=True).reset_index()
    return _rates(agg)


def monthly_series(am: pd.DataFrame, months: pd.DatetimeIndex) -> pd.DataFrame:
    """The monthly KPI series, one row per complete month (zeros for months with no activity)."""
    agg = summarise(am, ["month"]).set_index("month")
    agg = agg.reindex(pd.DatetimeIndex(months, name="month"))
    count_cols = [c for c in SERIES_COLUMNS if c not in ("month", "logo_churn_rate", "grr", "nrr")]
    agg[count_cols] = agg[count_cols].fillna(0)
    agg = _rates(agg.reset_index())
    for col in COUNT_COLUMNS:
        agg[col] = agg[col].astype(int)
    return agg[SERIES_COLUMNS]


def trailing_retention(
    terms: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp
) -> dict[str, float | None]:
    """GRR and NRR of the accounts active on day t0, measured on day t1 (e.g. a year later).

    An account counts at t1 only in the spell it was in at t0 (revenue after a churn and a
    reactivation is not the t0 base's). GRR caps each account at its t0 MRR; NRR counts
    expansion."""
    state = state_at(terms, [t0, t1]).set_index(["account_id", "spell"])
    s0 = state.loc[state["date"] == t0, "mrr"]
    s1 = state.loc[state["date"] == t1, "mrr"].reindex(s0.index).fillna(0.0)
    base = float(s0.sum())
    if base <= 0:
        return {"grr": None, "nrr": None, "base_mrr": base, "accounts": int(len(s0))}
    return {
        "grr": float(np.minimum(s0, s1).sum() / base),
        "nrr": float(s1.sum() / base),
        "base_mrr": base,
        "accounts": int(len(s0)),
    }
