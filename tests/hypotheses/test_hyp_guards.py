"""Fitter guards (issue 13 item 7): rows that are never at risk are refused, collinearity is
named as collinearity (Cox and GLM), separation still as separation."""

import numpy as np
import pandas as pd
import pytest

from churnlab.hypotheses.collinear import diagnose
from churnlab.hypotheses.cox import fit_cox
from churnlab.hypotheses.glm_check import fit_cloglog, tenure_bins


def _world(n=400, seed=0):
    """n subjects followed weekly for up to 30 weeks; a 0/1 lamp doubles the hazard."""
    rng = np.random.default_rng(seed)
    lamp = (rng.random(n) < 0.5).astype(float)
    rows = []
    for i in range(n):
        for t in range(30):
            died = rng.random() < 0.02 * (2.0 if lamp[i] else 1.0)
            rows.append((i, t, t + 1, int(died), lamp[i]))
            if died:
                break
    d = pd.DataFrame(rows, columns=["id", "start", "stop", "event", "lamp"])
    return d


def test_cox_rejects_rows_with_stop_not_after_start():
    start = np.array([0.0, 1, 2, 3, 3])
    stop = np.array([1.0, 2, 2, 4, 1])  # row 2: stop == start; row 4: stop < start
    event = np.array([0, 1, 1, 0, 1], bool)
    with pytest.raises(ValueError) as err:
        fit_cox(start, stop, event, np.arange(5.0)[:, None])
    msg = str(err.value)
    assert "2 of 5 rows have stop <= start" in msg
    assert "first: row 2, start 2, stop 2" in msg
    with pytest.raises(ValueError, match="1 of 2 rows"):
        fit_cox(np.array([0.0, np.nan]), np.array([1.0, 2.0]), np.ones(2, bool), np.ones((2, 1)))


def test_cox_names_a_near_collinear_pair_not_separation():
    d = _world()
    rng = np.random.default_rng(1)
    twin = d["lamp"].to_numpy() + rng.normal(0, 1e-4, len(d))  # corr 1 - 2e-8
    x = np.column_stack([d["lamp"], twin])
    fit = fit_cox(d["start"], d["stop"], d["event"], x, names=["lamp", "lamp_twin"])
    assert fit.problem is not None
    assert "separation" not in fit.problem
    assert "near-collinear covariates: 'lamp' and 'lamp_twin'" in fit.problem
    # exactly collinear (an affine copy): refused before any Newton step, named as such
    exact = fit_cox(
        d["start"], d["stop"], d["event"], np.column_stack([d["lamp"], 2 * d["lamp"] + 1]),
        names=["lamp", "copy"],
    )  # fmt: skip
    assert exact.problem.startswith("collinear covariates: 'lamp' and 'copy'")
    assert exact.iterations == 0
    # a merely correlated pair (r ~ 0.9) is an ordinary fit
    mild = d["lamp"].to_numpy() + rng.normal(0, 0.25, len(d))
    ok = fit_cox(d["start"], d["stop"], d["event"], np.column_stack([d["lamp"], mild]))
    assert ok.problem is None


def test_cox_separation_is_still_separation():
    start = np.zeros(6)
    stop = np.arange(1.0, 7.0)
    sep = fit_cox(start, stop, np.array([1, 1, 1, 0, 0, 0], bool),
                  np.array([[1.0], [1], [1], [0], [0], [0]]))  # fmt: skip
    assert "separation" in sep.problem


def test_collinearity_diagnosis_by_hand():
    # x3 = x1 + x2: rank 2 of 3, the null direction involves all three; VIF infinite
    x = np.array([[1.0, 0, 1], [0, 1, 1], [1, 1, 2], [0, 0, 0], [2, 1, 3]])
    c = diagnose(x, ["a", "b", "c"])
    assert c.exact and not np.isfinite(c.max_vif) and c.pair is not None
    # two columns with correlation r: VIF = 1 / (1 - r^2)
    y = np.array([[1.0, 1.0], [2, 2], [3, 4], [4, 3]])
    r = np.corrcoef(y.T)[0, 1]  # 0.8
    c = diagnose(y, ["u", "v"])
    assert c.max_vif == pytest.approx(1 / (1 - r**2)) and not c.near
    assert c.pair == ("u", "v") and c.correlation == pytest.approx(r)


def test_glm_flags_an_exactly_collinear_design():
    d = _world(seed=2)
    event = d["event"].to_numpy().astype(float)
    groups = d["id"].to_numpy()
    bins = tenure_bins(d["stop"].to_numpy(), event)
    x = np.column_stack([d["lamp"], 1 - d["lamp"]])  # lamp and its complement: with intercept
    out = fit_cloglog(event, x, groups, bins, names=["lamp", "lamp_off"])
    assert out["coef"] is None and out["se"] is None
    assert out["problem"].startswith("GLM design: collinear covariates: 'lamp' and 'lamp_off'")


def test_glm_flags_a_near_collinear_design_and_fits_a_clean_one():
    d = _world(seed=3)
    event = d["event"].to_numpy().astype(float)
    groups = d["id"].to_numpy()
    bins = tenure_bins(d["stop"].to_numpy(), event)
    rng = np.random.default_rng(4)
    twin = d["lamp"].to_numpy() + rng.normal(0, 1e-4, len(d))  # VIF ~ 2e7
    out = fit_cloglog(event, np.column_stack([d["lamp"], twin]), groups, bins, ["lamp", "twin"])
    assert out["coef"] is None and "near-collinear covariates: 'lamp' and 'twin'" in out["problem"]
    clean = fit_cloglog(event, d[["lamp"]].to_numpy(), groups, bins, ["lamp"])
    assert clean["problem"] is None and 0.2 < clean["coef"] < 1.3  # true log HR 0.69
