"""Small pieces of the health score checked by hand."""

import numpy as np
import pandas as pd
import pytest

from churnlab.health.actions import current_contracts, current_csm
from churnlab.health.lamps import lag_within_account, lamp_on, lamp_table, score_lamps, weeks_on
from churnlab.health.model import horizon_probability, tenure_band
from churnlab.health.score import band, health_score, maturity
from churnlab.health.validation import (
    PairCounter,
    calibration_table,
    horizon_labels,
    split_week,
    top_decile_lift,
)

T = pd.Timestamp


def test_auc_with_ties_hand_computed():
    # positives at 0.9 and 0.5; negatives at 0.5, 0.2, 0.1
    # pairs: (0.9 vs all 3) = 3; (0.5 vs 0.5 tie) = 0.5, (0.5 vs 0.2, 0.1) = 2 -> 5.5 / 6
    risk = np.array([0.9, 0.5, 0.5, 0.2, 0.1])
    label = np.array([1, 1, 0, 0, 0])
    assert PairCounter(risk, label).value() == pytest.approx(5.5 / 6)


def test_weights_equal_duplicated_rows():
    rng = np.random.default_rng(0)
    risk = rng.integers(0, 5, 40).astype(float)
    label = (rng.random(40) < 0.3).astype(int)
    w = rng.integers(0, 3, 40)
    dup = np.repeat(np.arange(40), w)
    assert PairCounter(risk, label).value(w.astype(float)) == pytest.approx(
        PairCounter(risk[dup], label[dup]).value()
    )


def test_stratified_concordance_only_compares_within_week():
    # week 1: churner risk 2 vs survivors 1, 3 -> 1 of 2; week 2: churner 5 vs 0 -> 1 of 1
    # (a pooled AUC would also compare across weeks: churner 2 vs survivor 0 of week 2)
    risk = np.array([2, 1, 3, 5, 0], dtype=float)
    event = np.array([1, 0, 0, 1, 0])
    week = np.array([1, 1, 1, 2, 2])
    assert PairCounter(risk, event, week).value() == pytest.approx(2 / 3)
    assert PairCounter(risk, event).value() == pytest.approx(5 / 6)  # 2 + 3 of 6 pairs


def panel_two_accounts():
    weeks = pd.date_range("2024-01-01", periods=6, freq="W-MON")
    a = pd.DataFrame({"account_id": "a", "week_start": weeks, "event": [0, 0, 0, 0, 1, 0]})
    a = a.iloc[:5]  # churns in week 5 (index 4)
    b = pd.DataFrame({"account_id": "b", "week_start": weeks[1:], "event": 0})
    p = pd.concat([a, b], ignore_index=True)
    p["x"] = [0.9, 0.3, 0.2, np.nan, 0.1, 0.4, 0.6, 0.3, 0.2, 0.1]
    p["tenure_weeks"] = p.groupby("account_id").cumcount()
    return p


def test_horizon_labels_and_completeness():
    p = panel_two_accounts()
    lab = horizon_labels(p, horizon_weeks=2)
    # account a churns in its 5th week: label 1 in weeks 4 and 5 only
    assert lab["label"].tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    # last week is 2024-02-05; a 2-week window from 2024-02-05 is incomplete
    assert lab["complete"].tolist() == [True] * 5 + [True, True, True, True, False]


def test_lag_lamp_and_weeks_on():
    p = panel_two_accounts()
    lagged = lag_within_account(p, "x", 1)
    assert np.isnan(lagged.iloc[0]) and np.isnan(lagged.iloc[5])  # never crosses accounts
    assert lagged.iloc[6] == pytest.approx(0.4)
    on = lamp_on(p["x"], "low", 0.5)
    assert on.tolist() == [0, 1, 1, 0, 1, 1, 0, 1, 1, 1]  # NaN counts as off
    assert weeks_on(p, on).tolist() == [0, 1, 2, 0, 1, 1, 0, 1, 2, 3]
    assert lamp_on(pd.Series([0.5, 0.6]), "high", 0.5).tolist() == [0, 1]  # strictly above


def test_horizon_probability_and_score_bands():
    # weekly hazard h -> eta = log(-log(1-h)); over H weeks P = 1 - (1-h)^H
    h = np.array([0.001, 0.01, 0.05])
    eta = np.log(-np.log(1 - h))
    p = horizon_probability(eta, 12)
    assert p == pytest.approx(1 - (1 - h) ** 12)
    assert health_score(np.array([0.0, 0.25, 1.0])).tolist() == [100.0, 75.0, 0.0]
    assert band(np.array([0.05, 0.10, 0.2, 0.25, 0.9]), 0.25, 0.10).tolist() == [
        "green",
        "amber",
        "amber",
        "red",
        "red",
    ]


