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
from kpis_history import derive, write_interim

from churnlab.errors import ConfigError, UserError
from churnlab.kpis.stage import compute_kpis, parse_observation_start, run
from churnlab.kpis.survival import km_curve

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


def kpis_of(contracts, accounts, as_of, observation_start=None, headline_months=12):
    terms, spells = derive(contracts, as_of)
    return compute_kpis(
        terms, spells, accounts, as_of, headline_months=headline_months, cohort_months=12,
        observation_start=observation_start,
    )  # fmt: skip


@pytest.fixture(scope="module")
def kpis():
    # default observation start = the earliest contract start, 2024-01-01
    return kpis_of(contract_rows(), account_rows(), AS_OF)


def month_row(result, month):
    return next(r for r in result["monthly"] if r["month"] == month)


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

    sep = month_row(result, "2024-09-01")  # D's notice (2024-09-10) is not churn
    assert sep["churned_accounts"] == 0 and sep["churned_mrr"] == 0.0

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
    assert h["window_months"] == ["2024-07-01", "2025-06-01"] and h["months_pooled"] == 12
    assert h["observation_start"] == "2024-01-01"
    assert h["observation_start_source"] == "earliest contract start"
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
    assert h["accounts_churned"] == 2 and h["churned_spells"] == 2 and h["reactivations"] == 0


def test_headline_says_how_many_months_it_pools():
    """as_of 2024-04-15: only Jan..Mar 2024 are complete, so a 12-month headline pools 3."""
    result, _ = kpis_of(contract_rows(), account_rows(), T("2024-04-15"))
    h = result["headline"]
    assert h["headline_months"] == 12 and h["months_pooled"] == 3
    assert h["window_months"] == ["2024-01-01", "2024-03-01"]
    assert h["grr_12m"] is None and h["retention_12m_window"] is None
    assert "months_pooled" in result["definitions"]["pooled_rates"]


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


def test_stage_takes_as_of_from_tables_json(tmp_path, monkeypatch):
    """tables.json "as_of" is the one as-of date; a leftover panel.as_of param is ignored."""
    interim = tmp_path / "data" / "interim"
    write_interim(interim, contract_rows(), account_rows(), "2025-03-04")
    monkeypatch.chdir(tmp_path)
    params = {
        "base": {"interim_dir": "data/interim", "processed_dir": "p", "models_dir": "m"},
        "panel": {"as_of": "2024-01-31"},
    }
    run(params)
    result = json.loads((tmp_path / "m" / "kpis.json").read_text())
    assert result["as_of"] == "2025-03-04" and result["as_of_source"] == "base.as_of"
    assert result["monthly"][-1]["month"] == "2025-02-01"
    (interim / "tables.json").write_text(json.dumps({"snapshot": False}))
    with pytest.raises(UserError, match=r'tables\.json: no "as_of" field'):
        run(params)
    (interim / "tables.json").unlink()
    with pytest.raises(UserError, match=r"tables\.json: not found"):
        run(params)


def test_stage_writes_deterministic_outputs(tmp_path, monkeypatch):
    interim = tmp_path / "data" / "interim"
    write_interim(interim, contract_rows(), account_rows(), "2025-07-01")
    monkeypatch.chdir(tmp_path)
    params = {
        "base": {
            "interim_dir": "data/interim",
            "processed_dir": "data/processed",
            "models_dir": "models",
        },
        "kpis": {"cohort_months": 12, "observation_start": None},
    }
    run(params)
    first = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    run(params)
    second = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    assert first == second
    metrics = json.loads((tmp_path / "metrics" / "kpis.json").read_text())
    # metrics files carry 6 significant digits (a last-bit difference must not dirty git)
    assert metrics["monthly_logo_churn"] == pytest.approx(1 / 57, rel=1e-5)
    kpis = json.loads((tmp_path / "models" / "kpis.json").read_text())
    assert kpis["headline"]["monthly_logo_churn"] == pytest.approx(1 / 57, rel=1e-12)
    assert (tmp_path / "data/processed/kpi_tables/cohort_retention.parquet").exists()


def test_stage_names_missing_column(tmp_path, monkeypatch):
    interim = tmp_path / "data" / "interim"
    write_interim(interim, contract_rows(), account_rows(), "2025-07-01")
    terms = pd.read_parquet(interim / "contract_terms.parquet")
    terms.drop(columns="mrr").to_parquet(interim / "contract_terms.parquet")
    monkeypatch.chdir(tmp_path)
    params = {"base": {"interim_dir": "data/interim", "processed_dir": "p", "models_dir": "m"}}
    with pytest.raises(UserError, match=r"contract_terms\.parquet: missing column\(s\) mrr"):
        run(params)
    with pytest.raises(ConfigError, match=r"kpis\.observation_start must be null or a date"):
        parse_observation_start("soon")
    with pytest.raises(ConfigError, match=r"kpis\.observation_start 2025-08-01 is after as_of"):
        kpis_of(contract_rows(), account_rows(), AS_OF, observation_start=T("2025-08-01"))


