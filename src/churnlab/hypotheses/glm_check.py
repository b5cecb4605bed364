"""Discrete-time hazard cross-check: a binomial GLM with a complementary log-log link on the
same account-week rows as the Cox fit. With weekly intervals cloglog estimates the same log
hazard ratio as Cox; standard errors are clustered on account (rows of one account are not
independent). The baseline hazard is piecewise constant over tenure bins.

On a case-cohort sample (`case_cohort.py`) the GLM is fitted on the same sampled rows with
the same weights as the Cox fit: a design-weighted (Horvitz-Thompson) pseudo-likelihood. An
account-week ending in churn is always sampled (weight 1); any other account-week is sampled
exactly when its account is in the subcohort (probability f, weight 1/f) - Barlow's (1994)
weights, which for the row-wise GLM likelihood are the inverse sampling probabilities of each
row. The weighted score is unbiased for the full cohort's, and the variance is the
linearisation (sandwich) variance with the weighted scores summed per account (Binder 1983),
what R's `survey::svyglm(..., design = svydesign(ids = ~account_id, weights = ~w))` reports
(Lumley 2010, *Complex Surveys*, ch. 5 and 8.5 on case-cohort designs as two-phase samples;
Borgan et al. 2000, Lifetime Data Anal. 6:39, for the same weights in the Cox fit)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

# the GLM module itself, not statsmodels.api: that imports every model, formulas and plots
# (~0.6 s of each run's serial start-up, issue 17)
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM

from churnlab.hypotheses.collinear import diagnose

N_TIME_BINS = 8
# Same rule as the Cox fitter: an effect (or SE) larger than this across column 0's observed
# range (a 0/1 lamp: HR e^15) is a fit that ran off, not an estimate.
MAX_COEF = 15.0
MAX_SE = 50.0


def tenure_bins(stop: np.ndarray, event: np.ndarray, n_bins: int = N_TIME_BINS) -> np.ndarray:
    """0/1 columns for tenure bins cut at quantiles of the event times (first bin dropped)."""
    ev_times = stop[event.astype(bool)]
    if len(ev_times) == 0:
        return np.zeros((len(stop), 0))
    cuts = np.unique(np.quantile(ev_times, np.linspace(0, 1, n_bins + 1)[1:-1]))
    idx = np.searchsorted(cuts, stop, side="left")
    levels = np.unique(idx)
    return (
        np.column_stack([(idx == lv).astype(float) for lv in levels[1:]])
        if len(levels) > 1
        else np.zeros((len(stop), 0))
    )


# Bits packed into one sort key: the packing below sums powers of two in float64, exact up
# to 2**53.
PACK_BITS = 52


def _sort_keys(design: np.ndarray) -> list[np.ndarray]:
    """Columns as sort keys, runs of consecutive 0/1 columns packed into one int64 each.

    Packing a run with its first column as the most significant bit keeps the lexicographic
    order of the rows, and the lamp, adjuster and tenure-bin dummies - most of the design -
    then cost one sort key instead of one each. The 0/1 test and the packing each run once
    over the whole (row-major) design - a matrix product with the powers of two - not column
    by column through strided memory, which cost 2/3 of the pooling (issue 17)."""
    n, k = design.shape
    binary = ((design == 0) | (design == 1)).all(axis=0) if n else np.ones(k, bool)
    keys: list[np.ndarray] = []
    j = 0
    while j < k:
        if not binary[j]:
            keys.append(design[:, j])
            j += 1
            continue
        end = j
        while end < k and binary[end] and end - j < PACK_BITS:
            end += 1
        powers = 2.0 ** np.arange(end - j - 1, -1, -1)
        keys.append((design[:, j:end] @ powers).astype(np.int64))
        j = end
    return keys


def pool_cells(design: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells of identical (group, design row): each row's cell id and each cell's first row.

    Args:
        design: (n, k) float array.
        groups: (n,) cluster labels (any sortable dtype).

    Returns:
        `cell` (n,) int64 in 0..m-1, numbered in lexicographic order of (design columns...,
        group) - the order a sorted pandas groupby over those columns gives - and `first`
        (m,) int64, the smallest row index of each cell.

    One `np.lexsort` over packed keys and a diff: no hashing of n tuples, which in pandas cost as much as the
    GLM fit itself on a large panel (issue 17).
    """
    n = len(design)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _, group_codes = np.unique(groups, return_inverse=True)
    keys = _sort_keys(design) + [group_codes.astype(np.int64)]
    # np.lexsort's primary key is its LAST key: reverse so the first column leads
    order = np.lexsort(keys[::-1])
    new_cell = np.zeros(n, dtype=bool)
    new_cell[0] = True
    for key in keys:
        ordered = key[order]
        new_cell[1:] |= ordered[1:] != ordered[:-1]
    cell = np.empty(n, dtype=np.int64)
    cell[order] = np.cumsum(new_cell) - 1
    # lexsort is stable: a cell's first row in sorted order is its smallest row index
    return cell, order[new_cell].astype(np.int64)


