"""Issue 14 wired into the health_score stage: the weekly list per CSM in action_list.csv,
words instead of rules, and recalibrated probabilities. Answers worked out by hand in the
comments."""

import json

import numpy as np
import pandas as pd
import pytest

from churnlab.health.actions import to_csv_text
from churnlab.health.lamps import lamp_table
from churnlab.health.stage import (
    calibration_rows,
    latest_complete_weeks,
    run,
    weekly_lists,
)
from churnlab.health.validation import horizon_labels
from churnlab.health.worklist import indicator_wording

WEEKS = pd.date_range("2025-01-06", periods=3, freq="W-MON")
# key-person activity change per week; the lamp lights below -0.4
VALUES = {
    "A": [0.0, 0.0, -0.533333],  # lit this week only: new (1 week)
    "B": [0.0, -0.6, -0.7],  # lit 2 weeks: new (new_weeks = 2)
    "C": [-0.5, -0.5, -0.5],  # lit since the first week: never new; 3 > 2 weeks: chronic
    "D": [0.0, 0.0, -0.45],  # new, no CSM
    "E": [0.0, 0.0, -0.9],  # new
}
CSM = {"A": "c1", "B": "c1", "C": "c2", "D": None, "E": "c2"}
# churn probability x MRR = expected MRR at risk: A 20, B 50, C 8, D 5, E 30
PROB = {"A": 0.2, "B": 0.1, "C": 0.4, "D": 0.5, "E": 0.3}
MRR = {"A": 100.0, "B": 500.0, "C": 20.0, "D": 10.0, "E": 100.0}


def _hand_made():
    panel = pd.DataFrame(
        [(a, w, 0, v) for a, vals in VALUES.items() for w, v in zip(WEEKS, vals, strict=True)],
        columns=["account_id", "week_start", "event", "key_person_activity_change"],
    )
    lamps = lamp_table(
        [
            {"id": "kp_drop", "indicator": "key_person_activity_change", "direction": "low",
             "threshold": -0.4, "best_lag_weeks": 0, "verdict": "leads churn",
             "hazard_ratio": 3.0, "kind": "risk", "action": "Call the key person"},
        ],
        None,
    )  # fmt: skip
    ids = list(VALUES)
    context = pd.DataFrame(
        {
            "account_id": ids,
            "week_start": WEEKS[-1],
            "segment": "smb",
            "billing_period": "monthly",
            "maturity": "adoption",
            "band": "amber",
            "health_score": [100 * (1 - PROB[a]) for a in ids],
            "churn_probability": [PROB[a] for a in ids],
            "mrr": [MRR[a] for a in ids],
            "account_name": [f"Acme {a}" for a in ids],
            "renewal_date": pd.Timestamp("2025-02-01"),
            "csm_id": [CSM[a] for a in ids],
        }
    )
    context["mrr_at_risk"] = context["mrr"] * context["churn_probability"]
    wording = {"key_person_activity_change": indicator_wording("key_person_activity_change", 4)}
    return panel, lamps, context, wording


