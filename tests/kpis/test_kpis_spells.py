"""Issue 13 reproductions with their hand-computed right values, the snapshot export, censoring,
and the Kaplan-Meier risk-set convention checked against lifelines and statsmodels."""

import json

import numpy as np
import pandas as pd
import pytest
from kpis_history import derive, write_interim
from lifelines import KaplanMeierFitter
from statsmodels.duration.survfunc import SurvfuncRight

from churnlab.errors import UserError
from churnlab.kpis.stage import compute_kpis, run
from churnlab.kpis.survival import DAYS_PER_MONTH, km_curve

T = pd.Timestamp
COLS = ["contract_id", "account_id", "start_date", "end_date", "billing_period", "mrr"]


def frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLS)
    df["start_date"] = pd.to_datetime(df["start_date"])
    df["end_date"] = pd.to_datetime(df["end_date"])
    df["cancelled_at"] = pd.NaT
    return df


def accounts_for(ids, segment="smb") -> pd.DataFrame:
    return pd.DataFrame({"account_id": ids, "segment": segment, "customer_goal": "learn_myself"})


def month(result, first_day):
    return next(r for r in result["monthly"] if r["month"] == first_day)


def kpis(contracts, accounts, as_of, **kw):
    terms, spells = derive(contracts, as_of)
    return compute_kpis(terms, spells, accounts, as_of, 12, 12, **kw)


# -- issue 13 item 1: an account that churns and comes back ---------------------------------
def comeback():
    """R: 2024-01-01..2024-03-01 at 100, back from 2024-06-01 at 120 (a 92-day gap > 30);
    S: 2024-01-01..open at 50. as_of 2024-08-15: complete months Jan..Jul 2024."""
    contracts = frame(
        [
            ("r1", "R", "2024-01-01", "2024-03-01", "monthly", 100.0),
            ("r2", "R", "2024-06-01", None, "monthly", 120.0),
            ("s1", "S", "2024-01-01", None, "monthly", 50.0),
        ]
    )
    return kpis(contracts, accounts_for(["R", "S"]), T("2024-08-15"))


def test_churn_and_comeback_is_one_churn_then_one_reactivation():
    result, tables = comeback()
    jan = month(result, "2024-01-01")
    assert (jan["new_accounts"], jan["new_mrr"]) == (2, 150.0)
    mar = month(result, "2024-03-01")  # R's churn: 1 account, its own 100 MRR (not 200)
    assert (mar["active_accounts"], mar["churned_accounts"], mar["churned_mrr"]) == (2, 1, 100.0)
    assert mar["mrr_start"] == 150.0 and mar["mrr_end"] == 50.0
    assert mar["logo_churn_rate"] == 0.5 and mar["grr"] == pytest.approx(50 / 150)
    for first_day in ("2024-04-01", "2024-05-01"):  # R is not a customer, not at risk
        row = month(result, first_day)
        assert row["active_accounts"] == 1 and row["churned_accounts"] == 0
    jun = month(result, "2024-06-01")  # R comes back: a reactivation, not a new account
    assert (jun["new_accounts"], jun["new_mrr"]) == (0, 0.0)
    assert (jun["reactivated_accounts"], jun["reactivated_mrr"]) == (1, 120.0)
    assert jun["mrr_start"] == 50.0 and jun["mrr_end"] == 170.0
    assert jun["nrr"] == 1.0  # reactivated MRR is not the opening base's
    jul = month(result, "2024-07-01")
    assert jul["active_accounts"] == 2 and jul["reactivated_accounts"] == 0
    h = result["headline"]
    assert (h["accounts_ever"], h["accounts_churned"], h["churned_spells"]) == (2, 0, 1)
    assert h["reactivations"] == 1 and h["active_accounts_now"] == 2 and h["mrr_now"] == 170.0


