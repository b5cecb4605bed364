"""Lamps judged as alerts, on a hand-made panel whose answers are worked out in comments."""

import numpy as np
import pandas as pd
import pytest

from churnlab.health.alerts import (
    UNASSIGNED,
    alert_summary,
    alert_table,
    churn_within_weeks,
    csm_week_load,
    lamp_runs,
)

W0 = pd.Timestamp("2024-01-01")


def wk(k):
    return W0 + pd.Timedelta(weeks=k)


def _panel():
    """Weeks 0..7, horizon 3 in the tests.
    A (csm c1): weeks 0-7, no churn, lit 1 1 0 0 1 1 0 1
    B (csm c1): weeks 2-6, churns in week 6, lit 0 1 0 1 1 (weeks 2..6)
    C (no CSM): weeks 0-5, churns in week 5, never lit
    D (csm c2): weeks 1-7, no churn, lit every week (arrives lit)"""
    spec = {
        "A": (0, [1, 1, 0, 0, 1, 1, 0, 1], None, "c1"),
        "B": (2, [0, 1, 0, 1, 1], 6, "c1"),
        "C": (0, [0, 0, 0, 0, 0, 0], 5, None),
        "D": (1, [1, 1, 1, 1, 1, 1, 1], None, "c2"),
    }
    rows = []
    for acc, (first, lit, churn, csm) in spec.items():
        for i, on in enumerate(lit):
            w = first + i
            rows.append(
                {
                    "account_id": acc,
                    "week_start": wk(w),
                    "event": int(churn == w),
                    "csm_id": csm,
                    "lit": on,
                }
            )
    return pd.DataFrame(rows)


def test_lamp_runs_run_start_weeks_lit_and_lightings():
    p = _panel()
    r = lamp_runs(p, p["lit"])
    a = r[p["account_id"] == "A"]
    # A: run w0-1 (left-censored: began in the frame's first week), run w4-5, run w7
    assert a["weeks_lit"].tolist() == [1, 2, 0, 0, 1, 2, 0, 1]
    assert a["lighting"].tolist() == [False, False, False, False, True, False, False, True]
    assert a["left_censored"].tolist() == [True, True, False, False, False, False, False, False]
    assert a["run_start"].iloc[5] == wk(4)
    assert pd.isna(a["run_start"].iloc[2])
    d = r[p["account_id"] == "D"]
    # D arrives lit in week 1 (not the frame's first week): that is a lighting
    assert d["lighting"].tolist() == [True] + [False] * 6
    assert d["weeks_lit"].iloc[-1] == 7
    assert (d["run_start"] == wk(1)).all()


def test_lamp_runs_keeps_the_index_when_rows_are_shuffled():
    p = _panel()
    expected = lamp_runs(p, p["lit"])
    shuffled = p.sample(frac=1.0, random_state=3)
    got = lamp_runs(shuffled, shuffled["lit"])
    pd.testing.assert_frame_equal(got.sort_index(), expected.sort_index())


def test_a_missing_week_breaks_a_run_and_spells_are_separate_subjects():
    # weeks 0, 1, 3 lit: the gap at week 2 ends the first run; week 3 is a new lighting
    gap = pd.DataFrame(
        {"account_id": "X", "week_start": [wk(0), wk(1), wk(3)], "event": 0, "lit": [1, 1, 1]}
    )
    assert lamp_runs(gap, gap["lit"])["weeks_lit"].tolist() == [1, 2, 1]
    assert lamp_runs(gap, gap["lit"])["lighting"].tolist() == [False, False, True]
    # one account, spell 1 weeks 0-2, spell 2 weeks 3-4, lit throughout
    sp = pd.DataFrame(
        {
            "account_id": "Y",
            "spell": [1, 1, 1, 2, 2],
            "week_start": [wk(k) for k in range(5)],
            "event": [0, 0, 1, 0, 0],
            "lit": 1,
        }
    )
    assert lamp_runs(sp, sp["lit"])["weeks_lit"].tolist() == [1, 2, 3, 1, 2]
    assert lamp_runs(sp.drop(columns="spell"), sp["lit"])["weeks_lit"].tolist() == [1, 2, 3, 4, 5]