def test_capacity_per_csm_unassigned_group_and_ranks_within_csm():
    panel, lamps, context, wording = _hand_made()
    actions, opps, wl = weekly_lists(
        panel, lamps, lamps.iloc[0:0], context, wording, capacity=1, new_weeks=2,
        chronic_weeks=2,
    )  # fmt: skip
    assert opps.empty
    a = actions.set_index("account_id")
    # every lit account x lamp stays in the CSV, in global order of MRR at risk
    assert list(actions["account_id"]) == ["B", "E", "A", "C", "D"]
    assert list(actions["rank"]) == [1, 2, 3, 4, 5]
    assert a["lamp_state"].to_dict() == {
        "A": "new", "B": "new", "C": "chronic", "D": "new", "E": "new",
    }  # fmt: skip
    assert a["weeks_on"].to_dict() == {"A": 1, "B": 2, "C": 3, "D": 1, "E": 1}
    assert a.loc["B", "run_start"] == WEEKS[1]
    # c1: B (50) before A (20); capacity 1 lists B only. c2: E; C is chronic, not ranked.
    # D has no CSM: rank 1 of the group "unassigned", which is not a CSM
    assert a["rank_in_csm"].isna().to_dict() == {k: k == "C" for k in "ABCDE"}
    assert a["rank_in_csm"].fillna(0).to_dict() == {"A": 2, "B": 1, "C": 0, "D": 1, "E": 1}
    assert a["listed"].to_dict() == {"A": False, "B": True, "C": False, "D": True, "E": True}
    assert a.loc["A", "why"] == "Key-person activity 53% below their 4-week average"
    assert a.loc["A", "rule_in_words"] == "lights when more than 40% below their 4-week average"
    assert a.loc["A", "lamp_rule"] == "key_person_activity_change < -0.4"
    s = wl.summary
    assert (s["accounts_lit"], s["accounts_newly_lit"], s["accounts_chronic"]) == (5, 4, 1)
    assert (s["accounts_listed"], s["accounts_over_capacity"]) == (3, 1)
    assert s["n_csms"] == 2 and s["unassigned_accounts_lit"] == 1
    assert [g["csm_id"] for g in s["per_csm"]] == ["c1", "c2", "unassigned"]

    text = to_csv_text(actions)
    line_a = next(r for r in text.splitlines() if ",A,Acme A," in r)
    assert line_a.endswith(
        ",new,2025-01-20,2,no,Key-person activity 53% below their 4-week average,"
        "lights when more than 40% below their 4-week average"
    )
    line_d = next(r for r in text.splitlines() if ",D,Acme D," in r)
    assert ",Acme D,," in line_d and ",new,2025-01-20,1,yes," in line_d  # empty csm_id


def test_calibration_rows_by_hand():
    # 30 weekly rows of one account; split at week 20, horizon 4, 3 calibration weeks:
    # the slice is the weeks whose horizon ends before week 20 -> weeks 14, 15, 16;
    # the model to recalibrate is fitted on weeks 0-13
    weeks = pd.date_range("2024-01-01", periods=30, freq="W-MON")
    panel = pd.DataFrame({"account_id": "a", "week_start": weeks, "event": 0})
    panel.loc[5, "event"] = 1  # a churn in the fitting weeks (another spell: never mind)
    y = np.zeros(30)
    y[15] = 1  # one churned and two not-churned rows in the slice
    known = np.ones(30, bool)
    observed = np.ones(30, bool)
    train = np.arange(30) < 20
    fit, sl, problem = calibration_rows(panel, observed, train, known, y, weeks[20], 4, 3, None)
    assert problem is None
    assert np.flatnonzero(fit).tolist() == list(range(14))
    assert np.flatnonzero(sl).tolist() == [14, 15, 16]
    # no churn in the slice: fitted on every training week, not recalibrated, and why
    fit, sl, problem = calibration_rows(
        panel, observed, train, known, np.zeros(30), weeks[20], 4, 3, None
    )
    assert sl is None and fit.sum() == 20
    assert problem == "the calibration slice needs churned and not-churned rows (0 of 3)"
    assert latest_complete_weeks(panel, np.arange(30) < 27, 3).nonzero()[0].tolist() == [24, 25, 26]


@pytest.fixture(scope="module")
def calibrated():
    from test_health_stage import calibrated_world

    return calibrated_world(800, bootstrap_reps=20, calibration_weeks=6)