def test_comeback_in_km_and_cohorts():
    _, tables = comeback()
    km = tables["km_curves"]
    overall = km[km["by"] == "overall"].set_index("months")
    # subjects: R's spell 1 (churn at 60 days), R's spell 2 (censored at 75), S (censored 227)
    assert overall["n_spells"].iloc[0] == 3 and overall["n_accounts"].iloc[0] == 2
    at = 60 / DAYS_PER_MONTH
    assert overall.loc[at, "at_risk"] == 3 and overall.loc[at, "events"] == 1
    assert overall.loc[at, "survival"] == pytest.approx(2 / 3)
    assert overall["events"].sum() == 1
    # one January cohort of 2 accounts (R once); R is retained again once it is back
    cohort = tables["cohort_retention"].set_index("months_since")
    assert (cohort["cohort_size"] == 2).all()
    # month ends Jan 31, Feb 29 (R served until its end, Mar 1), Mar 31 .. May 31, Jun 30, Jul 31
    assert list(cohort["retained_accounts"]) == [2, 2, 1, 1, 1, 2, 2]


# -- issue 13 item 2: two contract rows running at once --------------------------------------
def upgrade_terms():
    """Rows 2024-01-01..open at 100 and 2024-03-15..open at 150, as ingest normalises them:
    the later row supersedes the earlier one from its start (a mid-term upgrade)."""
    terms = pd.DataFrame(
        {
            "account_id": ["A", "A"],
            "spell": np.array([1, 1], dtype="int64"),
            "contract_id": ["c1", "c2"],
            "start_date": pd.to_datetime(["2024-01-01", "2024-03-15"]),
            "end_date": pd.to_datetime(["2024-03-15", None]),
            "contract_start": pd.to_datetime(["2024-01-01", "2024-03-15"]),
            "billing_period": "monthly",
            "plan": ["basic", "pro"],
            "mrr": [100.0, 150.0],
            "seats": 1.0,
        }
    )
    spells = pd.DataFrame(
        {
            "account_id": ["A"],
            "spell": np.array([1], dtype="int64"),
            "start_date": pd.to_datetime(["2024-01-01"]),
            "end_date": pd.NaT,
            "churned": False,
            "cancelled_at": pd.NaT,
            "censored_reason": ["running"],
        }
    )
    return terms, spells


def test_mid_term_upgrade_counts_the_piece_in_force_once():
    terms, spells = upgrade_terms()
    result, tables = compute_kpis(terms, spells, accounts_for(["A"]), T("2024-06-30"), 12, 12)
    h = result["headline"]
    assert h["mrr_now"] == 150.0 and h["active_accounts_now"] == 1  # not 250
    mar = month(result, "2024-03-01")
    assert mar["mrr_start"] == 100.0 and mar["expansion_mrr"] == 50.0 and mar["mrr_end"] == 150.0
    assert month(result, "2024-04-01")["mrr_start"] == 150.0
    # plan is present, so there is a KM curve per plan of the spell's first term
    plans = tables["km_curves"].query("by == 'plan'")
    assert set(plans["group"]) == {"basic"}


def test_overlapping_pieces_are_refused_with_a_one_line_reason():
    terms, spells = upgrade_terms()
    terms.loc[0, "end_date"] = pd.NaT  # the raw rows, both open: would count 250
    with pytest.raises(
        UserError, match=r"contract_terms\.parquet: account A: pieces c1 .* c2 .*overlap"
    ):
        compute_kpis(terms, spells, accounts_for(["A"]), T("2024-06-30"), 12, 12)


def test_spells_and_terms_from_different_runs_are_refused():
    contracts = frame([("r1", "R", "2024-01-01", "2024-03-01", "monthly", 100.0)])
    terms, spells = derive(contracts, T("2024-06-30"))
    spells.loc[0, "end_date"] = T("2024-04-01")
    with pytest.raises(UserError, match=r"spells\.parquet: account R spell 1: churned with"):
        compute_kpis(terms, spells, accounts_for(["R"]), T("2024-06-30"), 12, 12)


# -- issue 13 item 3: an account without an accepted contract --------------------------------
def test_account_without_contract_is_in_no_kpi():
    """Z's only contract row was quarantined by ingest (which counts it in tables.json): it has
    no term, so it is in no count, cohort or curve, and nothing fails."""
    contracts = frame([("a1", "A", "2024-01-01", None, "monthly", 10.0)])
    accounts = pd.concat([accounts_for(["A"]), accounts_for(["Z"], segment="enterprise")])
    result, tables = kpis(contracts, accounts, T("2024-04-30"))
    h = result["headline"]
    assert h["accounts_ever"] == 1 and h["active_accounts_now"] == 1
    assert all(r["active_accounts"] + r["new_accounts"] <= 1 for r in result["monthly"])
    assert (tables["cohort_retention"]["cohort_size"] == 1).all()
    km = tables["km_curves"]
    assert "enterprise" not in set(km["group"]) and (km["n_accounts"] == 1).all()


