"""`churnlab kpis`: subscription KPIs from the validated contract history.

Reads data/interim/{contracts,accounts}.parquet (and tables.json for the data's last date),
writes models/kpis.json, data/processed/kpi_tables/*.parquet and metrics/kpis.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from churnlab.config import base_path, metrics_path
from churnlab.errors import UserError
from churnlab.io import read_json, write_json, write_parquet
from churnlab.kpis.cohorts import cohort_retention
from churnlab.kpis.lifetimes import account_lifetimes, active_at
from churnlab.kpis.monthly import (
    account_months,
    complete_months,
    monthly_series,
    summarise,
    trailing_retention,
)
from churnlab.kpis.survival import durations, km_curves, median_months

DEFINITIONS = {
    "active_accounts": "Accounts with a running contract (start_date <= day < end_date, or no "
    "end_date) on the last day of the previous month (the month's opening state); a month's "
    "closing state is its own last day, so a change effective on day d counts in d's month.",
    "logo_churn": "An account churns when its last contract has ended (end_date <= as_of) and "
    "no contract is running or starts later; the churn date is that end_date. A cancellation "
    "notice (cancelled_at) does not churn by itself: the account leaves at the term end.",
    "logo_churn_rate": "Accounts active on the first day of the month whose churn date falls "
    "in that month, divided by active_accounts.",
    "mrr_bridge": "Each account's MRR at the month's opening (s) is compared with its "
    "MRR on the month's last day (e). Not active -> active: new_mrr += e (includes "
    "reactivations). Active -> not active: churned_mrr += s. Active on both: expansion_mrr += "
    "e - s if it grew, contraction_mrr += s - e if it shrank. Changes within a month net out.",
    "grr": "Gross revenue retention = (mrr_start - contraction_mrr - churned_mrr) / mrr_start; "
    "expansion and new MRR are excluded, so GRR <= 100%.",
    "nrr": "Net revenue retention = (mrr_start + expansion_mrr - contraction_mrr - "
    "churned_mrr) / mrr_start; new MRR is excluded.",
    "pooled_rates": "Headline monthly rates pool the last `headline_months` complete months: "
    "sum of numerators / sum of denominators.",
    "grr_12m_nrr_12m": "Accounts active on the last day of the month 12 months before the last "
    "complete month: their MRR then vs on the last complete month's last day (GRR caps each "
    "account at its earlier MRR).",
    "cohort_retention": "Signup-month cohorts; retained at months_since k = still a customer "
    "(not logo-churned) on the last day of month k since signup (k = 0 is the signup month). "
    "Unobserved cells omitted.",
    "km_curves": "Kaplan-Meier logo retention from the first contract start (months = days / "
    "30.4375), censored at as_of, left-truncated at observation_start; billing_period is the "
    "account's first contract's.",
    "complete_months": "Only months whose last day is on or before as_of are reported.",
    "observation_start": "First day churn is recorded (kpis.observation_start, else the "
    "earliest churn date). Accounts that started earlier are in the data because they "
    "survived to it: the monthly series starts in that month, cohorts that signed up before "
    "it are omitted, and KM curves let those accounts enter the risk set at that date.",
}


def _read_table(interim: Path, name: str) -> pd.DataFrame:
    path = interim / f"{name}.parquet"
    if not path.exists():
        raise UserError(f"{path}: not found (run `churnlab ingest` first)")
    return pd.read_parquet(path)


def _check_columns(df: pd.DataFrame, path: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}")


def resolve_as_of(
    configured: str | None, contracts: pd.DataFrame, tables_meta: dict[str, Any] | None
) -> pd.Timestamp:
    """The configured as-of date, else the last date the data covers: the latest contract
    start / cancellation and, if ingest recorded it, the latest event."""
    if configured:
        return pd.Timestamp(configured).normalize()
    candidates = [contracts["start_date"].max(), contracts["cancelled_at"].max()]
    coverage = (tables_meta or {}).get("date_coverage", {}) or {}
    for table in ("events", "touchpoints", "tickets"):
        rng = coverage.get(table)
        if rng and rng[-1]:
            candidates.append(pd.Timestamp(rng[-1]).tz_localize(None).normalize())
    candidates = [c for c in candidates if pd.notna(c)]
    if not candidates:
        raise UserError("contracts.parquet: no start_date values; cannot infer as_of")
    return max(pd.Timestamp(c) for c in candidates).normalize()


def observed_from(life: pd.DataFrame, contracts: pd.DataFrame) -> pd.Timestamp:
    """Default observation start: the earliest churn date (else the earliest contract)."""
    churns = life["churn_date"].dropna()
    return churns.min() if len(churns) else contracts["start_date"].min()


def compute_kpis(
    contracts: pd.DataFrame,
    accounts: pd.DataFrame,
    as_of: pd.Timestamp,
    headline_months: int,
    cohort_months: int,
    observation_start: pd.Timestamp | None = None,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """All KPI numbers (JSON-ready dict) and report tables, from typed contracts/accounts.

    observation_start: the first day churn is recorded (None = the earliest churn date in the
    data). Accounts that started earlier are in the data only because they survived to it, so
    the monthly series starts in that month, cohorts signed up earlier are left out, and the
    KM curves treat those accounts as entering the risk set late (left truncation)."""
    contracts = contracts[contracts["start_date"] <= as_of]
    life = account_lifetimes(contracts, as_of)
    if observation_start is None:
        observation_start = observed_from(life, contracts)
    first_month = observation_start.to_period("M").to_timestamp()
    months = complete_months(max(contracts["start_date"].min(), first_month), as_of)
    am = account_months(contracts, life, months)
    series = monthly_series(am, months)

    window = months[-headline_months:]
    recent = am[am["month"].isin(window)]
    pooled = summarise(recent.assign(all="all"), ["all"])
    by_bp = summarise(recent, ["billing_period"]) if len(recent) else pd.DataFrame()
    headline: dict[str, Any] = {
        "as_of": as_of.date().isoformat(),
        "window_months": [m.date().isoformat() for m in window[[0, -1]]] if len(window) else [],
        "monthly_logo_churn": float(pooled["logo_churn_rate"].iloc[0]) if len(pooled) else None,
        "monthly_grr": float(pooled["grr"].iloc[0]) if len(pooled) else None,
        "monthly_nrr": float(pooled["nrr"].iloc[0]) if len(pooled) else None,
        "monthly_logo_churn_by_billing_period": {
            r.billing_period: float(r.logo_churn_rate) for r in by_bp.itertuples()
        }
        if len(by_bp)
        else {},
    }
    if headline["monthly_logo_churn"] is not None:
        headline["annualised_logo_churn"] = 1 - (1 - headline["monthly_logo_churn"]) ** 12
    if len(months):
        # last day of the last complete month vs the same day a year earlier
        next_start = months[-1] + pd.offsets.MonthBegin(1)
        t1 = next_start - pd.Timedelta(days=1)
        t0 = next_start - pd.DateOffset(months=12) - pd.Timedelta(days=1)
        if t0 + pd.Timedelta(days=1) >= months[0]:
            trailing = trailing_retention(contracts, t0, t1)
            headline["grr_12m"] = trailing["grr"]
            headline["nrr_12m"] = trailing["nrr"]
            headline["retention_12m_window"] = [t0.date().isoformat(), t1.date().isoformat()]
        else:
            headline["grr_12m"] = headline["nrr_12m"] = None
    now = active_at(contracts, [as_of])
    headline["active_accounts_now"] = int(len(now))
    headline["mrr_now"] = float(now["mrr"].sum())
    headline["accounts_ever"] = int(len(life))
    headline["accounts_churned"] = int(life["churned"].sum())

    attrs = accounts.set_index("account_id")
    life_attrs = life.join(attrs[["segment", "customer_goal"]], on="account_id")
    dur = durations(life, as_of, observation_start)
    curves = km_curves(
        dur,
        {
            "segment": life_attrs["segment"].reset_index(drop=True),
            "customer_goal": life_attrs["customer_goal"].reset_index(drop=True),
            "billing_period": life["first_billing_period"].reset_index(drop=True),
        },
    )
    headline["km_median_months"] = median_months(curves)

    signup = accounts[["account_id", "signup_date"]].rename(columns={"signup_date": "cohort_day"})
    first = life[["account_id", "first_start"]].set_index("account_id")["first_start"]
    signup["cohort_day"] = signup["cohort_day"].fillna(signup["account_id"].map(first))
    signup = signup[signup["cohort_day"] >= first_month]
    cohorts = cohort_retention(signup, life, as_of, cohort_months)
    headline["observation_start"] = observation_start.date().isoformat()

    result = {
        "schema_version": 1,
        "as_of": as_of.date().isoformat(),
        "definitions": DEFINITIONS,
        "headline": headline,
        "monthly": [
            {**rec, "month": rec["month"].date().isoformat()}
            for rec in series.to_dict(orient="records")
        ],
    }
    tables = {"monthly": series, "cohort_retention": cohorts, "km_curves": curves}
    return result, tables


def run(params: dict) -> None:
    interim = base_path(params, "interim_dir")
    processed = base_path(params, "processed_dir")
    models = base_path(params, "models_dir")
    cfg = params.get("kpis", {}) or {}

    contracts = _read_table(interim, "contracts")
    accounts = _read_table(interim, "accounts")
    _check_columns(
        contracts,
        str(interim / "contracts.parquet"),
        ["contract_id", "account_id", "start_date", "end_date", "billing_period", "mrr"],
    )
    _check_columns(
        accounts,
        str(interim / "accounts.parquet"),
        ["account_id", "signup_date", "segment", "customer_goal"],
    )
    if "cancelled_at" not in contracts.columns:
        contracts["cancelled_at"] = pd.NaT
    meta_path = interim / "tables.json"
    tables_meta = read_json(meta_path) if meta_path.exists() else None
    as_of = resolve_as_of((params.get("panel") or {}).get("as_of"), contracts, tables_meta)

    obs = cfg.get("observation_start")
    result, tables = compute_kpis(
        contracts,
        accounts,
        as_of,
        headline_months=int(cfg.get("headline_months", 12)),
        cohort_months=int(cfg.get("cohort_months", 12)),
        observation_start=pd.Timestamp(obs) if obs else None,
    )
    write_json(models / "kpis.json", result)
    for name, table in tables.items():
        write_parquet(table, processed / "kpi_tables" / f"{name}.parquet")
    h = result["headline"]
    write_json(
        metrics_path("kpis"),
        {
            "as_of": h["as_of"],
            "monthly_logo_churn": h["monthly_logo_churn"],
            "monthly_grr": h["monthly_grr"],
            "monthly_nrr": h["monthly_nrr"],
            "grr_12m": h.get("grr_12m"),
            "nrr_12m": h.get("nrr_12m"),
            "active_accounts_now": h["active_accounts_now"],
            "mrr_now": h["mrr_now"],
        },
    )
