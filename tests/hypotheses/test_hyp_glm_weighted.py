"""The GLM cross-check under the case-cohort design (issue 17): a design-weighted cloglog GLM
on the sampled rows, with Barlow's weights and the sandwich variance clustered on account.

By hand: pooling weighted rows into cells changes neither the estimate nor the clustered SE
(the same numbers as statsmodels on the raw rows with var_weights, and as the sandwich
written out in NumPy); an integer weight is the row repeated. Against a full fit: on a panel
with a known lead, the sampled profile's Cox and GLM hazard ratios fall in the full fit's
intervals and give the same answer (same sign and significance), and a null lamp stays null."""

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

import churnlab.hypotheses.lead as lead_mod
from churnlab.hypotheses.case_cohort import case_cohort_sample
from churnlab.hypotheses.glm_check import fit_cloglog, tenure_bins
from churnlab.hypotheses.lead import lead_profile
from churnlab.hypotheses.synthetic import synthetic_panel


def _tiny(seed: int = 3, n_accounts: int = 60, weeks: int = 12):
    """A hand-made account-week table: a 0/1 lamp, one adjuster dummy, churn at random."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_accounts), weeks)
    stop = np.tile(np.arange(1, weeks + 1), n_accounts).astype(float)
    lamp = (rng.random(len(groups)) < 0.3).astype(float)
    adj = np.repeat(rng.random(n_accounts) < 0.5, weeks).astype(float)
    event = (rng.random(len(groups)) < 0.04 + 0.08 * lamp).astype(float)
    # Barlow-like weights: 1 at a churn row, 1/0.25 = 4 elsewhere
    w = np.where(event == 1, 1.0, 4.0)
    return event, np.column_stack([lamp, adj]), groups, stop, w


def _sandwich_by_hand(event, design, groups, w, beta, observed=True):
    """Binder's linearisation variance of a weighted cloglog GLM: B^-1 M B^-1, M = the sum
    over accounts of (sum of the account's weighted scores) outer itself, B = minus the
    derivative of the weighted score (the observed information, as statsmodels uses; R's
    svyglm uses the expected one, observed=False)."""
    eta = design @ beta
    mu = 1.0 - np.exp(-np.exp(eta))
    dmu = np.exp(eta) * (1.0 - mu)  # d mu / d eta of the cloglog link
    var = mu * (1.0 - mu)
    score = (w * (event - mu) * dmu / var)[:, None] * design
    # d/d eta of (y - mu) * dmu / var = -dmu^2 / var + (y - mu) * d(e^eta / mu) / d eta
    curv = dmu**2 / var
    if observed:
        curv = curv - (event - mu) * (np.exp(eta) / mu) * (1.0 - dmu / mu)
    info = (design * (w * curv)[:, None]).T @ design
    sums = np.zeros((groups.max() + 1, design.shape[1]))
    np.add.at(sums, groups, score)
    bread = np.linalg.inv(info)
    return bread @ (sums.T @ sums) @ bread


def test_weighted_pooled_fit_equals_the_raw_rows_and_the_sandwich_by_hand():
    event, x, groups, stop, w = _tiny()
    bins = tenure_bins(stop, event)
    got = fit_cloglog(event, x, groups, bins, ["lamp", "adj"], weights=w)
    assert got["problem"] is None
    design = np.column_stack([np.ones(len(event)), x, bins])
    with warnings.catch_warnings():  # "cov_type not fully supported with var_weights"
        warnings.simplefilter("ignore")
        raw = sm.GLM(
            event,
            design,
            family=sm.families.Binomial(sm.families.links.CLogLog()),
            var_weights=w,
        ).fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
    assert np.isclose(got["coef"], raw.params[1], rtol=0, atol=1e-8)
    assert np.isclose(got["se"], raw.bse[1], rtol=1e-6)
    cov = _sandwich_by_hand(event, design, groups, w, raw.params)
    assert np.isclose(got["se"], np.sqrt(cov[1, 1]), rtol=1e-6)
    # with the expected information in the bread (survey::svyglm) the SE moves by < 1%
    cov_e = _sandwich_by_hand(event, design, groups, w, raw.params, observed=False)
    assert np.isclose(got["se"], np.sqrt(cov_e[1, 1]), rtol=1e-2)


def test_an_integer_weight_is_the_row_repeated():
    event, x, groups, stop, _ = _tiny(seed=8)
    w = np.where(np.arange(len(event)) % 3 == 0, 2.0, 1.0)
    rep = np.repeat(np.arange(len(event)), w.astype(int))
    bins = tenure_bins(stop, event)
    weighted = fit_cloglog(event, x, groups, bins, weights=w)
    repeated = fit_cloglog(event[rep], x[rep], groups[rep], bins[rep])
    # the same likelihood and the same per-account score sums: the same coefficient and SE
    assert np.isclose(weighted["coef"], repeated["coef"], rtol=0, atol=1e-9)
    assert np.isclose(weighted["se"], repeated["se"], rtol=1e-7)


def test_unit_weights_give_the_unweighted_fit_exactly():
    event, x, groups, stop, _ = _tiny(seed=5)
    bins = tenure_bins(stop, event)
    assert fit_cloglog(event, x, groups, bins, weights=np.ones(len(event))) == fit_cloglog(
        event, x, groups, bins
    )


def _profiles(panel, indicator, direction, threshold, lags, fraction, seed):
    no_adjust = np.zeros((len(panel), 0))
    sample = case_cohort_sample(
        panel["account_id"].to_numpy(), panel["event"].to_numpy(), fraction, seed
    )
    args = (panel, indicator, direction, threshold, lags, no_adjust, [], 5, 10)
    return lead_profile(*args), lead_profile(*args, sample=sample)


def test_sampled_profile_agrees_with_the_full_fit_on_a_known_lead():
    # leader drops 4 weeks before the hazard rises five-fold; 1,500 accounts, 30% subcohort
    panel = synthetic_panel(n_accounts=1500, n_weeks=60, lead=4, hazard_ratio=5.0, seed=21)
    full, samp = _profiles(panel, "leader", "low", 0.65, [0, 2, 4, 6, 8], 0.3, 7)
    assert samp["glm_problem"].isna().all() and samp["problem"].isna().all()
    for (_, f), (_, s) in zip(full.iterrows(), samp.iterrows(), strict=True):
        # Cox and GLM each: the sampled HR inside the full fit's 95% interval
        assert f["ci_low"] <= s["hazard_ratio"] <= f["ci_high"], f["lag_weeks"]
        g_lo, g_hi = (np.exp(f["glm_coef"] + z * 1.96 * f["glm_se"]) for z in (-1, 1))
        assert g_lo <= np.exp(s["glm_coef"]) <= g_hi, f["lag_weeks"]
        # the same answer: sign and significance at 0.05, Cox and GLM alike
        for col, p in (("coef", "p_value"), ("glm_coef", "glm_p_value")):
            assert np.sign(s[col]) == np.sign(f[col])
            assert (s[p] < 0.05) == (f[p] < 0.05), (f["lag_weeks"], col)
        # sampling costs precision: both SEs are larger than the full cohort's
        assert s["se"] > f["se"] and s["glm_se"] > f["glm_se"]
        assert s["disagreement"] is None
    # both profiles on the sample still peak at the true lead (HR 4.3 at 4 weeks here)
    for col in ("coef", "glm_coef"):
        assert samp.loc[samp[col].idxmax(), "lag_weeks"] == 4


def test_sampled_profile_keeps_a_null_lamp_null():
    # `decoy` has no effect on the hazard: neither fit on the sample finds one
    panel = synthetic_panel(n_accounts=1500, n_weeks=60, lead=4, hazard_ratio=5.0, seed=22)
    thr = float(np.nanmedian(panel["decoy"]))
    full, samp = _profiles(panel, "decoy", "high", thr, [0], 0.3, 7)
    s, f = samp.iloc[0], full.iloc[0]
    assert s["p_value"] > 0.05 and s["glm_p_value"] > 0.05
    assert f["ci_low"] <= s["hazard_ratio"] <= f["ci_high"]


def test_sampled_glm_fits_only_the_sampled_rows(monkeypatch):
    # the cost claim: the weighted GLM sees the sample's rows, not the cohort's
    panel = synthetic_panel(n_accounts=400, n_weeks=40, lead=0, hazard_ratio=4.0, seed=2)
    ids, ev = panel["account_id"].to_numpy(), panel["event"].to_numpy()
    sample = case_cohort_sample(ids, ev, 0.2, 1)
    seen = []
    real = lead_mod.fit_cloglog

    def spy(event, *args, **kwargs):
        seen.append((len(event), kwargs.get("weights")))
        return real(event, *args, **kwargs)

    monkeypatch.setattr(lead_mod, "fit_cloglog", spy)
    lead_profile(panel, "leader", "low", 0.65, [0], np.zeros((len(panel), 0)), [], 5, 10,
                 sample=sample)  # fmt: skip
    ((n, w),) = seen
    assert n == len(sample.rows) and np.array_equal(w, sample.weights)
    assert pd.Series(w).isin([1.0, 1.0 / sample.fraction]).all()