def test_alert_summary_hand_computed():
    p = _panel()
    s = alert_summary(p, p["lit"], horizon_weeks=3)
    assert s["account_weeks"] == 26 and s["weeks"] == 8
    # share lit per week: .5, 2/3, 1/4, 2/4, 2/4, 3/4, 2/3, 2/2 -> median (1/2 + 2/3) / 2
    assert s["share_lit_median"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert s["share_lit_latest"] == pytest.approx(1.0)
    assert s["latest_week"] == "2024-02-19"
    # lightings: A w4, A w7, B w3, B w5, D w1; 24 rows after the first week
    assert s["lightings"] == 5
    assert s["lightings_per_100_account_weeks"] == pytest.approx(100 * 5 / 24)
    # A w7's horizon (w7..w9) is not observed -> 4 known; only B w5 is followed by churn (w6)
    assert s["lightings_known"] == 4
    assert s["precision"] == pytest.approx(0.25)
    # known subject-weeks: A w0-5 (0), B w2-6 (w4, w5, w6 = 1), C w0-5 (w3-5 = 1), D w1-5 (0)
    assert s["base_rate"] == pytest.approx(6 / 22)
    assert s["lift"] == pytest.approx(0.25 / (6 / 22))
    # churners B (lighting w5 in window w4-6: 6 - 5 + 1 = 2 weeks) and C (never lit)
    assert s["churners"] == 2 and s["churners_warned"] == 1
    assert s["churners_warned_share"] == pytest.approx(0.5)
    assert s["median_warning_weeks"] == pytest.approx(2.0)
    assert s["churners_lit_share"] == pytest.approx(0.5)
    # runs: A 2, 2, 1(ongoing); B 1, 2(ongoing); D 7(ongoing) -> 1 1 2 2 2 7
    assert s["runs"] == 6 and s["runs_ongoing"] == 3
    assert s["weeks_lit_median"] == pytest.approx(2.0)
    assert s["weeks_lit_p75"] == pytest.approx(2.0)
    # CSM cells weeks 1-7: c1 lightings 0 0 1 1 1 0 1, c2 1 0 0 0 0 0 0 -> 5 ones of 14
    assert s["n_csms"] == 2
    assert s["lightings_per_csm_week_median"] == pytest.approx(0.0)
    assert s["lightings_per_csm_week_p90"] == pytest.approx(1.0)
    assert s["lightings_per_csm_week_max"] == pytest.approx(1.0)
    assert s["unassigned_lightings_per_week_median"] == pytest.approx(0.0)


def test_csm_week_load_groups_accounts_without_a_csm_as_unassigned():
    p = _panel()
    load = csm_week_load(p, p["lit"])
    assert set(load["csm_id"]) == {"c1", "c2", UNASSIGNED}
    un = load[load["csm_id"] == UNASSIGNED]
    assert un["active"].tolist() == [1] * 5  # C, weeks 1-5
    c1 = load[load["csm_id"] == "c1"].set_index("week_start")
    assert c1.loc[wk(5), "active"] == 2 and c1.loc[wk(5), "lit"] == 2
    assert c1["lightings"].tolist() == [0, 0, 1, 1, 1, 0, 1]
    # without a csm_id column nobody is a CSM
    s = alert_summary(p.drop(columns="csm_id"), p["lit"], 3)
    assert s["n_csms"] == 0 and np.isnan(s["lightings_per_csm_week_median"])


def test_alert_table_one_row_per_lamp_and_nan_is_off():
    p = _panel()
    never = pd.Series(np.nan, index=p.index)
    t = alert_table(p, {"real": p["lit"], "never": never}, 3)
    assert t["id"].tolist() == ["real", "never"]
    assert t.loc[1, "lightings"] == 0 and np.isnan(t.loc[1, "precision"])
    assert t.loc[1, "churners_warned_share"] == 0.0


def test_churn_within_weeks_and_errors():
    week = np.array([0, 1, 2, 3])
    y = churn_within_weeks(week, np.ones(4, bool), np.full(4, 3), np.full(4, 3), 2)
    # churn in week 3, horizon 2: rows w2, w3 -> 1; w0 (window 0-1) 0; w1 (1-2) 0
    assert y.tolist() == [0.0, 0.0, 1.0, 1.0]
    y = churn_within_weeks(week, np.zeros(4, bool), np.zeros(4), np.full(4, 3), 2)
    assert y[:3].tolist() == [0.0, 0.0, 0.0] and np.isnan(y[3])
    with pytest.raises(ValueError, match="horizon"):
        churn_within_weeks(week, np.zeros(4, bool), np.zeros(4), np.full(4, 3), 0)
    p = _panel()
    with pytest.raises(ValueError, match="two rows"):
        lamp_runs(pd.concat([p, p.iloc[:1]]), np.ones(len(p) + 1))
    with pytest.raises(ValueError, match="rows"):
        lamp_runs(p, np.ones(3))