# -- censoring: a term ending just before as_of, renewal not observable ----------------------
def test_renewal_not_observable_is_not_churn():
    """G's monthly term ended 2024-06-20, 10 days before as_of, without notice: ingest censors
    the spell (renewal_not_observable). It is no churn, keeps its MRR to as_of, and is
    censored in KM; H really churned on 2024-06-10."""
    contracts = frame(
        [
            ("g1", "G", "2024-01-01", "2024-06-20", "monthly", 40.0),
            ("h1", "H", "2024-01-01", "2024-06-10", "monthly", 60.0),
        ]
    )
    as_of = T("2024-06-30")
    terms, spells = derive(contracts, as_of)
    g = spells["account_id"] == "G"
    spells.loc[g, "churned"] = False
    spells.loc[g, "censored_reason"] = "renewal_not_observable"
    result, tables = compute_kpis(terms, spells, accounts_for(["G", "H"]), as_of, 12, 12)
    jun = month(result, "2024-06-01")
    assert (jun["churned_accounts"], jun["churned_mrr"], jun["mrr_end"]) == (1, 60.0, 40.0)
    h = result["headline"]
    assert h["active_accounts_now"] == 1 and h["mrr_now"] == 40.0
    assert h["accounts_churned"] == 1 and h["churned_spells"] == 1
    overall = tables["km_curves"].query("by == 'overall'")
    assert overall["events"].sum() == 1
    assert overall["months"].max() == pytest.approx((as_of - T("2024-01-01")).days / DAYS_PER_MONTH)


# -- snapshot export: all churn on the export day, all starts known --------------------------
def snapshot_contracts():
    """as_of = export day 2025-06-30; every churn is dated that day. Annual: A1 from
    2023-01-01 and A3 from 2022-07-01 churned, A2 from 2024-02-01 running; monthly: M1 from
    2023-06-01 churned, M2 from 2024-01-15 running."""
    return frame(
        [
            ("a1", "A1", "2023-01-01", "2025-06-30", "annual", 100.0),
            ("a2", "A2", "2024-02-01", "2026-02-01", "annual", 80.0),
            ("a3", "A3", "2022-07-01", "2025-06-30", "annual", 90.0),
            ("m1", "M1", "2023-06-01", "2025-06-30", "monthly", 20.0),
            ("m2", "M2", "2024-01-15", None, "monthly", 30.0),
        ]
    )


def test_snapshot_annual_customers_churn_in_the_curves(tmp_path, monkeypatch):
    interim = tmp_path / "data" / "interim"
    accounts = accounts_for(["A1", "A2", "A3", "M1", "M2"])
    write_interim(interim, snapshot_contracts(), accounts, "2025-06-30", snapshot=True)
    monkeypatch.chdir(tmp_path)
    run({"base": {"interim_dir": "data/interim", "processed_dir": "p", "models_dir": "m"}})
    result = json.loads((tmp_path / "m" / "kpis.json").read_text())
    assert result["snapshot"] is True
    h = result["headline"]
    # observation starts at the first contract, not at the single churn date
    assert h["observation_start"] == "2022-07-01"
    assert result["monthly"][0]["month"] == "2022-07-01"
    jun = month(result, "2025-06-01")
    assert (jun["active_accounts"], jun["churned_accounts"], jun["churned_mrr"]) == (5, 3, 210.0)
    assert h["active_accounts_now"] == 2 and h["accounts_churned"] == 3
    km = pd.read_parquet(tmp_path / "p" / "kpi_tables" / "km_curves.parquet")
    annual = km.query("by == 'billing_period' and group == 'annual'").set_index("months")
    # A2 censored at 515 days (3 at risk); A1 churns at 911 days with A1, A3 at risk -> 1/2;
    # A3 churns at 1095 days alone -> 0
    assert annual.loc[515 / DAYS_PER_MONTH, "at_risk"] == 3
    assert annual.loc[911 / DAYS_PER_MONTH, "at_risk"] == 2
    assert annual.loc[911 / DAYS_PER_MONTH, "survival"] == pytest.approx(0.5)
    assert annual.loc[1095 / DAYS_PER_MONTH, "survival"] == 0.0
    assert (annual["estimator"] == "kaplan_meier").all()
    monthly = km.query("by == 'billing_period' and group == 'monthly'").set_index("months")
    # M2 censored at 532 days (2 at risk), M1 churns at 760 days alone -> 0
    assert monthly.loc[532 / DAYS_PER_MONTH, "at_risk"] == 2
    assert monthly.loc[760 / DAYS_PER_MONTH, ["at_risk", "survival"]].tolist() == [1, 0.0]


