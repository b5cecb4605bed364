"""Calibrated bands: churn probabilities that match what happens, and the evidence for it.

Method (stated in the report):
- Logistic recalibration (Cox DR, "Two further applications of a model for binary
  regression", Biometrika 1958;45:562-565; Steyerberg EW, Clinical Prediction Models, 2nd ed.
  2019, ch. 15): on a calibration slice of rows with a known outcome, fit
      logit P(churn within the horizon) = a + b * logit(p_predicted)
  by maximum likelihood and use p_recalibrated = expit(a + b * logit(p_predicted)). The order
  of accounts (AUC, concordance) does not change when b > 0; only what the numbers promise.
- The calibration slice is the last training weeks whose whole horizon ends before the
  validation weeks start, and the model being recalibrated is fitted on the weeks before
  that slice (`calibration_split`), so neither the fit nor the slice sees validation outcomes.
- Calibration-in-the-large = the intercept of logit P(y) = a + logit(p) (slope fixed at 1,
  logit(p) as offset): 0 when on average the predictions are right, < 0 when they are too
  high. Calibration slope = b of the joint fit: 1 is ideal, < 1 means predictions too extreme
  (Van Calster B et al., "Calibration: the Achilles heel of predictive analytics",
  BMC Medicine 2019;17:230).
- The final model, fitted on all weeks, has no later weeks to be recalibrated on out of
  sample: its slope is measured on a held-out slice (a model fitted on the weeks before it)
  and its intercept in sample with that slope fixed (`heldout_recalibration`, HELDOUT_SLOPE).
- Intervals: percentile bootstrap over accounts (one account contributes many weeks),
  seeded, so a run is deterministic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit as _expit

EPS = 1e-6
BANDS = ("green", "amber", "red")
WEEK = pd.Timedelta(weeks=1)
METHOD = (
    "logistic recalibration (Cox 1958): logit P(churn within horizon) = a + b * logit(p), "
    "fitted by maximum likelihood on the calibration slice"
)


def logit(p) -> np.ndarray:
    """log(p / (1 - p)), with p clipped to [1e-6, 1 - 1e-6] so 0 and 1 stay finite."""
    q = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(q / (1 - q))


def expit(x) -> np.ndarray:
    """1 / (1 + exp(-x)), the inverse of `logit`."""
    return _expit(np.asarray(x, dtype=float))


def _logistic_fit(
    lp: np.ndarray, y: np.ndarray, w: np.ndarray, slope: bool, start: np.ndarray
) -> np.ndarray:
    """Weighted logistic regression of y on logit(p) by Newton-Raphson: [a, b] of
    logit P(y) = a + b * lp when `slope`, else [a] of logit P(y) = a + lp (lp as offset).
    Written out with 1-D sums instead of a general solver because it is refitted inside the
    account bootstrap (hundreds of fits on ~10^5 rows); started from the full-data estimate
    it converges in 3-4 steps. NaN if it fails (e.g. all outcomes alike: separation, the
    estimate runs off to infinity)."""
    beta = np.asarray(start, dtype=float).copy()
    lp2 = lp * lp if slope else None
    for _ in range(100):
        eta = beta[0] + (beta[1] * lp if slope else lp)
        mu = _expit(eta)
        r = w * (y - mu)
        v = w * mu * (1 - mu)
        if slope:
            # elementwise sums, not BLAS dot products: a multithreaded BLAS on a busy
            # machine made each `@` here ~10x slower than the multiply-and-sum
            g = np.array([r.sum(), (r * lp).sum()])
            h01 = (v * lp).sum()
            hess = np.array([[v.sum(), h01], [h01, (v * lp2).sum()]])
            det = hess[0, 0] * hess[1, 1] - h01 * h01
            if not det > 1e-12 * max(hess[0, 0] * hess[1, 1], 1e-300):
                return np.full(2, np.nan)  # one distinct prediction: slope not estimable
            step = np.array([hess[1, 1] * g[0] - h01 * g[1], hess[0, 0] * g[1] - h01 * g[0]]) / det
        else:
            vs = v.sum()
            if not vs > 0:
                return np.full(1, np.nan)
            step = np.array([r.sum() / vs])
        beta += step
        if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 1e3:
            return np.full(len(beta), np.nan)
        if np.max(np.abs(step)) < 1e-10:
            return beta
    return np.full(len(beta), np.nan)


def _clean(p, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    if p.shape != y.shape:
        raise ValueError(f"p has {p.shape} values, y {y.shape}")
    keep = np.isfinite(p) & np.isfinite(y)
    if np.any((y[keep] != 0) & (y[keep] != 1)):
        raise ValueError("y must be 0 / 1 (NaN = unknown outcome, left out)")
    return p, y, keep


def _fit_ab(lp, y, w, start=(0.0, 1.0)) -> tuple[float, float]:
    a, b = _logistic_fit(lp, y, w, True, np.asarray(start, dtype=float))
    return float(a), float(b)


def _fit_citl(lp, y, w, start: float = 0.0) -> float:
    return float(_logistic_fit(lp, y, w, False, np.array([start]))[0])


def fit_recalibration(p_pred, y) -> dict:
    """Fit a and b on the calibration slice.

    p_pred: predicted churn probability within the horizon per row (0..1); y: 1 churned within
    the horizon, 0 not, NaN unknown (left out). Returns {"method", "intercept", "slope",
    "n_rows", "n_events"}. Raises ValueError if fewer than one event and one non-event are
    left (no calibration can be estimated) or the fit does not converge."""
    p, y, keep = _clean(p_pred, y)
    n_ev = int(y[keep].sum())
    if n_ev == 0 or n_ev == int(keep.sum()):
        raise ValueError(
            f"the calibration slice needs churned and not-churned rows ({n_ev} of {int(keep.sum())})"
        )
    a, b = _fit_ab(logit(p[keep]), y[keep], np.ones(int(keep.sum())))
    if not (np.isfinite(a) and np.isfinite(b)):
        raise ValueError("logistic recalibration did not converge")
    return {
        "method": METHOD,
        "intercept": a,
        "slope": b,
        "n_rows": int(keep.sum()),
        "n_events": n_ev,
    }


UPDATES = ("none", "intercept", "logistic")
CLOSED_TEST = (
    "closed testing of the updating methods (Vergouwe Y et al., Stat Med 2017;36:4529-39): "
    "logistic recalibration (a, b) is compared with the original predictions by a "
    "likelihood-ratio test (2 df); if it is no better at recalibration_alpha the predictions "
    "are kept as they are; else recalibration-in-the-large (a only, slope 1) is compared with "
    "it (1 df) and kept unless the slope is needed"
)


def _loglik(lp: np.ndarray, y: np.ndarray, a: float, b: float) -> float:
    # Bernoulli log-likelihood of y under P = expit(a + b * lp), written stably
    eta = a + b * lp
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def select_recalibration(p_pred, y, alpha: float = 0.05) -> dict:
    """Recalibrate only as far as the calibration slice shows it is needed.

    A slope fitted on a small slice is noisy (issue 14: 0.16 on 800 accounts), and a wrong
    slope moves every probability. Updating methods are therefore chosen by closed testing
    (Vergouwe et al. 2017, see CLOSED_TEST): the simplest of original (a = 0, b = 1),
    recalibration-in-the-large (a, b = 1) and logistic recalibration (a, b) that the slice
    does not reject at `alpha`. On a large slice with a clear miscalibration this is the
    logistic recalibration of `fit_recalibration`; on a small one it falls back to an
    intercept, or to nothing.

    p_pred / y: as `fit_recalibration`. Returns {"method", "update" ("none" | "intercept" |
    "logistic"), "intercept", "slope" (the values applied: 0 and 1 for "none"),
    "n_rows", "n_events", "alpha", "tests": {"logistic_vs_original": {"lr", "df", "p_value"},
    "logistic_vs_intercept": {...}}, "logistic": {"intercept", "slope"} (the full fit, for
    the record)}. Raises ValueError as `fit_recalibration`, and for alpha outside (0, 1)."""
    from scipy.stats import chi2

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1) (got {alpha})")
    full = fit_recalibration(p_pred, y)
    p, yy, keep = _clean(p_pred, y)
    lp, yk = logit(p[keep]), yy[keep]
    a1 = _fit_citl(lp, yk, np.ones(len(yk)))
    if not np.isfinite(a1):
        raise ValueError("recalibration-in-the-large did not converge")
    ll0 = _loglik(lp, yk, 0.0, 1.0)
    ll1 = _loglik(lp, yk, a1, 1.0)
    ll2 = _loglik(lp, yk, full["intercept"], full["slope"])

    def test(ll_small: float, df: int) -> dict:
        lr = max(0.0, 2.0 * (ll2 - ll_small))
        return {"lr": lr, "df": df, "p_value": float(chi2.sf(lr, df))}

    tests = {"logistic_vs_original": test(ll0, 2), "logistic_vs_intercept": test(ll1, 1)}
    if tests["logistic_vs_original"]["p_value"] > alpha:
        update, a, b = "none", 0.0, 1.0
    elif tests["logistic_vs_intercept"]["p_value"] > alpha:
        update, a, b = "intercept", a1, 1.0
    else:
        update, a, b = "logistic", full["intercept"], full["slope"]
    return {
        "method": f"{METHOD}; {CLOSED_TEST}",
        "update": update,
        "intercept": float(a),
        "slope": float(b),
        "n_rows": full["n_rows"],
        "n_events": full["n_events"],
        "alpha": alpha,
        "tests": tests,
        "logistic": {"intercept": full["intercept"], "slope": full["slope"]},
    }


HELDOUT_SLOPE = (
    "the calibration slope is measured out of sample and the intercept in sample: a model "
    "of the same specification fitted on the weeks before a held-out slice (the latest "
    "calibration_weeks weeks whose whole horizon is observed) is recalibrated on that slice "
    "by the closed testing above; its slope b (1 when the slice does not need one) is "
    "applied to the model fitted on all weeks, a uniform shrinkage of its over-confident "
    "predictions towards the mean (van Houwelingen JC, le Cessie S, 'Predictive value of "
    "statistical models', Stat Med 1990;9:1303-25: the slope on data a model has not seen "
    "estimates the shrinkage it needs; Steyerberg EW, Clinical Prediction Models, 2nd ed. "
    "2019, chapters 'Modern estimation methods' (uniform shrinkage) and 'Updating for a new "
    "setting'), and the intercept a is re-estimated with b fixed on the same "
    "weeks' outcomes, which the model fitted on all weeks has seen (recalibration in the "
    "large given the slope; with b = 1 it is kept at 0 unless a likelihood-ratio test at "
    "recalibration_alpha asks for it). A slope measured in sample cannot see the model's "
    "own overfitting: its predictions look calibrated on the weeks it was fitted on"
)


def intercept_given_slope(p_pred, y, slope: float) -> dict:
    """Recalibration in the large with the slope fixed: a of
    logit P(y) = a + slope * logit(p) by maximum likelihood (slope * logit(p) as offset).

    p_pred / y: as `fit_recalibration`. Returns {"intercept", "n_rows", "n_events",
    "test": {"lr", "df", "p_value"} (a against a = 0, 1 df)}. Raises ValueError when the
    rows do not hold churned and not-churned rows or the fit does not converge."""
    from scipy.stats import chi2

    p, yy, keep = _clean(p_pred, y)
    n_ev = int(yy[keep].sum())
    if n_ev == 0 or n_ev == int(keep.sum()):
        raise ValueError(
            f"the calibration slice needs churned and not-churned rows ({n_ev} of {int(keep.sum())})"
        )
    lp, yk = slope * logit(p[keep]), yy[keep]
    a = _fit_citl(lp, yk, np.ones(len(yk)))
    if not np.isfinite(a):
        raise ValueError("recalibration in the large did not converge")
    lr = max(0.0, 2.0 * (_loglik(lp, yk, a, 1.0) - _loglik(lp, yk, 0.0, 1.0)))
    return {
        "intercept": float(a),
        "n_rows": int(keep.sum()),
        "n_events": n_ev,
        "test": {"lr": lr, "df": 1, "p_value": float(chi2.sf(lr, 1))},
    }


def heldout_recalibration(p_heldout, p_model, y, alpha: float = 0.05) -> dict:
    """The slope out of sample, the intercept in sample (HELDOUT_SLOPE).

    p_heldout: predictions on the slice rows of a model fitted on earlier weeks only;
    p_model: predictions on the same rows of the model to recalibrate (fitted on weeks that
    include them); y: the rows' outcomes (1 / 0 / NaN unknown). The slope is
    `select_recalibration(p_heldout, y, alpha)`'s (1 unless its update is "logistic"); the
    intercept is `intercept_given_slope(p_model, y, slope)`'s, kept at 0 when the slope is 1
    and its likelihood-ratio test is not significant at alpha.

    Returns the shape of `select_recalibration` for the applied update ("none" | "intercept"
    | "logistic") with "intercept", "slope", "n_rows", "n_events" of the applied fit, "tests"
    {"intercept_given_slope": {...}}, "logistic" (an in-sample logistic fit on p_model, for
    the record) and "heldout" (the held-out slice's `select_recalibration` result).
    Raises ValueError as `select_recalibration`."""
    held = select_recalibration(p_heldout, y, alpha)
    slope = held["slope"] if held["update"] == "logistic" else 1.0
    citl = intercept_given_slope(p_model, y, slope)
    in_sample = fit_recalibration(p_model, y)
    if slope != 1.0:
        update, a = "logistic", citl["intercept"]
    elif citl["test"]["p_value"] <= alpha:
        update, a = "intercept", citl["intercept"]
    else:
        update, a = "none", 0.0
    return {
        "method": f"{METHOD}; {CLOSED_TEST}; {HELDOUT_SLOPE}",
        "update": update,
        "intercept": float(a),
        "slope": float(slope),
        "n_rows": citl["n_rows"],
        "n_events": citl["n_events"],
        "alpha": alpha,
        "tests": {"intercept_given_slope": citl["test"]},
        "logistic": {"intercept": in_sample["intercept"], "slope": in_sample["slope"]},
        "heldout": held,
    }


def recalibrate(p, intercept: float, slope: float) -> np.ndarray:
    """expit(intercept + slope * logit(p)): the recalibrated probability (same shape as p,
    NaN stays NaN)."""
    p = np.asarray(p, dtype=float)
    out = expit(intercept + slope * logit(p))
    return np.where(np.isnan(p), np.nan, out)


def calibration_split(
    week_start: pd.Series, split_week: pd.Timestamp, horizon_weeks: int, slice_weeks: int
) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, calibration-slice rows) as boolean arrays over `week_start`.

    The slice is the `slice_weeks` latest weeks w whose horizon w .. w + horizon - 1 ends
    before `split_week` (the first validation week), so its outcomes are seen without looking
    into validation weeks; the model to recalibrate is fitted on the weeks before the slice.
    Weeks between the slice and split_week are in neither. Raises ValueError if the slice
    or the fitting weeks would be empty."""
    if slice_weeks < 1 or horizon_weeks < 1:
        raise ValueError("slice_weeks and horizon_weeks must be >= 1")
    ws = pd.to_datetime(week_start)
    slice_end = pd.Timestamp(split_week) - horizon_weeks * WEEK  # last week fully observed
    slice_start = slice_end - (slice_weeks - 1) * WEEK
    in_slice = ((ws >= slice_start) & (ws <= slice_end)).to_numpy()
    fit = (ws < slice_start).to_numpy()
    if not in_slice.any():
        raise ValueError(
            f"no weeks in the calibration slice {slice_start.date()}..{slice_end.date()}"
        )
    if not fit.any():
        raise ValueError(f"no weeks before the calibration slice ({slice_start.date()}) to fit on")
    return fit, in_slice


def _account_weights(accounts: np.ndarray, reps: int, seed: int):
    """Row weights of `reps` account bootstrap resamples (generator, one array each)."""
    codes, uniques = pd.factorize(np.asarray(accounts), sort=True)
    rng = np.random.default_rng(seed)
    for _ in range(reps):
        picked = rng.integers(0, len(uniques), len(uniques))
        yield np.bincount(picked, minlength=len(uniques))[codes].astype(float)


def _interval(draws: list[float]) -> tuple[float, float]:
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    if not len(d):
        return float("nan"), float("nan")
    lo, hi = np.percentile(d, [2.5, 97.5])
    return float(lo), float(hi)


def calibration_metrics(p, y, accounts, reps: int = 200, seed: int = 0) -> dict:
    """Calibration-in-the-large and slope of `p` against `y` (e.g. out-of-time rows with a
    complete horizon), for the figure: {"calibration_in_the_large": {estimate, ci_low,
    ci_high}, "calibration_slope": {...}, "mean_predicted", "observed", "n_rows",
    "n_accounts", "bootstrap_reps", "seed"}. Ideal: intercept 0, slope 1. Rows with NaN are
    left out. NaN estimates when all outcomes are alike (the slope also with one distinct p).
    Cost: two small fits per resample, ~0.05 s per 100k rows on one core (200 reps on 100k
    rows: ~10 s)."""
    p, y, keep = _clean(p, y)
    acc = np.asarray(accounts)[keep]
    lp, yk = logit(p[keep]), y[keep]
    ones = np.ones(len(yk))
    citl, slope, c_draws, s_draws = float("nan"), float("nan"), [], []
    if 0 < yk.sum() < len(yk):
        citl, (a, slope) = _fit_citl(lp, yk, ones), _fit_ab(lp, yk, ones)
        # each resample starts from the full-data estimate (same answer, 3-4 Newton steps)
        c0 = citl if np.isfinite(citl) else 0.0
        ab0 = (a, slope) if np.isfinite(slope) else (0.0, 1.0)
        for w in _account_weights(acc, reps, seed):
            c_draws.append(_fit_citl(lp, yk, w, c0))
            s_draws.append(_fit_ab(lp, yk, w, ab0)[1])
    c_lo, c_hi = _interval(c_draws)
    s_lo, s_hi = _interval(s_draws)
    return {
        "calibration_in_the_large": {"estimate": citl, "ci_low": c_lo, "ci_high": c_hi},
        "calibration_slope": {"estimate": slope, "ci_low": s_lo, "ci_high": s_hi},
        "mean_predicted": float(p[keep].mean()) if keep.any() else float("nan"),
        "observed": float(yk.mean()) if keep.any() else float("nan"),
        "n_rows": int(keep.sum()),
        "n_accounts": int(len(np.unique(acc))),
        "bootstrap_reps": reps,
        "seed": seed,
    }


def band_calibration(
    p, y, band, accounts, reps: int = 200, seed: int = 0, bands=BANDS
) -> pd.DataFrame:
    """Predicted vs observed churn within the horizon per band, one row per band in `bands`
    order: band, rows, accounts, mean_predicted, observed, ci_low, ci_high (95% percentile
    interval of `observed` over `reps` account-bootstrap resamples, seeded), within_interval
    (mean_predicted inside [ci_low, ci_high]: the band's promise holds within sampling error).
    Bands with no rows get rows 0, NaN numbers and within_interval False. Rows with NaN p or
    y are left out."""
    p, y, keep = _clean(p, y)
    b = np.asarray(band, dtype=object)[keep]
    acc = np.asarray(accounts)[keep]
    pk, yk = p[keep], y[keep]
    # per (account, band) sums, so a resample is one weighted sum per band
    codes, uniques = pd.factorize(acc, sort=True)
    n_acc = len(uniques)
    rows_ab = np.zeros((n_acc, len(bands)))
    churn_ab = np.zeros((n_acc, len(bands)))
    for j, name in enumerate(bands):
        m = b == name
        rows_ab[:, j] = np.bincount(codes[m], minlength=n_acc)
        churn_ab[:, j] = np.bincount(codes[m], yk[m], minlength=n_acc)
    rng = np.random.default_rng(seed)
    draws = np.full((reps, len(bands)), np.nan)
    for r in range(reps):
        w = np.bincount(rng.integers(0, n_acc, n_acc), minlength=n_acc).astype(float)
        n_r, c_r = w @ rows_ab, w @ churn_ab
        with np.errstate(invalid="ignore", divide="ignore"):
            draws[r] = c_r / n_r
    out = []
    for j, name in enumerate(bands):
        m = b == name
        lo, hi = _interval(list(draws[:, j]))
        pred = float(pk[m].mean()) if m.any() else float("nan")
        out.append(
            {
                "band": name,
                "rows": int(m.sum()),
                "accounts": int(len(np.unique(acc[m]))),
                "mean_predicted": pred,
                "observed": float(yk[m].mean()) if m.any() else float("nan"),
                "ci_low": lo,
                "ci_high": hi,
                "within_interval": bool(m.any() and lo <= pred <= hi),
            }
        )
    return pd.DataFrame(out)
