"""The GLM cross-check's pooling is exact, and the PH check sees a drifting hazard ratio."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from churnlab.hypotheses.design import adjustment_matrix, lamp
from churnlab.hypotheses.glm_check import compare, fit_cloglog, pool_cells, tenure_bins
from churnlab.hypotheses.ph_check import ph_interaction
from churnlab.hypotheses.synthetic import synthetic_panel


def test_pooled_cloglog_equals_the_row_level_fit():
    p = synthetic_panel(n_accounts=300, n_weeks=40, seed=5)
    adj, _ = adjustment_matrix(p, ["billing_period", "segment"])
    x = np.column_stack([lamp(p["leader"].to_numpy(), "low", 0.65), adj])
    event = p["event"].to_numpy().astype(float)
    groups = pd.factorize(p["account_id"])[0]
    bins = tenure_bins(p["stop"].to_numpy(), event)
    pooled = fit_cloglog(event, x, groups, bins)
    design = np.column_stack([np.ones(len(event)), x, bins])
    family = sm.families.Binomial(sm.families.links.CLogLog())
    rows = sm.GLM(event, design, family=family).fit(
        cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}
    )
    assert pooled["problem"] is None
    np.testing.assert_allclose(pooled["coef"], rows.params[1], rtol=1e-8)
    np.testing.assert_allclose(pooled["se"], rows.bse[1], rtol=1e-6)


def test_pool_cells_by_hand():
    design = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 5.0]])
    groups = np.array([7, 7, 7, 3, 3])
    cell, first = pool_cells(design, groups)
    # sorted cells: (0,5,g3) (1,0,g3) (1,0,g7) (1,1,g7)
    assert cell.tolist() == [2, 3, 2, 1, 0]
    assert first.tolist() == [4, 3, 0, 1]


def test_pool_cells_numbers_cells_like_a_sorted_pandas_groupby():
    rng = np.random.default_rng(3)
    design = rng.integers(0, 3, size=(2000, 4)).astype(float)
    groups = rng.integers(0, 40, size=2000)
    frame = pd.DataFrame(design).assign(_g=groups)
    expected = frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy()
    cell, first = pool_cells(design, groups)
    np.testing.assert_array_equal(cell, expected)
    np.testing.assert_array_equal(
        first, [np.flatnonzero(expected == c)[0] for c in range(len(first))]
    )


def test_compare_flags_sign_and_significance():
    assert compare(0.5, 0.001, {"coef": 0.4, "p_value": 0.002}) is None
    assert compare(0.5, 0.001, {"coef": -0.4, "p_value": 0.002}) == "sign differs"
    assert compare(0.5, 0.001, {"coef": 0.1, "p_value": 0.4}) == "significant in Cox only"
    assert compare(0.1, 0.4, {"coef": 0.5, "p_value": 0.01}) == "significant in GLM only"
    assert compare(0.5, 0.001, {"coef": None, "p_value": None}) is None


def _weekly(n, hr_early, hr_late, switch, seed):
    """Half the accounts have the lamp on; its HR is hr_early before week `switch`, then hr_late."""
    rng = np.random.default_rng(seed)
    on = rng.random(n) < 0.5
    rows = []
    for i in range(n):
        for t in range(60):
            hr = (hr_early if t < switch else hr_late) if on[i] else 1.0
            died = rng.random() < 0.01 * hr
            rows.append((t, t + 1, int(died), float(on[i])))
            if died:
                break
    return np.array(rows)


def test_ph_check_detects_a_drifting_hazard_ratio():
    d = _weekly(1500, hr_early=1.0, hr_late=4.0, switch=20, seed=1)
    res = ph_interaction(d[:, 0], d[:, 1], d[:, 2], d[:, 3], np.zeros((len(d), 0)))
    assert res["proportional"] is False and res["p_value"] < 1e-3 and res["interaction_coef"] > 0


def test_ph_check_accepts_a_constant_hazard_ratio():
    d = _weekly(1500, hr_early=2.5, hr_late=2.5, switch=20, seed=2)
    res = ph_interaction(d[:, 0], d[:, 1], d[:, 2], d[:, 3], np.zeros((len(d), 0)))
    assert res["proportional"] is True and res["problem"] is None


def test_lead_profile_p_value_is_the_likelihood_ratio_test_lifelines_gives():
    """p_value = LRT of the lamp (model with vs without it, same rows), checked against two
    lifelines CoxTimeVaryingFitter fits; the Wald p is kept beside it."""
    from lifelines import CoxTimeVaryingFitter
    from scipy.stats import chi2

    from churnlab.hypotheses.design import adjustment_matrix, lag_within_spell, lamp
    from churnlab.hypotheses.lead import lead_profile
    from churnlab.hypotheses.synthetic import synthetic_panel

    panel = synthetic_panel(n_accounts=300, n_weeks=40, seed=8)
    adjust, names = adjustment_matrix(panel, ["billing_period", "segment"])
    prof = lead_profile(panel, "leader", "low", 0.65, [2], adjust, names, 5, 10, with_glm=False)
    x = lamp(lag_within_spell(panel, "leader", 2), "low", 0.65)
    keep = ~np.isnan(x)
    df = pd.DataFrame(adjust[keep], columns=[f"a{j}" for j in range(adjust.shape[1])])
    df["lamp"] = x[keep]
    df["id"] = panel["account_id"].to_numpy()[keep]
    for c in ("start", "stop", "event"):
        df[c] = panel[c].to_numpy()[keep]
    kw = {"id_col": "id", "start_col": "start", "stop_col": "stop", "event_col": "event"}
    full = CoxTimeVaryingFitter().fit(df, **kw)
    reduced = CoxTimeVaryingFitter().fit(df.drop(columns="lamp"), **kw)
    expected = chi2.sf(2 * (full.log_likelihood_ - reduced.log_likelihood_), 1)
    assert prof["p_value"].iloc[0] == pytest.approx(expected, rel=1e-5)
    assert prof["wald_p_value"].iloc[0] == pytest.approx(full.summary.loc["lamp", "p"], rel=1e-4)