# -- issue 13 item 6: Kaplan-Meier with late entry -------------------------------------------
HAND = [(0, 2, 1), (0, 3, 0), (2, 3, 1), (2, 5, 1), (3, 6, 0), (0, 4, 1)]  # (entry, exit, event)


def test_km_late_entry_hand_step_table():
    """(entry, exit] risk sets, computed by hand:
    t=2: (0,2] (0,3] (0,4] at risk (the two entering at 2 are not yet), 1 churn -> 2/3
    t=3: (0,3] (2,3] (2,5] (0,4] (not (3,6]), 1 churn + 1 censored -> 2/3 * 3/4 = 1/2
    t=4: (2,5] (3,6] (0,4], 1 churn -> 1/3;  t=5: (2,5] (3,6] -> 1/6;  t=6: (3,6], censored."""
    entry, exit_, event = (np.array(c, dtype=float) for c in zip(*HAND, strict=True))
    curve = km_curve(exit_, event, entry)
    assert list(curve["months"]) == [0, 2, 3, 4, 5, 6]
    assert list(curve["at_risk"]) == [3, 3, 4, 3, 2, 1]
    assert list(curve["events"]) == [0, 1, 1, 1, 1, 0]
    assert np.allclose(curve["survival"], [1, 2 / 3, 1 / 2, 1 / 3, 1 / 6, 1 / 6])
    # Greenwood at t=2: 1 / (3 * 2); log-log interval S^exp(+-1.96 sqrt(V) / |log S|)
    se = np.sqrt(1 / 6) / abs(np.log(2 / 3))
    assert curve["ci_low"].iloc[1] == pytest.approx((2 / 3) ** np.exp(1.959964 * se), rel=1e-6)
    assert curve["ci_high"].iloc[1] == pytest.approx((2 / 3) ** np.exp(-1.959964 * se), rel=1e-6)


def tied_cases():
    """The hand case and random integer-time cases with many ties among entries and exits."""
    yield tuple(np.array(c, dtype=float) for c in zip(*HAND, strict=True))
    rng = np.random.default_rng(13)
    for _ in range(5):
        n = 60
        entry = rng.integers(0, 6, n).astype(float)
        exit_ = entry + rng.integers(1, 10, n)
        event = (rng.random(n) < 0.6).astype(float)
        yield entry, exit_, event


@pytest.mark.parametrize("case", list(tied_cases()))
def test_km_matches_statsmodels_and_lifelines_with_ties(case):
    entry, exit_, event = case
    curve = km_curve(exit_, event, entry).iloc[1:].set_index("months")  # drop the origin
    events = curve[curve["events"] > 0]
    sm = SurvfuncRight(exit_, event, entry=entry)
    assert np.allclose(events.index, sm.surv_times)
    assert list(events["at_risk"]) == list(sm.n_risk)  # statsmodels: (entry, exit] too
    assert np.allclose(events["survival"], sm.surv_prob)
    kmf = KaplanMeierFitter().fit(exit_, event, entry=entry)
    assert np.allclose(curve["survival"], kmf.survival_function_.iloc[:, 0].loc[curve.index])
    ci = kmf.confidence_interval_survival_function_.loc[curve.index]
    assert np.allclose(curve["ci_low"], ci.iloc[:, 0])
    assert np.allclose(curve["ci_high"], ci.iloc[:, 1])
    # lifelines' event table also counts subjects entering at t in at_risk; ours do not
    table = kmf.event_table.loc[curve.index]
    assert list(curve["at_risk"]) == list(table["at_risk"] - table["entrance"])