def fit_cloglog(
    event: np.ndarray,
    x: np.ndarray,
    groups: np.ndarray,
    time_design: np.ndarray,
    names: list[str] | None = None,
    weights: np.ndarray | None = None,
) -> dict[str, float | str | None]:
    """Coefficient, clustered SE and p of column 0 of `x`; `problem` instead of raising.

    A collinear design (two columns of `x` / tenure bins that repeat each other, exactly or
    nearly) is a `problem` naming the pair: statsmodels would otherwise solve it with a
    pseudo-inverse and return an arbitrary split of the effect with an SE of ~1e5.

    Rows of one account with identical covariates are pooled into one binomial cell
    (events, trials) first. The likelihood and each account's score sum - all the clustered
    sandwich uses - are unchanged, and IRLS runs on ~10x fewer rows. The small-sample
    correction is switched off because it depends on the row count (it is ~1.001 here).

    `weights`: (n,) design weight per row, e.g. a case-cohort sample's Barlow weights (1 at
    a churn row, 1/f elsewhere; see the module docstring), or None for the unweighted fit.
    A cell then holds the weighted churns sum(w * event) and weighted trials sum(w): its
    log-likelihood is the sum of its rows' weighted ones, so the weighted fit and the sandwich
    of per-account sums of weighted scores are unchanged by pooling, as without weights."""
    design = np.column_stack([np.ones(len(event)), x, time_design])
    out: dict[str, float | str | None] = {
        "coef": None,
        "se": None,
        "p_value": None,
        "problem": None,
    }
    names = list(names or [f"x{j}" for j in range(x.shape[1])])
    names += [f"tenure_bin_{j + 1}" for j in range(time_design.shape[1])]
    collinear = diagnose(design[:, 1:], names) if len(event) else None
    if collinear is not None and collinear.exact:
        out["problem"] = f"GLM design: {collinear.describe()}"
        return out
    cell, first = pool_cells(design, groups)
    n_cells = len(first)
    if weights is None:
        trials = np.bincount(cell, minlength=n_cells).astype(float)
        events = np.bincount(cell, weights=event, minlength=n_cells)
    else:
        weights = np.asarray(weights, dtype=float)
        trials = np.bincount(cell, weights=weights, minlength=n_cells)
        events = np.bincount(cell, weights=weights * event, minlength=n_cells)
    endog = np.column_stack([events, trials - events])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            family = families.Binomial(families.links.CLogLog())
            res = GLM(endog, design[first], family=family).fit(
                cov_type="cluster",
                cov_kwds={"groups": groups[first], "use_correction": False},
                maxiter=50,
            )
        coef, se = float(res.params[1]), float(res.bse[1])
    except Exception as exc:  # statsmodels raises assorted errors on degenerate designs
        out["problem"] = f"GLM failed: {type(exc).__name__}"
        return out
    span = float(np.ptp(x[:, 0])) or 1.0  # per unit of column 0's observed range, as in Cox
    if (
        not np.isfinite(coef)
        or not np.isfinite(se)
        or se == 0
        or abs(coef) * span > MAX_COEF
        or se * span > MAX_SE
    ):
        if collinear is not None and collinear.near:
            out["problem"] = f"GLM design: {collinear.describe()}"
        else:
            out["problem"] = "GLM did not converge (separation?)"
        return out
    out.update(coef=coef, se=se, p_value=float(2 * stats.norm.sf(abs(coef / se))))
    return out


def compare(cox_coef: float, cox_p: float, glm: dict, alpha: float = 0.05) -> str | None:
    """None when Cox and GLM agree; else what differs (sign or significance at `alpha`)."""
    if glm.get("coef") is None or not np.isfinite(cox_coef):
        return None
    cox_sig, glm_sig = cox_p < alpha, glm["p_value"] < alpha
    if (cox_sig or glm_sig) and np.sign(cox_coef) != np.sign(glm["coef"]):
        return "sign differs"
    if cox_sig != glm_sig:
        return "significant in Cox only" if cox_sig else "significant in GLM only"
    return None