def truncation_world():
    """P and Q have been customers since 2023-01-01, R and S since 2024-01-01. R churns
    2024-02-01 (31 days), Q 2024-03-01 (425 days); as_of 2024-12-31."""
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
        {"account_id": ["P", "Q", "R", "S"], "segment": "smb", "customer_goal": "learn_myself"}
    )
    return contracts, accounts, T("2024-12-31")


def test_default_observation_start_truncates_nothing():
    """Default = the earliest contract start (2023-01-01): the history is taken as complete,
    so all four spells are at risk from their start and the 2023 cohort is kept."""
    contracts, accounts, as_of = truncation_world()
    result, tables = kpis_of(contracts, accounts, as_of)
    assert result["headline"]["observation_start"] == "2023-01-01"
    assert result["monthly"][0]["month"] == "2023-01-01"
    assert result["monthly"][0]["new_accounts"] == 2
    km = tables["km_curves"]
    overall = km[km["by"] == "overall"].set_index("months")
    # R at 31 days: 4 at risk -> 3/4; S censored at 365; Q at 425: P, Q at risk -> 3/8
    assert overall.loc[31 / 30.4375, "at_risk"] == 4
    assert overall.loc[31 / 30.4375, "survival"] == pytest.approx(3 / 4)
    assert overall.loc[425 / 30.4375, "at_risk"] == 2
    assert overall.loc[425 / 30.4375, "survival"] == pytest.approx(3 / 8)
    assert set(tables["cohort_retention"]["cohort_month"]) == {T("2023-01-01"), T("2024-01-01")}


def test_left_truncation_of_accounts_older_than_the_data():
    """With observation_start 2024-01-01, P and Q are in the data only because they survived
    to it: they enter the risk set at 365 days of tenure, (entry, exit] risk sets."""
    contracts, accounts, as_of = truncation_world()
    result, tables = kpis_of(contracts, accounts, as_of, observation_start=T("2024-01-01"))
    km = tables["km_curves"]
    overall = km[km["by"] == "overall"].set_index("months")
    # R at 31 days: R, S at risk (P, Q not entered yet) -> 1/2
    assert overall.loc[31 / 30.4375, "at_risk"] == 2
    assert overall.loc[31 / 30.4375, "survival"] == pytest.approx(0.5)
    # S censored at 365 days, the very time P and Q enter: they are not at risk at 365 yet
    assert overall.loc[365 / 30.4375, "at_risk"] == 1
    # Q at 425 days: P and Q at risk -> 1/2 * 1/2
    assert overall.loc[425 / 30.4375, "at_risk"] == 2
    assert overall.loc[425 / 30.4375, "survival"] == pytest.approx(0.25)
    assert result["monthly"][0]["month"] == "2024-01-01"
    assert result["headline"]["observation_start_source"] == "kpis.observation_start"
    assert set(tables["cohort_retention"]["cohort_month"]) == {T("2024-01-01")}


def test_km_falls_back_when_the_product_limit_collapses():
    """A churns at 1 month alone in the risk set (KM drops to 0); B and C only enter at 12, so
    the product-limit estimate cannot recover: Breslow-Fleming-Harrington is used instead,
    S = exp(-(1/1)) after A and exp(-(1 + 1/2)) after C."""
    months = np.array([1.0, 18.0, 14.0])
    event = np.array([1, 0, 1])
    entry = np.array([0.0, 12.0, 12.0])
    curve = km_curve(months, event, entry).set_index("months")
    assert (curve["estimator"] == "breslow_fleming_harrington").all()
    assert curve.loc[1.0, "survival"] == pytest.approx(np.exp(-1.0))
    assert curve.loc[14.0, "survival"] == pytest.approx(np.exp(-1.5))
    assert curve.loc[18.0, "survival"] == pytest.approx(np.exp(-1.5))
    assert list(curve["at_risk"]) == [1, 1, 2, 1]
    assert (curve["ci_low"] <= curve["survival"]).all()
    assert (curve["survival"] <= curve["ci_high"]).all()
    # the same subjects without the early churner: plain KM
    assert (km_curve(months[1:], event[1:], entry[1:])["estimator"] == "kaplan_meier").all()
