"""KPI definitions checked on a hand-made contract history with hand-computed answers.

Accounts (as_of 2025-07-01, so the complete months are Jan 2024 .. Jun 2025):
A renewal at the same MRR, B downgrade at renewal, C mid-term upgrade (expansion),
D annual cancelled mid-term (leaves at the term end, 2025-03-01), E monthly plan cancelled,
F monthly open-ended plan with an upgrade.
"""

import json

import numpy as np
import pandas as pd
import pytest

from churnlab.kpis.lifetimes import account_lifetimes
from churnlab.kpis.stage import compute_kpis, resolve_as_of, run

T = pd.Timestamp
AS_OF = T("2025-07-01")


def contract_rows():
    rows = [
        ("A1", "A", "2024-01-01", "2025-01-01", "annual", 100.0, None),
        ("A2", "A", "2025-01-01", "2026-01-01", "annual", 100.0, None),
        ("B1", "B", "2024-02-01", "2025-02-01", "annual", 200.0, None),
        ("B2", "B", "2025-02-01", "2026-02-01", "annual", 150.0, None),
        ("C1", "C", "2024-01-01", "2024-06-15", "annual", 50.0, None),
        ("C2", "C", "2024-06-15", "2025-06-15", "annual", 80.0, None),
        ("C3", "C", "2025-06-15", "2026-06-15", "annual", 80.0, None),
        ("D1", "D", "2024-03-01", "2025-03-01", "annual", 120.0, "2024-09-10"),
        ("E1", "E", "2024-01-10", "2024-05-10", "monthly", 30.0, "2024-04-20"),
        ("F1", "F", "2024-04-01", "2024-11-01", "monthly", 40.0, None),
        ("F2", "F", "2024-11-01", None, "monthly", 60.0, None),
    ]
    df = pd.DataFrame(
        rows,
        columns=[
            "contract_id",
            "account_id",
            "start_date",
            "end_date",
            "billing_period",
            "mrr",
            "cancelled_at",
        ],
    )
    for col in ("start_date", "end_date", "cancelled_at"):
        df[col] = pd.to_datetime(df[col])
    df["seats"] = 1
    return df


def account_rows():
    signup = {"A": "2024-01-01", "B": "2024-02-01", "C": "2024-01-01", "D": "2024-03-01"}
    signup |= {"E": "2024-01-10", "F": "2024-04-01"}
    return pd.DataFrame(
        {
            "account_id": list(signup),
            "name": [f"Firma {k}" for k in signup],
            "signup_date": pd.to_datetime(list(signup.values())),
            "segment": ["smb", "enterprise", "smb", "mid_market", "smb", "smb"],
            "customer_goal": ["learn_myself"] * 3 + ["done_for_me"] * 3,
            "region": "eu",
        }
    )


@pytest.fixture(scope="module")
def kpis():
    return compute_kpis(
        contract_rows(), account_rows(), AS_OF, headline_months=12, cohort_months=12,
        observation_start=T("2024-01-01"),
    )  # fmt: skip


def month_row(result, month):
    return next(r for r in result["monthly"] if r["month"] == month)


def test_churn_dates_follow_term_end_not_notice():
    life = account_lifetimes(contract_rows(), AS_OF).set_index("account_id")
    assert life.loc["D", "churn_date"] == T("2025-03-01")  # notice 2024-09-10 is not churn
    assert life.loc["E", "churn_date"] == T("2024-05-10")
    assert not life.loc[["A", "B", "C", "F"], "churned"].any()
    # same history seen from before D's term end: D is still a customer
    early = account_lifetimes(contract_rows(), T("2025-02-28")).set_index("account_id")
    assert not early.loc["D", "churned"]