def test_final_probabilities_are_recalibrated_on_the_latest_complete_weeks(calibrated):
    world, result, scored = calibrated
    final = result["calibration"]["final_model"]
    assert final["applied"] and final["slope"] > 0
    # weeks 0..59 from 2024-01-01 (week k = 2024-01-01 + 7k days), horizon 8: the last week
    # with its whole horizon observed is week 52 (2024-12-30); 6 calibration weeks: 47..52
    assert final["slice_weeks"] == ["2024-11-25", "2024-12-30"]
    # a logistic fit with an intercept reproduces the observed total on the rows it is
    # fitted on (score equation sum(p) = sum(y)): the recalibrated probabilities must
    labels = horizon_labels(scored, 8)
    rows = (scored["week_start"] >= "2024-11-25") & (scored["week_start"] <= "2024-12-30")
    rows &= labels["complete"]
    assert final["n_rows"] == int(rows.sum())
    assert scored.loc[rows, "churn_probability"].sum() == pytest.approx(
        labels.loc[rows, "label"].sum(), rel=1e-6
    )
    # validation model: split at week 36 (60 x 0.6); its slice = the 6 weeks whose horizon
    # ends before week 36: weeks 23..28 (2024-06-10 .. 2024-07-15); fitted on weeks 0..22
    v = result["calibration"]["validation_model"]
    assert v["applied"] and v["slice_weeks"] == ["2024-06-10", "2024-07-15"]
    assert v["fit_weeks"] == ["2024-01-01", "2024-06-03"]


def test_band_calibration_and_metrics_are_reported(calibrated):
    _, result, _ = calibrated
    bands = pd.DataFrame(result["bands"]["validation"])
    assert list(bands["band"]) == ["green", "amber", "red"]
    assert {"ci_low", "ci_high", "within_interval"} <= set(bands.columns)
    used = bands[bands["rows"] > 0]
    assert (used["ci_low"] <= used["observed"]).all() and (
        used["observed"] <= used["ci_high"]
    ).all()
    assert result["bands"]["within_interval"] == bool(used["within_interval"].all())
    m = result["validation"]["calibration_metrics"]
    for key in ("score", "score_before_recalibration"):
        c = m[key]["calibration_slope"]
        assert c["ci_low"] <= c["estimate"] <= c["ci_high"]
    check = result["validation"]["final_procedure_check"]
    assert [b["band"] for b in check["bands"]] == ["green", "amber", "red"]
    assert check["recalibration"]["applied"]


def test_stage_writes_the_work_list_and_its_counts(tmp_path, monkeypatch):
    from test_health_stage import TESTED, synthetic_world, write_project

    world = synthetic_world(n_accounts=600, seed=3)
    params = write_project(tmp_path, world, TESTED)
    params["health_score"].update({"capacity": 2, "new_weeks": 2, "chronic_weeks": 6})
    # accounts ending in 0 lose their CSM: the group "unassigned"
    csm = pd.read_parquet(tmp_path / "data/interim/csm_assignments.parquet")
    csm[~csm["account_id"].str.endswith("0")].to_parquet(
        tmp_path / "data/interim/csm_assignments.parquet"
    )
    monkeypatch.chdir(tmp_path)
    run(params)
    actions = pd.read_csv(tmp_path / "reports/action_list.csv", dtype={"rank_in_csm": "Int64"})
    result = json.loads((tmp_path / "models/health_score.json").read_text())
    summary = result["latest_week"]["worklist"]

    # independent recount: x < 0.5 in the last week; new = lit at most 2 weeks (not since
    # the first panel week); ranked by churn probability x MRR within the CSM group
    group = actions["csm_id"].fillna("unassigned")
    listed = actions[actions["listed"] == "yes"]
    assert listed.groupby(group[listed.index]).size().max() <= 2
    assert (listed["lamp_state"] == "new").all()
    for _, g in actions[actions["lamp_state"] == "new"].groupby(group):
        order = g.sort_values(["mrr_at_risk", "account_id"], ascending=[False, True])
        assert list(order["rank_in_csm"]) == list(range(1, len(order) + 1))
        assert set(g.loc[g["rank_in_csm"] <= 2, "listed"]) <= {"yes"}
    assert actions.loc[actions["lamp_state"] != "new", "rank_in_csm"].isna().all()
    assert summary["accounts_lit"] == actions["account_id"].nunique()
    assert summary["accounts_listed"] == len(listed)
    assert summary["accounts_newly_lit"] == int((actions["lamp_state"] == "new").sum())
    assert summary["n_csms"] == 3 and summary["unassigned_accounts_lit"] > 0
    assert not actions["why"].str.contains("<|>").any()  # words, not `x < 0.5`
    metrics = json.loads((tmp_path / "metrics/health_score.json").read_text())
    assert metrics["worklist_accounts"] == len(listed)