def test_tenure_band_edges():
    assert tenure_band(pd.Series([0, 12, 13, 51, 52, 104, 300])).tolist() == [
        "0-12w",
        "0-12w",
        "13-25w",
        "26-51w",
        "52-103w",
        "104w+",
        "104w+",
    ]


def test_split_week_and_lift_and_calibration():
    weeks = pd.Series(pd.date_range("2024-01-01", periods=10, freq="W-MON"))
    assert split_week(weeks, 0.6) == weeks[6]
    prob = np.arange(20) / 20
    label = np.zeros(20, dtype=int)
    label[[19, 18, 3]] = 1  # top 2 rows both churn: lift = 1.0 / (3/20)
    assert top_decile_lift(prob, label) == pytest.approx(20 / 3)
    cal = calibration_table(prob, label, bins=10)
    assert cal["n"].tolist() == [2] * 10
    assert cal["observed"].iloc[-1] == 1.0 and cal["observed"].iloc[1] == 0.5


def test_maturity_from_milestones_with_tenure_fallback():
    p = pd.DataFrame(
        {
            "tenure_weeks": [2, 30, 30, 60, 5, 60],
            "onboarding_complete": [0, 1, 0, 1, np.nan, np.nan],
            "goal_achieved": [0, 0, 0, 1, np.nan, np.nan],
        }
    )
    assert maturity(p, 12, 52).tolist() == [
        "onboarding",
        "adoption",
        "onboarding",
        "expansion",
        "onboarding",
        "expansion",
    ]


def test_lamp_table_prefers_yaml_wording_and_selects_leading():
    tested = [
        {"id": "b", "indicator": "x", "direction": "low", "threshold": 0.5,
         "best_lag_weeks": 4, "verdict": "leads churn", "kind": "risk", "action": "old"},
        {"id": "a", "indicator": "x", "direction": "low", "threshold": 0.5,
         "best_lag_weeks": 4, "verdict": "leads churn", "kind": "risk", "action": "x",
         "alert_policy": {"on_weeks": 3, "off_weeks": 2}},
        {"id": "c", "indicator": "missing", "direction": "high", "threshold": 1,
         "best_lag_weeks": 0, "verdict": "leads churn", "kind": "risk"},
        {"id": "d", "indicator": "x", "direction": "high", "threshold": None,
         "best_lag_weeks": None, "verdict": "no evidence", "kind": "risk"},
    ]  # fmt: skip
    conf = [{"id": "b", "action": "Call the admin", "kind": "risk"}, {"id": "d", "threshold": 2}]
    lamps = lamp_table(tested, conf)
    assert lamps["id"].tolist() == ["a", "b", "c", "d"]
    assert lamps.set_index("id").loc["b", "action"] == "Call the admin"
    assert lamps.set_index("id").loc["d", "threshold"] == 2.0  # numeric YAML fallback
    # the alert design chosen by the hypotheses stage; 1, 1 (the lamp as read) without one
    assert lamps.set_index("id").loc["a", ["alert_on_weeks", "alert_off_weeks"]].tolist() == [3, 2]
    assert lamps.set_index("id").loc["b", ["alert_on_weeks", "alert_off_weeks"]].tolist() == [1, 1]
    used, skipped = score_lamps(lamps, ["x"])
    assert used["id"].tolist() == ["a"]  # b is the same lamp as a; d does not lead
    assert {s["id"] for s in skipped} == {"b", "c"}


def test_current_contract_renewal_dates_and_csm():
    contracts = pd.DataFrame(
        {
            "account_id": ["m", "y", "y", "gone"],
            "start_date": pd.to_datetime(["2024-01-31", "2024-03-01", "2025-03-01", "2024-01-01"]),
            "end_date": pd.to_datetime([None, "2025-03-01", "2026-03-01", "2024-06-01"]),
            "mrr": [50.0, 100.0, 120.0, 10.0],
        }
    )
    cur = current_contracts(contracts, T("2025-04-10")).set_index("account_id")
    assert sorted(cur.index) == ["m", "y"]
    # monthly plan started on the 31st: anniversaries clip to month end -> 2025-04-30
    assert cur.loc["m", "renewal_date"] == T("2025-04-30")
    assert cur.loc["y", "renewal_date"] == T("2026-03-01") and cur.loc["y", "mrr"] == 120.0
    assign = pd.DataFrame(
        {
            "account_id": ["m", "m", "y"],
            "csm_id": ["old", "new", "cy"],
            "start_date": pd.to_datetime(["2024-01-01", "2025-02-01", "2024-01-01"]),
            "end_date": pd.to_datetime(["2025-02-01", None, "2025-01-01"]),
        }
    )
    csm = current_csm(assign, T("2025-04-10"))
    assert csm.to_dict() == {"m": "new"}