def test_monthly_series_hand_computed(kpis):
    result, _ = kpis
    assert [r["month"] for r in result["monthly"]][0] == "2024-01-01"
    assert result["monthly"][-1]["month"] == "2025-06-01"  # July 2025 is not complete
    jan = month_row(result, "2024-01-01")
    assert (jan["active_accounts"], jan["new_accounts"], jan["new_mrr"]) == (0, 3, 180.0)
    assert jan["logo_churn_rate"] is None or np.isnan(jan["logo_churn_rate"])

    may = month_row(result, "2024-05-01")  # monthly plan E leaves on 2024-05-10
    assert may["active_accounts"] == 6 and may["churned_accounts"] == 1
    assert may["logo_churn_rate"] == pytest.approx(1 / 6)
    assert may["mrr_start"] == 540.0 and may["churned_mrr"] == 30.0
    assert may["grr"] == pytest.approx(510 / 540)

    jun = month_row(result, "2024-06-01")  # C upgrades 50 -> 80 mid-term
    assert jun["expansion_mrr"] == 30.0 and jun["grr"] == 1.0
    assert jun["nrr"] == pytest.approx(540 / 510)

    nov = month_row(result, "2024-11-01")  # F upgrades 40 -> 60
    assert nov["expansion_mrr"] == 20.0

    jan25 = month_row(result, "2025-01-01")  # A renews at the same MRR: nothing moves
    flows = ("new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr")
    assert all(jan25[k] == 0.0 for k in flows) and jan25["nrr"] == 1.0

    feb25 = month_row(result, "2025-02-01")  # B downgrades 200 -> 150 at renewal
    assert feb25["contraction_mrr"] == 50.0 and feb25["churned_accounts"] == 0
    assert feb25["grr"] == pytest.approx(510 / 560)

    mar25 = month_row(result, "2025-03-01")  # D's term ends on the 1st: churn in March
    assert mar25["active_accounts"] == 5 and mar25["churned_accounts"] == 1
    assert mar25["churned_mrr"] == 120.0 and mar25["mrr_start"] == 510.0

    apr25 = month_row(result, "2025-04-01")
    assert apr25["active_accounts"] == 4 and apr25["mrr_start"] == 390.0


def test_headline_pooled_and_trailing(kpis):
    h = kpis[0]["headline"]
    assert h["window_months"] == ["2024-07-01", "2025-06-01"]
    assert h["monthly_logo_churn"] == pytest.approx(1 / 57)
    assert h["monthly_grr"] == pytest.approx(5890 / 6060)
    assert h["monthly_nrr"] == pytest.approx(5910 / 6060)
    assert h["monthly_logo_churn_by_billing_period"] == {
        "annual": pytest.approx(1 / 45),
        "monthly": 0.0,
    }
    # 2024-06-30 -> 2025-06-30: A 100->100, B 200->150, C 80->80, D 120->0, F 40->60
    assert h["grr_12m"] == pytest.approx(370 / 540)
    assert h["nrr_12m"] == pytest.approx(390 / 540)
    assert h["grr_12m"] <= 1.0 < h["nrr_12m"] + 1  # sanity on types
    assert h["active_accounts_now"] == 4 and h["mrr_now"] == 390.0
    assert h["accounts_churned"] == 2


def test_cohort_retention_cells(kpis):
    cohorts = kpis[1]["cohort_retention"].set_index(["cohort_month", "months_since"])
    jan = cohorts.loc[T("2024-01-01")]
    assert jan.loc[0, "cohort_size"] == 3
    assert jan.loc[3, "retained_accounts"] == 3  # E still a customer on 2024-04-30
    assert jan.loc[4, "retained_accounts"] == 2  # E gone by 2024-05-31
    assert jan.loc[12, "retention"] == pytest.approx(2 / 3)
    mar = cohorts.loc[T("2024-03-01")]
    assert mar.loc[11, "retention"] == 1.0 and mar.loc[12, "retention"] == 0.0
    # April 2024 cohort (F): month 15 ends 2025-07-31, after as_of -> not observed
    apr = cohorts.loc[T("2024-04-01")]
    assert apr.index.max() == 12 and (apr["retention"] == 1.0).all()


def test_km_curve_hand_computed(kpis):
    curves = kpis[1]["km_curves"]
    overall = curves[curves["by"] == "overall"]
    # E churns at 121 days with 6 at risk, D at 365 days with 5 at risk
    e_time, d_time = 121 / 30.4375, 365 / 30.4375
    s_e = overall.loc[np.isclose(overall["months"], e_time), "survival"].item()
    s_d = overall.loc[np.isclose(overall["months"], d_time), "survival"].item()
    assert s_e == pytest.approx(5 / 6) and s_d == pytest.approx(2 / 3)
    assert overall["survival"].iloc[-1] == pytest.approx(2 / 3)
    monthly = curves[(curves["by"] == "billing_period") & (curves["group"] == "monthly")]
    assert monthly["n_accounts"].iloc[0] == 2 and monthly["survival"].min() == pytest.approx(0.5)
    assert set(curves["by"]) == {"overall", "segment", "customer_goal", "billing_period"}


def test_resolve_as_of_prefers_config_then_event_coverage():
    c = contract_rows()
    assert resolve_as_of("2025-03-04", c, None) == T("2025-03-04")
    meta = {"date_coverage": {"events": ["2024-01-01", "2025-08-03T10:00:00+00:00"]}}
    assert resolve_as_of(None, c, meta) == T("2025-08-03")
    assert resolve_as_of(None, c, None) == T("2025-06-15")  # latest contract start


