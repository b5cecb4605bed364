"""Small pure functions on hand-made data with hand-computed answers."""

import numpy as np
import pandas as pd
import pytest

from churnlab.hypotheses.design import adjustment_matrix, churn_within, lag_within_spell, lamp
from churnlab.hypotheses.lamp_perf import (
    ScanData,
    bootstrap_threshold,
    build_scan,
    candidate_thresholds,
    performance,
    pick_threshold,
    weighted_median,
)
from churnlab.hypotheses.landmark import km_curve, landmark_groups
from churnlab.hypotheses.verdict import bh_qvalues, decide, simes, two_level_qvalues


def tiny_panel() -> pd.DataFrame:
    """A churns at the end of week 3, B is censored after week 3, C churns after week 1."""
    return pd.DataFrame(
        {
            "account_id": ["A"] * 4 + ["B"] * 4 + ["C"] * 2,
            "start": [0, 1, 2, 3, 0, 1, 2, 3, 0, 1],
            "stop": [1, 2, 3, 4, 1, 2, 3, 4, 1, 2],
            "event": [0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
            "x": [1.0, 1, 0, 0, 0, 1, 1, 1, 1, 1],
            "segment": ["smb"] * 4 + ["ent"] * 4 + ["mid"] * 2,
        }
    )


def test_lag_within_spell_never_crosses_accounts_or_gaps():
    p = pd.DataFrame(
        {"account_id": ["A", "A", "A", "B", "B"], "start": [0, 1, 3, 0, 1], "x": [1.0, 2, 3, 4, 5]}
    )
    np.testing.assert_array_equal(lag_within_spell(p, "x", 0), [1, 2, 3, 4, 5])
    # A's week 3 follows a gap (no week 2), so its 1-week lag is unknown.
    np.testing.assert_array_equal(lag_within_spell(p, "x", 1), [np.nan, 1, np.nan, np.nan, 4])
    np.testing.assert_array_equal(lag_within_spell(p, "x", 2), [np.nan, np.nan, 2, np.nan, np.nan])


def test_lamp_is_strict_and_keeps_unknowns():
    v = np.array([0.0, 0.5, 1.0, np.nan])
    np.testing.assert_array_equal(lamp(v, "low", 0.5), [1, 0, 0, np.nan])
    np.testing.assert_array_equal(lamp(v, "high", 0.5), [0, 0, 1, np.nan])


def test_adjustment_dummies_use_sorted_first_level_as_reference():
    x, names = adjustment_matrix(tiny_panel(), ["segment", "start"])
    assert names == ["segment=mid", "segment=smb", "start"]
    np.testing.assert_array_equal(x[:, 0], [0, 0, 0, 0, 0, 0, 0, 0, 1, 1])


def test_churn_within_horizon_by_hand():
    y = churn_within(tiny_panel(), 2)
    np.testing.assert_array_equal(y, [0, 0, 1, 1, 0, 0, 0, np.nan, 1, 1])


def test_lamp_performance_by_hand():
    p = tiny_panel()
    scan = build_scan(p, p["x"].to_numpy(), "low", np.array([0.5]), horizon=2)
    row = performance(scan).iloc[0]
    # known rows 9, of which 4 churn within 2 weeks; lamp on in A wk2, A wk3 (both churn), B wk0.
    assert row["base_rate"] == pytest.approx(4 / 9)
    assert row["precision"] == pytest.approx(2 / 3)
    assert row["lift"] == pytest.approx(1.5)
    assert row["rate_off"] == pytest.approx(2 / 6)
    assert row["lamp_on_share"] == pytest.approx(3 / 9)
    # churners A (lamp on in both of its last 2 weeks: 2 weeks of warning) and C (never on)
    assert row["recall"] == pytest.approx(0.5)
    assert row["median_warning_weeks"] == 2


def test_bootstrap_with_all_weights_one_is_the_plain_estimate_and_is_seeded():
    p = tiny_panel()
    scan = build_scan(p, p["x"].to_numpy(), "low", np.array([0.5]), 2)
    a = performance(scan)
    b = performance(scan, np.ones(3))
    pd.testing.assert_frame_equal(a, b)
    assert bootstrap_threshold(scan, 0.2, 1, 20, 7) == bootstrap_threshold(scan, 0.2, 1, 20, 7)


def test_candidate_thresholds_split_flags_and_quantiles():
    np.testing.assert_array_equal(candidate_thresholds(np.array([0.0, 1, 1, np.nan])), [0.5])
    c = candidate_thresholds(np.arange(1000.0))
    assert len(c) == 18 and np.all(np.diff(c) > 0)
    assert len(candidate_thresholds(np.array([np.nan]))) == 0


def test_weighted_median_repeats_values():
    assert weighted_median(np.array([1.0, 2, 3, 4]), np.ones(4)) == 2.5
    assert weighted_median(np.array([1.0, 2, 3]), np.array([1.0, 0, 2])) == 3.0
    assert np.isnan(weighted_median(np.array([1.0]), np.array([0.0])))


def test_pick_threshold_rule_and_fallbacks():
    perf = pd.DataFrame(
        {
            "threshold": [1.0, 2.0, 3.0, 4.0],
            "lamp_on_share": [0.1, 0.2, 0.5, 0.6],
            "lift": [5.0, 3.0, 1.5, 0.9],
            "recall": [0.1, 0.4, 0.8, 0.9],
            "median_warning_weeks": [10.0, 2.0, 6.0, 8.0],
            "chi_square": [90.0, 80.0, 40.0, 100.0],
        }
    )
    # row 0 fails recall, row 1 fails warning, row 3 does not raise churn (lift < 1):
    # row 2 is the sharpest split that passes all three
    idx, rule = pick_threshold(perf, 0.2, 4)
    assert idx == 2 and "chi-square" in rule
    idx, rule = pick_threshold(perf, 0.2, 12)
    assert idx == 1 and "no threshold gave 12 weeks" in rule
    # nothing reaches the recall: not the tail's best lift but the median split is tested
    idx, rule = pick_threshold(perf, 0.95, 4)
    assert idx == 2 and "median split is tested" in rule
    # opportunity: lowest lift with the lamp on often enough
    assert pick_threshold(perf, 0.15, 4, kind="opportunity")[0] == 3
    # no threshold raises churn: the median split (lamp on in ~half the weeks) is tested
    idx, rule = pick_threshold(perf.assign(lift=0.8), 0.2, 4)
    assert idx == 2 and "median split is tested" in rule
    idx, rule = pick_threshold(perf.assign(lamp_on_share=0.0), 0.2, 4)
    assert idx is None and "no threshold turns the lamp on" in rule


def test_chi_square_column_matches_scipy_on_a_2x2_table():
    from scipy.stats import chi2_contingency

    # 4 accounts x 10 weeks; the lamp is on for accounts 0-1, two of which' weeks churn
    scan = ScanData(
        candidates=np.array([0.5]),
        on_rows=np.array([[10.0], [10.0], [0.0], [0.0]]),
        on_churn=np.array([[4.0], [2.0], [0.0], [0.0]]),
        rows=np.array([10.0, 10.0, 10.0, 10.0]),
        churn_rows=np.array([4.0, 2.0, 1.0, 0.0]),
        churner_account=np.array([0, 1, 2]),
        caught=np.array([[True], [True], [False]]),
        warning=np.array([[6.0], [3.0], [0.0]]),
    )
    got = performance(scan)["chi_square"].iloc[0]
    table = np.array([[6, 14], [1, 19]])
    assert got == pytest.approx(chi2_contingency(table, correction=False)[0], rel=1e-12)


def test_suggested_threshold_lands_on_a_step_in_risk_not_in_the_tail():
    """Risk steps up at 60 and rises gently beyond it (as slow onboarding does in the
    simulator): best lift would pick the far tail; the sharpest split finds the step."""
    rng = np.random.default_rng(5)
    n_acc, n_weeks = 3000, 30
    x = np.repeat(rng.gamma(4.0, 12.0, n_acc), n_weeks)  # days to onboarding, fixed per account
    acc = np.repeat(np.arange(n_acc), n_weeks)
    start = np.tile(np.arange(n_weeks), n_acc)
    hazard = 0.004 * np.where(x > 60, 3.0, 1.0) * (1 + np.maximum(x - 60, 0) / 60)
    churn_week = np.array(
        [np.argmax(rng.random(n_weeks) < h) if (rng.random(n_weeks) < h).any() else n_weeks
         for h in hazard[::n_weeks]]
    )  # fmt: skip
    alive = start <= np.repeat(churn_week, n_weeks)
    panel = pd.DataFrame(
        {"account_id": acc, "start": start, "stop": start + 1, "x": x,
         "event": (start == np.repeat(churn_week, n_weeks)).astype(int)}
    )[alive].reset_index(drop=True)  # fmt: skip
    values = panel["x"].to_numpy()
    cands = np.arange(20.0, 140.0, 5.0)
    perf = performance(build_scan(panel, values, "high", cands, 12))
    idx, _ = pick_threshold(perf, 0.2, 0)
    assert 50 <= cands[idx] <= 70
    assert perf["lift"].idxmax() > idx  # best lift would have gone further out


def test_simes_and_two_level_qvalues_by_hand():
    assert simes(np.array([0.01, 0.04, 0.03, np.nan])) == pytest.approx(0.03)  # 0.01 * 3 / 1
    assert np.isnan(simes(np.array([np.nan])))
    families = [
        np.array([0.001, 0.2]),  # Simes 0.002
        np.array([0.02, 0.03]),  # Simes 0.03
        np.array([0.5, 0.9]),  # Simes 0.9
        np.array([np.nan, np.nan]),  # nothing fitted: not a test
    ]
    fam_p, fam_q, lag_q = two_level_qvalues(families, alpha=0.05)
    np.testing.assert_allclose(fam_p[:3], [0.002, 0.03, 0.9])
    np.testing.assert_allclose(fam_q[:3], [0.006, 0.045, 0.9])
    assert np.isnan(fam_p[3]) and np.isnan(fam_q[3])
    # R = 2 of m = 3 selected: within-family BH q scaled by 3/2
    np.testing.assert_allclose(lag_q[0], [0.002 * 1.5, 0.2 * 1.5])
    np.testing.assert_allclose(lag_q[1], [0.045, 0.045])
    assert (lag_q[2] > 0.05).all() and np.isnan(lag_q[3]).all()
    # nothing selected: no lag can pass
    _, _, none = two_level_qvalues([np.array([0.04, 0.5]), np.array([0.3])], alpha=0.01)
    assert all((q > 0.01).all() for q in none)


def test_a_null_family_blip_passes_flat_bh_but_not_two_level():
    """Nine strong signals and one null hypothesis with one small p among 6 lags: the flat
    BH over 60 tests lets the blip through, the two-level rule does not."""
    strong = [np.full(6, 1e-8) for _ in range(9)]
    blip = np.array([0.012, 0.5, 0.6, 0.7, 0.8, 0.9])
    flat = bh_qvalues(np.concatenate([*strong, blip]))
    assert flat[54] <= 0.05
    _, _, lag_q = two_level_qvalues([*strong, blip], alpha=0.05)
    assert lag_q[9][0] > 0.05 and (lag_q[0] <= 0.05).all()


def test_bh_qvalues_by_hand_and_nan_is_not_a_test():
    q = bh_qvalues(np.array([0.01, 0.04, np.nan, 0.03, 0.5]))
    np.testing.assert_allclose(q, [0.04, 0.16 / 3, np.nan, 0.16 / 3, 0.5])


def _profile(coefs, qs, se=0.05):
    lags = [0, 1, 2, 4, 8, 12]
    return pd.DataFrame(
        {
            "lag_weeks": lags,
            "coef": coefs,
            "se": se,
            "hazard_ratio": np.exp(coefs),
            "p_value": qs,
            "q_value": qs,
            "problem": [None] * 6,
        }
    )


def test_verdict_rules():
    peak8 = _profile([0.5, 0.6, 0.7, 0.9, 1.2, 1.0], [0.001] * 6)
    assert decide(peak8, +1, 4, 0.05)[::2] == ("leads churn", 8)
    peak0 = _profile([1.5, 1.2, 1.0, 0.8, 0.5, 0.3], [0.001] * 6)
    assert decide(peak0, +1, 4, 0.05)[::2] == ("too late to act on", 0)
    # a persistent condition: equally strong at every lag -> the longest lag within 1 SE
    persistent = _profile([0.80, 0.84, 0.81, 0.80, 0.78, 0.79], [0.001] * 6, se=0.1)
    assert decide(persistent, +1, 4, 0.05)[::2] == ("leads churn", 12)
    # ... but a peak clearly above the longer lags keeps its own lag
    clear_peak = _profile([1.5, 1.35, 1.0, 0.8, 0.5, 0.3], [0.001] * 6, se=0.2)
    assert decide(clear_peak, +1, 4, 0.05)[2] == 1
    flat = _profile([0.1] * 6, [0.3] * 6)
    assert decide(flat, +1, 4, 0.05)[0] == "no evidence"
    opposite = _profile([-0.8] * 6, [0.001] * 6)
    assert decide(opposite, +1, 4, 0.05)[0] == "opposite direction"
    # for an opportunity lamp a protective effect is the expected direction
    assert decide(opposite, -1, 4, 0.05)[::2] == ("leads churn", 12)
    # significant but weak (HR 1.10 < 1.2): not evidence, and the reason says so
    weak = _profile([np.log(1.1)] * 6, [0.001] * 6)
    assert decide(weak, +1, 4, 0.05, min_effect_hr=1.0)[0] == "leads churn"
    verdict, reason, lag = decide(weak, +1, 4, 0.05, min_effect_hr=1.2)
    assert verdict == "no evidence" and "weak" in reason and lag is None
    # nothing significant and the CI cannot exclude HR 2: too little data to say "no evidence"
    vague = _profile([0.3] * 6, [0.4] * 6).assign(ci_low=0.6, ci_high=3.0)
    assert decide(vague, +1, 4, 0.05)[0] == "no evidence"
    verdict, reason, _ = decide(vague, +1, 4, 0.05, rule_out_hr=2.0)
    assert verdict == "inconclusive" and "cannot rule out an effect of HR 2" in reason
    tight = vague.assign(ci_low=0.8, ci_high=1.3)
    assert decide(tight, +1, 4, 0.05, rule_out_hr=2.0)[0] == "no evidence"
    # for an opportunity the bound that matters is the low side (HR 1/2)
    assert decide(tight.assign(ci_low=0.45), -1, 4, 0.05, rule_out_hr=2.0)[0] == "inconclusive"
    failed = _profile([np.nan] * 6, [np.nan] * 6)
    failed["problem"] = "too little data: 3 events in 40 accounts (need 20 and 50)"
    verdict, reason, lag = decide(failed, +1, 4, 0.05)
    assert verdict == "inconclusive" and "too little data" in reason and lag is None


def test_km_curve_by_hand():
    c = km_curve(np.array([1.0, 2, 2, 3]), np.array([True, False, True, False]))
    np.testing.assert_allclose(c["survival"], [1.0, 0.75, 0.5, 0.5])
    np.testing.assert_array_equal(c["at_risk"], [4, 4, 3, 1])
    # Greenwood on the log scale: week 1 var(log S) = 1/(4*3); week 2 adds 1/(3*2)
    se = np.sqrt([0, 1 / 12, 1 / 12 + 1 / 6, 1 / 12 + 1 / 6])
    np.testing.assert_allclose(c["ci_low"], c["survival"] * np.exp(-1.959963984540054 * se))
    np.testing.assert_allclose(
        c["ci_high"], np.minimum(1, c["survival"] * np.exp(1.959963984540054 * se))
    )


def test_landmark_groups_use_lamp_at_the_landmark_only():
    p = tiny_panel()
    now = lamp(p["x"].to_numpy(), "low", 0.5)
    g = landmark_groups(p, now, landmark=1, max_follow=10)
    # at week 1: A off (x=1), B off (x=1), C off; A later turns on but stays in "off"
    assert list(g["account_id"]) == ["A", "B", "C"]
    assert not g["lamp_on"].any()
    np.testing.assert_array_equal(g["weeks"], [3, 3, 1])
    np.testing.assert_array_equal(g["churned"], [True, False, True])


def test_truth_scoring_by_hand():
    from churnlab.hypotheses.truth_check import score_against_truth, summary

    truth = {
        "indicators": {
            "a": {"role": "leading", "direction": "low", "lead_weeks": 8},
            "b": {"role": "leading", "direction": "high", "lead_weeks": 12},
            "c": {"role": "coincident", "direction": "high", "lead_weeks": 1},
            "d": {"role": "decoy", "direction": "high", "lead_weeks": None},
        }
    }

    def h(i, ind, verdict, lag, direction="high", kind="risk"):
        return {"id": i, "indicator": ind, "direction": direction, "kind": kind,
                "verdict": verdict, "best_lag_weeks": lag}  # fmt: skip

    hyps = [
        h("a1", "a", "leads churn", 10, "low"),  # within 2 weeks: recovered
        h("b1", "b", "leads churn", 8),  # lead off by 4: missed
        h("c1", "c", "too late to act on", 0),
        h("d1", "d", "leads churn", 4),  # false discovery
        h("d2", "d", "leads churn", 4, "low"),  # other direction: not scored
        h("o1", "a", "leads churn", 8, "low", "opportunity"),  # not scored
    ]
    scored = score_against_truth(hyps, truth)
    assert list(scored["id"]) == ["a1", "b1", "c1", "d1"]
    assert list(scored["correct"]) == [True, False, True, False]
    s = summary(scored)
    assert s["power"] == 0.5 and s["false_discovery_share"] == 1.0 and s["coincident_too_late"] == 1
