"""Our Efron counting-process Cox fitter against R survival 3.5.3 `coxph` (../shared/reference).

CI clones the repo with shared/ beside it, so a missing reference directory is a failure,
not a skip.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnlab.hypotheses.cox import fit_cox

REFERENCE = Path("../shared/reference")


def _read(name: str) -> pd.DataFrame:
    path = REFERENCE / name
    assert path.exists(), (
        f"{path.resolve()} is missing: the R reference data must sit beside the repo"
    )
    return pd.read_csv(path)


def _check(result, coef, se, loglik, loglik_null):
    assert result.problem is None and result.converged
    np.testing.assert_allclose(result.coef, coef, rtol=1e-4)
    np.testing.assert_allclose(result.se, se, rtol=1e-4)
    assert result.loglik == pytest.approx(loglik, abs=1e-6)
    assert result.loglik_null == pytest.approx(loglik_null, abs=1e-6)


def test_heart_matches_r_coxph():
    heart = _read("survival__heart.csv")
    x = heart[["age", "year", "surgery", "transplant"]].astype(float).to_numpy()
    result = fit_cox(heart["start"], heart["stop"], heart["event"] == 1, x)
    _check(
        result,
        coef=[0.027166641, -0.146346346, -0.637209890, -0.010250772],
        se=[0.013714115, 0.070467980, 0.367225996, 0.313754798],
        loglik=-290.5656162,
        loglik_null=-298.1213557,
    )


def test_rossi_weekly_time_varying_matches_r_coxph():
    rossi = _read("carData__Rossi_long_weekly.csv")
    rossi["fin"] = (rossi["fin"] == "yes").astype(float)
    x = rossi[["fin", "age", "prio", "employed"]].astype(float).to_numpy()
    result = fit_cox(rossi["start"], rossi["stop"], rossi["event"] == 1, x)
    _check(
        result,
        coef=[-0.330512865, -0.049767851, 0.083640338, -1.348152640],
        se=[0.190122130, 0.020534462, 0.027751971, 0.249284405],
        loglik=-642.2838866,
        loglik_null=-675.3806323,
    )


def test_rows_order_and_row_splitting_do_not_change_the_fit():
    """Splitting (0, 10] into (0, 4] + (4, 10] with the same covariate is the same data."""
    heart = _read("survival__heart.csv")
    cols = ["age", "year", "surgery", "transplant"]
    whole = fit_cox(heart["start"], heart["stop"], heart["event"] == 1, heart[cols].to_numpy(float))
    long_rows = heart[(heart["stop"] - heart["start"]) > 2].copy()
    mid = long_rows["start"] + 1
    first = long_rows.assign(stop=mid, event=0)
    second = long_rows.assign(start=mid)
    split = pd.concat([heart.drop(long_rows.index), first, second]).sample(frac=1, random_state=3)
    again = fit_cox(split["start"], split["stop"], split["event"] == 1, split[cols].to_numpy(float))
    np.testing.assert_allclose(again.coef, whole.coef, rtol=1e-8)
    np.testing.assert_allclose(again.se, whole.se, rtol=1e-8)


def test_single_binary_covariate_matches_hand_computed_breslow_case():
    """Two groups, no ties: the score at beta=0 is (observed - expected) deaths in group 1."""
    start = np.zeros(4)
    stop = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.array([1, 1, 1, 0], bool)
    x = np.array([[1.0], [0.0], [1.0], [0.0]])
    # Risk sets: t=1 {all 4, 2 exposed}, t=2 {3 rows, 1 exposed}, t=3 {2 rows, 1 exposed}.
    # Score at 0 = 2 - (2/4 + 1/3 + 1/2) = 2/3; information = 1/4 + 2/9 + 1/4 = 13/18.
    result = fit_cox(start, stop, event, x, max_iter=1)
    # One Newton step from zero = score / information.
    assert result.coef[0] == pytest.approx((2 / 3) / (13 / 18), rel=1e-12)


def test_degenerate_inputs_report_a_problem_instead_of_raising():
    start = np.zeros(6)
    stop = np.arange(1.0, 7.0)
    assert fit_cox(start, stop, np.zeros(6, bool), np.ones((6, 1))).problem == "no events"
    const = fit_cox(start, stop, np.ones(6, bool), np.ones((6, 1)), names=["lamp"])
    assert "constant covariate: lamp" in const.problem
    # Every exposed row dies before any unexposed one: the MLE is +infinity.
    sep = fit_cox(
        start, stop, np.array([1, 1, 1, 0, 0, 0], bool), np.array([[1.0]] * 3 + [[0.0]] * 3)
    )
    assert sep.problem is not None and "separation" in sep.problem