def test_horizon_probability_never_reads_later_weeks():
    """With the weights fixed, week w's churn probability uses indicator values from weeks
    <= w only: scrambling every later week leaves it unchanged."""
    from churnlab.health.model import Design, FittedModel, horizon_probability_path

    rng = np.random.default_rng(3)
    weeks = pd.date_range("2024-01-01", periods=20, freq="W-MON")
    panel = pd.DataFrame(
        {
            "account_id": np.repeat(["a", "b"], 20),
            "week_start": np.tile(weeks, 2),
            "tenure_weeks": np.tile(np.arange(20), 2),
            "billing_period": "monthly",
            "x": rng.random(40),
        }
    )
    lamps = pd.DataFrame(
        [{"id": "x_low", "indicator": "x", "direction": "low", "threshold": 0.5, "lag_weeks": 3}]
    )
    design = Design(levels={"tenure": ["13-25w"], "billing_period": []}, lamps=["lamp:x_low"])
    fit = FittedModel(design, np.array([-4.0, 0.3, 1.5]), np.zeros(3), True)
    base = horizon_probability_path(fit, panel, lamps, 8)
    w = 9
    later = panel["week_start"] > weeks[w]
    scrambled = panel.assign(x=np.where(later, 1 - panel["x"], panel["x"]))
    again = horizon_probability_path(fit, scrambled, lamps, 8)
    upto = (~later).to_numpy()
    assert np.allclose(base[upto], again[upto])
    assert not np.allclose(base[~upto], again[~upto])  # and later weeks do move


def panel_with_a_reactivation():
    """Account r: spell 1 weeks 1-3 (churns in week 3), a 2-week gap, spell 2 weeks 6-9.
    Account s: one spell, weeks 1-9, never churns."""
    weeks = pd.date_range("2024-01-01", periods=9, freq="W-MON")
    r_weeks = [0, 1, 2, 5, 6, 7, 8]
    return pd.DataFrame(
        {
            "account_id": ["r"] * 7 + ["s"] * 9,
            "spell": [1, 1, 1, 2, 2, 2, 2] + [1] * 9,
            "week_start": [weeks[i] for i in r_weeks] + list(weeks),
            "event": [0, 0, 1, 0, 0, 0, 0] + [0] * 9,
            "x": [0.1, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1] + [0.9] * 9,
        }
    )


def test_spells_are_separate_runs_of_weeks():
    p = panel_with_a_reactivation()
    lagged = lag_within_account(p, "x", 1)
    # spell 2's first week has no "previous week": the row before it is 3 weeks earlier
    assert np.isnan(lagged.iloc[0]) and np.isnan(lagged.iloc[3])
    assert lagged.iloc[4] == pytest.approx(0.1)
    on = lamp_on(p["x"], "low", 0.5)
    assert weeks_on(p, on).tolist()[:7] == [1, 2, 3, 1, 0, 1, 2]  # restarts with spell 2
    lab = horizon_labels(p, horizon_weeks=4)
    # r's churn (week 3) labels spell 1's weeks only, never spell 2's
    assert lab["label"].tolist()[:7] == [1, 1, 1, 0, 0, 0, 0]
    assert lab["label"].tolist()[7:] == [0] * 9


def test_action_list_reads_the_latest_spell_only():
    from churnlab.health.actions import lamps_on_latest
    from churnlab.health.stage import latest_spell_rows

    p = panel_with_a_reactivation()
    latest = p[p["week_start"] == p["week_start"].max()]
    now = latest_spell_rows(p, latest)
    assert now.loc[now["account_id"] == "r", "spell"].unique().tolist() == [2]
    assert len(now) == 4 + 9
    lamps = lamp_table(
        [
            {
                "id": "h",
                "indicator": "x",
                "direction": "low",
                "threshold": 0.5,
                "verdict": "leads churn",
            }
        ],
        None,
    )
    on = lamps_on_latest(now, lamps)
    assert on[["account_id", "weeks_on"]].values.tolist() == [["r", 2]]
