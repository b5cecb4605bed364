"""The lead profile on a case-cohort sample: each lag is the weighted, account-clustered Cox
fit of the sampled rows (the same numbers as calling fit_cox by hand), its p the robust
Wald p, counts of the whole cohort, and the GLM cross-check fitted on the same rows with the
same weights (tests/hypotheses/test_hyp_glm_weighted.py checks that fit itself)."""

import numpy as np
import pandas as pd

from churnlab.hypotheses.case_cohort import case_cohort_sample
from churnlab.hypotheses.cox import fit_cox
from churnlab.hypotheses.design import lag_within_spell, lamp
from churnlab.hypotheses.glm_check import fit_cloglog, tenure_bins
from churnlab.hypotheses.lead import lead_profile
from churnlab.hypotheses.synthetic import synthetic_panel


def test_sampled_lag_equals_a_weighted_clustered_fit_by_hand():
    panel = synthetic_panel(n_accounts=800, n_weeks=50, lead=4, hazard_ratio=5.0, seed=5)
    no_adjust = np.zeros((len(panel), 0))
    sample = case_cohort_sample(panel["account_id"].to_numpy(), panel["event"].to_numpy(), 0.25, 9)
    prof = lead_profile(panel, "leader", "low", 0.65, [0, 4], no_adjust, [], 5, 10, sample=sample)
    full = lead_profile(panel, "leader", "low", 0.65, [0, 4], no_adjust, [], 5, 10)
    for lag in (0, 4):
        row = prof[prof["lag_weeks"] == lag].iloc[0]
        x = lamp(lag_within_spell(panel, "leader", lag), "low", 0.65)
        rows = sample.rows[np.isfinite(x[sample.rows])]
        w = sample.weights[np.isfinite(x[sample.rows])]
        p = panel.iloc[rows]
        fit = fit_cox(
            p["start"].to_numpy(float), p["stop"].to_numpy(float), p["event"].to_numpy(bool),
            x[rows].reshape(-1, 1), weights=w, cluster=pd.factorize(panel["account_id"])[0][rows],
        )  # fmt: skip
        assert row["coef"] == fit.coef[0] and row["se"] == fit.se[0]
        assert row["p_value"] == row["wald_p_value"] == fit.term(0)["p_value"]
        glm = fit_cloglog(
            p["event"].to_numpy(float), x[rows].reshape(-1, 1),
            pd.factorize(panel["account_id"])[0][rows],
            tenure_bins(p["stop"].to_numpy(float), p["event"].to_numpy(bool)), weights=w,
        )  # fmt: skip
        assert row["glm_problem"] is None and glm["problem"] is None
        assert (row["glm_coef"], row["glm_se"]) == (glm["coef"], glm["se"])
        # counts are the cohort's, as in the full fit
        ref = full[full["lag_weeks"] == lag].iloc[0]
        assert (row["n_rows"], row["n_events"], row["n_accounts"]) == (
            ref["n_rows"], ref["n_events"], ref["n_accounts"],
        )  # fmt: skip
        # the sample's interval covers the full fit's HR on this strong effect
        assert row["ci_low"] <= ref["hazard_ratio"] <= row["ci_high"]
