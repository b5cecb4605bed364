"""Case weights and the robust (clustered) variance of our Cox fitter, checked against lifelines.

lifelines' CoxPHFitter implements weighted Efron ties and the Lin-Wei sandwich; its robust
variance ignores ties (its docs say so), so the sandwich is compared on tie-free times and,
with ties, checked by the defining property of score residuals instead.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from churnlab.hypotheses.cox import _RiskSets, fit_cox, score_residuals


def _data(ties: bool, seed: int = 0, n: int = 400):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < 0.4).astype(float)
    t = rng.exponential(1 / np.exp(0.5 * x1 + 0.7 * x2))
    c = rng.exponential(2, size=n)
    time = np.minimum(t, c)
    if ties:
        time = np.ceil(time * 10) / 10
    return pd.DataFrame(
        {
            "T": time,
            "E": (t <= c).astype(int),
            "x1": x1,
            "x2": x2,
            "cl": rng.integers(0, 120, size=n),
            "w": rng.choice([1.0, 2.5, 4.0], size=n),
        }
    )


def _lifelines(df: pd.DataFrame, weighted: bool) -> CoxPHFitter:
    cols = ["T", "E", "x1", "x2", "cl"] + (["w"] if weighted else [])
    extra = {"weights_col": "w"} if weighted else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines warns that weights are not integers
        return CoxPHFitter().fit(df[cols], "T", "E", robust=True, cluster_col="cl", **extra)


def _ours(df: pd.DataFrame, weighted: bool):
    return fit_cox(
        np.zeros(len(df)),
        df["T"].to_numpy(),
        df["E"].to_numpy(),
        df[["x1", "x2"]].to_numpy(),
        weights=df["w"].to_numpy() if weighted else None,
        cluster=df["cl"].to_numpy(),
        tol=1e-12,
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_robust_se_equals_lifelines_without_ties(weighted):
    df = _data(ties=False)
    ref, ours = _lifelines(df, weighted), _ours(df, weighted)
    np.testing.assert_allclose(ours.coef, ref.params_.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.se, ref.standard_errors_.to_numpy(), rtol=1e-5)
    assert ours.robust and not np.allclose(ours.se, ours.naive_se)


def test_weighted_efron_coefficients_equal_lifelines_with_ties():
    df = _data(ties=True)
    ref, ours = _lifelines(df, True), _ours(df, True)
    assert df.duplicated(["T"]).sum() > 100  # heavily tied
    np.testing.assert_allclose(ours.coef, ref.params_.to_numpy(), atol=1e-6)


def test_unit_weights_change_nothing():
    df = _data(ties=True)
    args = (np.zeros(len(df)), df["T"].to_numpy(), df["E"].to_numpy(), df[["x1", "x2"]].to_numpy())
    plain, unit = fit_cox(*args), fit_cox(*args, weights=np.ones(len(df)))
    np.testing.assert_allclose(unit.coef, plain.coef, rtol=1e-12)
    np.testing.assert_allclose(unit.se, plain.se, rtol=1e-10)
    assert unit.loglik == pytest.approx(plain.loglik, rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_efron_score_residuals_sum_to_the_score(weighted):
    """Sum_i w_i U_i equals the score: zero at the maximum, the finite-difference gradient
    of the log-likelihood elsewhere (here checked at beta = (0.3, -0.2))."""
    from churnlab.hypotheses.cox import _loglik_grad_info

    df = _data(ties=True, seed=4)
    x = df[["x1", "x2"]].to_numpy()
    w = df["w"].to_numpy() if weighted else None
    rs = _RiskSets(np.zeros(len(df)), df["T"].to_numpy(), df["E"].to_numpy().astype(bool))
    beta = np.array([0.3, -0.2])
    resid = score_residuals(rs, x, beta, w)
    total = (resid * (w[:, None] if weighted else 1.0)).sum(axis=0)
    _, grad, _ = _loglik_grad_info(rs, x, beta, w)
    np.testing.assert_allclose(total, grad, rtol=1e-10, atol=1e-10)


def test_one_cluster_per_row_without_weights_is_close_to_the_model_based_se():
    """A correct model with independent rows: the sandwich estimates the same variance."""
    df = _data(ties=False, seed=2, n=3000)
    fit = fit_cox(
        np.zeros(len(df)), df["T"].to_numpy(), df["E"].to_numpy(), df[["x1", "x2"]].to_numpy(),
        cluster=np.arange(len(df)),
    )  # fmt: skip
    np.testing.assert_allclose(fit.se, fit.naive_se, rtol=0.1)


def test_bad_weights_are_a_callers_bug():
    with pytest.raises(ValueError, match="weights"):
        fit_cox(np.zeros(3), np.ones(3), np.array([1, 0, 1]), np.ones((3, 1)), weights=[1, 0, 1])
