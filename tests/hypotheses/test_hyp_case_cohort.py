"""Case-cohort sampling: the sample is what Barlow's design says, and the weighted fit with
a robust variance recovers the full-cohort hazard ratio (within its interval, unbiased over
repeated draws) on a panel with a known effect."""

import numpy as np
import pytest

from churnlab.hypotheses.case_cohort import case_cohort_sample, subcohort, use_case_cohort
from churnlab.hypotheses.cox import fit_cox
from churnlab.hypotheses.design import lamp
from churnlab.hypotheses.synthetic import synthetic_panel


def test_barlow_sample_by_hand():
    ids = np.array(["a", "a", "a", "b", "b", "c", "c", "d"])
    event = np.array([0, 0, 1, 0, 0, 0, 1, 0])
    s = case_cohort_sample(ids, event, fraction=0.5, seed=1)
    inside = subcohort(ids, 0.5, 1)
    drawn = set(ids[inside])
    assert len(drawn) == 2  # a fixed-size draw: round(0.5 * 4 accounts)
    expected_rows = [i for i in range(len(ids)) if ids[i] in drawn or event[i]]
    assert s.rows.tolist() == expected_rows
    # 1/fraction for subcohort rows, 1 at every case's event row
    expected_w = [1.0 if event[i] else 2.0 for i in expected_rows]
    assert s.weights.tolist() == expected_w
    assert s.n_cases_outside == len({"a", "c"} - drawn)


def test_sample_ignores_row_order():
    ids = np.array([f"A{i % 50}" for i in range(500)])
    a = subcohort(ids, 0.3, seed=7)
    perm = np.random.default_rng(0).permutation(len(ids))
    b = subcohort(ids[perm], 0.3, seed=7)
    assert set(ids[a]) == set(ids[perm][b])


def test_switch():
    assert use_case_cohort("auto", 10, 5) and not use_case_cohort("auto", 5, 5)
    assert use_case_cohort("case_cohort", 1, 5) and not use_case_cohort("full", 10**9, 5)
    with pytest.raises(ValueError, match="auto | full"):
        use_case_cohort("cch", 1, 1)


def _fit(panel, rows=None, weights=None, cluster=True):
    rows = np.arange(len(panel)) if rows is None else rows
    p = panel.iloc[rows]
    x = lamp(p["leader"].to_numpy(), "low", 0.65).reshape(-1, 1)
    return fit_cox(
        p["start"].to_numpy(), p["stop"].to_numpy(), p["event"].to_numpy(), x,
        weights=weights, cluster=p["account_id"].to_numpy() if cluster else None,
    )  # fmt: skip


def test_case_cohort_recovers_the_full_cohort_hazard_ratio():
    panel = synthetic_panel(n_accounts=3000, n_weeks=60, lead=0, hazard_ratio=4.0, seed=11)
    full = _fit(panel, cluster=False).term()
    coefs, inside_ci = [], 0
    for seed in range(12):
        s = case_cohort_sample(panel["account_id"].to_numpy(), panel["event"].to_numpy(), 0.2, seed)
        assert len(s.rows) < 0.35 * len(panel)
        cc = _fit(panel, s.rows, s.weights).term()
        coefs.append(cc["coef"])
        inside_ci += full["ci_low"] <= cc["hazard_ratio"] <= full["ci_high"]
        # sampling adds variance: the robust SE is larger than the full cohort's
        assert cc["se"] > full["se"]
    assert inside_ci >= 10
    # unbiased over draws: the mean is within 2 standard errors of the mean of the full fit
    se_mean = np.std(coefs, ddof=1) / np.sqrt(len(coefs))
    assert abs(np.mean(coefs) - full["coef"]) < 2 * se_mean + 0.02