def test_stage_writes_deterministic_outputs(tmp_path, monkeypatch):
    interim = tmp_path / "data" / "interim"
    interim.mkdir(parents=True)
    contract_rows().to_parquet(interim / "contracts.parquet")
    account_rows().to_parquet(interim / "accounts.parquet")
    monkeypatch.chdir(tmp_path)
    params = {
        "base": {
            "interim_dir": "data/interim",
            "processed_dir": "data/processed",
            "models_dir": "models",
        },
        "panel": {"as_of": "2025-07-01"},
        "kpis": {"cohort_months": 12, "observation_start": "2024-01-01"},
    }
    run(params)
    first = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    run(params)
    second = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    assert first == second
    metrics = json.loads((tmp_path / "metrics" / "kpis.json").read_text())
    assert metrics["monthly_logo_churn"] == pytest.approx(1 / 57)
    assert (tmp_path / "data/processed/kpi_tables/cohort_retention.parquet").exists()


def test_stage_names_missing_column(tmp_path, monkeypatch):
    from churnlab.errors import UserError

    interim = tmp_path / "data" / "interim"
    interim.mkdir(parents=True)
    contract_rows().drop(columns="mrr").to_parquet(interim / "contracts.parquet")
    account_rows().to_parquet(interim / "accounts.parquet")
    monkeypatch.chdir(tmp_path)
    params = {"base": {"interim_dir": "data/interim", "processed_dir": "p", "models_dir": "m"}}
    with pytest.raises(UserError, match=r"contracts\.parquet: missing column\(s\) mrr"):
        run(params)


def test_left_truncation_of_accounts_older_than_the_data():
    """P and Q were customers before churn was recorded (2024-01-01) and are only in the data
    because they survived to it; R and S signed up on 2024-01-01. R churns 2024-02-01, Q
    2024-03-01. KM must let P and Q enter the risk set at ~12 months of tenure."""
    contracts = pd.DataFrame(
        {
            "contract_id": ["p", "q", "r", "s"],
            "account_id": ["P", "Q", "R", "S"],
            "start_date": pd.to_datetime(["2023-01-01", "2023-01-01", "2024-01-01", "2024-01-01"]),
            "end_date": pd.to_datetime([None, "2024-03-01", "2024-02-01", None]),
            "billing_period": "monthly",
            "mrr": 10.0,
            "cancelled_at": pd.NaT,
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": ["P", "Q", "R", "S"],
            "signup_date": contracts["start_date"],
            "segment": "smb",
            "customer_goal": "learn_myself",
        }
    )
    as_of = T("2024-12-31")
    result, tables = compute_kpis(
        contracts, accounts, as_of, 12, 12, observation_start=T("2024-01-01")
    )
    km = tables["km_curves"]
    overall = km[km["by"] == "overall"].set_index("months")["survival"]
    # R at 31 days: at risk R, S (P, Q not yet entered) -> 1/2; Q at 425 days: P, Q -> 1/4
    # (S is censored at 365 days, the tenure at which P and Q enter)
    assert overall.loc[31 / 30.4375] == pytest.approx(0.5)
    assert overall.loc[425 / 30.4375] == pytest.approx(0.25)
    assert result["monthly"][0]["month"] == "2024-01-01"
    assert set(tables["cohort_retention"]["cohort_month"]) == {T("2024-01-01")}
    # default observation start = the earliest churn date (R, 2024-02-01)
    default, _ = compute_kpis(contracts, accounts, as_of, 12, 12)
    assert default["headline"]["observation_start"] == "2024-02-01"
    assert default["monthly"][0]["month"] == "2024-02-01"
    assert default["monthly"][0]["churned_accounts"] == 1  # R, active on the eve (Jan 31)


def test_km_falls_back_when_nobody_is_at_risk_in_a_gap():
    # R churns at 1 month, S is censored at 6, and P, Q only enter at 12: nobody is at risk in
    # between, KM collapses, so the Breslow-Fleming-Harrington estimator is used instead
    from churnlab.kpis.survival import km_curve

    months = np.array([1.0, 6.0, 18.0, 14.0])
    event = np.array([1, 0, 0, 1])
    entry = np.array([0.0, 0.0, 12.0, 12.0])
    curve = km_curve(months, event, entry)
    assert (curve["estimator"] == "breslow_fleming_harrington").all()
    # BFH: S = exp(-cumulative hazard) = exp(-(1/2 + 1/2)) after both events
    assert curve["survival"].iloc[-1] == pytest.approx(np.exp(-1.0))
    assert curve.loc[curve["months"] == 12.0, "survival"].item() == pytest.approx(np.exp(-0.5))
    assert (curve["ci_low"] <= curve["survival"]).all() and (
        curve["survival"] <= curve["ci_high"]
    ).all()
