"""A vectorised Cox fitter for counting-process (start, stop] data, Efron ties.

Why our own: lifelines' CoxTimeVaryingFitter rescans every row once per distinct event time
per Newton step (DESIGN §8) and we fit ~80 models per run. Here each Newton step costs one
weighted X'WX product plus a few bincounts, whatever the number of event times. Checked
against R `coxph` (survival 3.5.3) in tests/hypotheses/test_hyp_cox_reference.py.

Risk-set convention (R's): a row is at risk at event time t when start < t <= stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from churnlab.hypotheses.collinear import diagnose

# A log-HR of more than this across a covariate's observed range (a lamp: HR > e^15, 3e6)
# means the likelihood kept rising without bound - separation, not an effect. Likewise a
# standard error this many times larger: the likelihood is flat in that direction.
MAX_RANGE_LOGHR = 15.0
MAX_RANGE_SE = 50.0


@dataclass
class CoxResult:
    names: list[str]
    coef: np.ndarray
    se: np.ndarray
    loglik: float
    loglik_null: float
    n_rows: int
    n_events: int
    converged: bool
    iterations: int
    problem: str | None = None  # why the fit cannot be trusted (separation, singular, ...)
    cov: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    # model-based SEs (inverse information); `se` is the robust one when a cluster was given
    naive_se: np.ndarray = field(default_factory=lambda: np.zeros(0))
    robust: bool = False

    @property
    def z(self) -> np.ndarray:
        return self.coef / self.se

    @property
    def p(self) -> np.ndarray:
        return 2.0 * stats.norm.sf(np.abs(self.z))

    def term(self, j: int = 0) -> dict[str, float]:
        """HR, 95% CI and p for one coefficient (the lamp is column 0 by convention)."""
        b, s = float(self.coef[j]), float(self.se[j])
        return {
            "coef": b,
            "se": s,
            "hazard_ratio": float(np.exp(b)),
            "ci_low": float(np.exp(b - 1.959963984540054 * s)),
            "ci_high": float(np.exp(b + 1.959963984540054 * s)),
            "p_value": float(self.p[j]),
        }


class _RiskSets:
    """Index bookkeeping shared by every Newton step (depends on times only, not on beta)."""

    def __init__(self, start: np.ndarray, stop: np.ndarray, event: np.ndarray):
        self.times = np.unique(stop[event])
        k = len(self.times)
        # Row i is in the risk set of event times [enter_i, leave_i].
        enter = np.searchsorted(self.times, start, side="right")
        leave = np.searchsorted(self.times, stop, side="right") - 1
        self.rows = np.flatnonzero(enter <= leave)
        self.enter = enter[self.rows]
        self.leave = leave[self.rows]
        self.k = k
        self.death_rows = np.flatnonzero(event)
        self.death_k = np.searchsorted(self.times, stop[self.death_rows])
        d = np.bincount(self.death_k, minlength=k)
        # Efron: the r-th of d tied deaths sees the deaths' weight reduced by r/d.
        self.flat_k = np.repeat(np.arange(k), d)
        self.flat_f = np.concatenate([np.arange(n) / n for n in d]) if k else np.zeros(0)

    def at_times(self, values: np.ndarray) -> np.ndarray:
        """Sum of per-row values over each event time's risk set (values: rows x q)."""
        vals = values[self.rows]
        n = self.k + 1
        entered = np.column_stack([np.bincount(self.enter, v, n) for v in vals.T])
        left = np.column_stack([np.bincount(self.leave + 1, v, n) for v in vals.T])
        return (np.cumsum(entered, axis=0) - np.cumsum(left, axis=0))[: self.k]

    def deaths_at_times(self, values: np.ndarray) -> np.ndarray:
        vals = values[self.death_rows]
        return np.column_stack([np.bincount(self.death_k, v, self.k) for v in vals.T])

    def spread(self, per_time: np.ndarray) -> np.ndarray:
        """For each risk-set row, the sum of a per-event-time quantity over its risk times."""
        c = np.concatenate([[0.0], np.cumsum(per_time)])
        return c[self.leave + 1] - c[self.enter]


def _loglik_grad_info(
    rs: _RiskSets, x: np.ndarray, beta: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):  # a too-long Newton step gives inf/nan; step halving retries
        if weights is None:
            return _evaluate(rs, x, beta)
        return _evaluate_weighted(rs, x, beta, weights)


def _evaluate(
    rs: _RiskSets, x: np.ndarray, beta: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    eta = x @ beta
    shift = eta.max() if len(eta) else 0.0  # overflow guard; cancels in the likelihood
    w = np.exp(eta - shift)
    wx = np.column_stack([w, w[:, None] * x])
    s = rs.at_times(wx)  # [S0, S1]
    sd = rs.deaths_at_times(wx)  # same sums over the deaths only
    kk, f = rs.flat_k, rs.flat_f
    den = s[kk, 0] - f * sd[kk, 0]
    m = (s[kk, 1:] - f[:, None] * sd[kk, 1:]) / den[:, None]
    loglik = float(np.sum(eta[rs.death_rows] - shift) - np.sum(np.log(den)))
    grad = x[rs.death_rows].sum(axis=0) - m.sum(axis=0)
    # sum_k sum_r S2_k/den_kr collapses to X' diag(w * sum of 1/den over the row's times) X.
    a = np.bincount(kk, weights=1.0 / den, minlength=rs.k)
    b = np.bincount(kk, weights=f / den, minlength=rs.k)
    xr = x[rs.rows]
    wr = w[rs.rows] * rs.spread(a)
    xd = x[rs.death_rows]
    wd = w[rs.death_rows] * b[rs.death_k]
    info = (xr.T * wr) @ xr - (xd.T * wd) @ xd - m.T @ m
    return loglik, grad, info


def _death_weight(rs: _RiskSets, weights: np.ndarray) -> np.ndarray:
    """Per Efron term (flat_k order): the mean case weight of the deaths tied at its time.

    R's `coxph` weighted Efron rule: the d tied deaths share their mean weight in each of
    the d terms of the denominator."""
    d = np.bincount(rs.death_k, minlength=rs.k)
    total = np.bincount(rs.death_k, weights=weights[rs.death_rows], minlength=rs.k)
    return (total / np.maximum(d, 1))[rs.flat_k]


def _evaluate_weighted(
    rs: _RiskSets, x: np.ndarray, beta: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """`_evaluate` with case weights (sampling designs): every sum over rows is weighted and
    each Efron term counts with the tied deaths' mean weight (Therneau & Grambsch 2000,
    §3.3 and §7.1)."""
    eta = x @ beta
    shift = eta.max() if len(eta) else 0.0
    w = weights * np.exp(eta - shift)
    wx = np.column_stack([w, w[:, None] * x])
    s = rs.at_times(wx)
    sd = rs.deaths_at_times(wx)
    kk, f = rs.flat_k, rs.flat_f
    dw = _death_weight(rs, weights)
    den = s[kk, 0] - f * sd[kk, 0]
    m = (s[kk, 1:] - f[:, None] * sd[kk, 1:]) / den[:, None]
    cw = weights[rs.death_rows]
    loglik = float(np.sum(cw * (eta[rs.death_rows] - shift)) - np.sum(dw * np.log(den)))
    grad = (x[rs.death_rows] * cw[:, None]).sum(axis=0) - (m * dw[:, None]).sum(axis=0)
    a = np.bincount(kk, weights=dw / den, minlength=rs.k)
    b = np.bincount(kk, weights=dw * f / den, minlength=rs.k)
    xr = x[rs.rows]
    wr = w[rs.rows] * rs.spread(a)
    xd = x[rs.death_rows]
    wd = w[rs.death_rows] * b[rs.death_k]
    ms = m * np.sqrt(dw)[:, None]
    info = (xr.T * wr) @ xr - (xd.T * wd) @ xd - ms.T @ ms
    return loglik, grad, info


def score_residuals(
    rs: _RiskSets, x: np.ndarray, beta: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Efron score residuals U_i (rows x p): sum_i w_i U_i is the score at `beta`.

    U_i = dN_i (x_i - mean_r m_kr) - compensator_i, where the compensator sums, over the
    event times at which row i is at risk, exp(eta_i) (x_i - m_kr) w_death / den_kr, with a
    tied death's own terms scaled by (1 - r/d) as in its Efron denominator (Therneau &
    Grambsch 2000, §3.7 / R's coxph score residuals)."""
    n, p = x.shape
    weights = np.ones(n) if weights is None else weights
    eta = x @ beta
    shift = eta.max() if len(eta) else 0.0
    r = np.exp(eta - shift)
    w = weights * r
    wx = np.column_stack([w, w[:, None] * x])
    s = rs.at_times(wx)
    sd = rs.deaths_at_times(wx)
    kk, f = rs.flat_k, rs.flat_f
    dw = _death_weight(rs, weights)
    den = s[kk, 0] - f * sd[kk, 0]
    m = (s[kk, 1:] - f[:, None] * sd[kk, 1:]) / den[:, None]

    def per_time(values: np.ndarray) -> np.ndarray:
        return np.bincount(kk, weights=values, minlength=rs.k)

    a = per_time(dw / den)
    af = per_time(dw * f / den)
    bm = np.column_stack([per_time(dw * m[:, j] / den) for j in range(p)])
    bmf = np.column_stack([per_time(dw * f * m[:, j] / den) for j in range(p)])
    resid = np.zeros((n, p))
    rows = rs.rows
    spread_a = rs.spread(a)
    spread_b = np.column_stack([rs.spread(bm[:, j]) for j in range(p)])
    resid[rows] -= r[rows, None] * (x[rows] * spread_a[:, None] - spread_b)
    # a death's own time: its Efron terms carry (1 - r/d), so give back the r/d share
    dr, dk = rs.death_rows, rs.death_k
    resid[dr] += r[dr, None] * (x[dr] * af[dk, None] - bmf[dk])
    d = np.bincount(kk, minlength=rs.k)
    mean_m = np.column_stack([per_time(m[:, j]) for j in range(p)]) / np.maximum(d, 1)[:, None]
    resid[dr] += x[dr] - mean_m[dk]
    return resid


SEPARATION = "perfect separation: the coefficient runs off to infinity"


def _failure_reason(x: np.ndarray, names: list[str], fallback: str) -> str:
    """Why a fit failed (singular information, coefficients running off, huge SEs): the
    design's collinearity if its columns nearly repeat each other (a property of the
    covariates alone), else `fallback` (separation: a property of the outcome)."""
    col = diagnose(x, names)
    return col.describe() if col.near else fallback


def check_intervals(start: np.ndarray, stop: np.ndarray) -> None:
    """Raise ValueError unless every row covers a positive, finite interval (start, stop].

    A row with stop <= start is never at risk, yet its event would count as a death: the
    likelihood silently changes. This is a caller's bug (the stage checks its panel), so it
    raises instead of returning a `problem`."""
    bad = ~(np.isfinite(start) & np.isfinite(stop) & (stop > start))
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(
            f"fit_cox: {int(bad.sum())} of {len(start)} rows have stop <= start or a missing "
            f"time (first: row {first}, start {start[first]:g}, stop {stop[first]:g}); every "
            "row must cover a positive interval (start, stop]"
        )


def fit_cox(
    start: np.ndarray,
    stop: np.ndarray,
    event: np.ndarray,
    x: np.ndarray,
    names: list[str] | None = None,
    penalizer: float = 0.0,
    max_iter: int = 50,
    tol: float = 1e-10,
    weights: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
) -> CoxResult:
    """Newton-Raphson with step halving; ridge penalty 0.5 * penalizer * ||beta||^2.

    Args:
        start, stop, event: (n,) counting-process rows (start, stop], event 0/1.
        x: (n, p) covariates; column 0 is the lamp by convention.
        weights: (n,) positive case weights (a sampling design such as case-cohort), or None.
        cluster: (n,) labels of independent units (accounts): when given, `se` and `cov` are
            the robust sandwich of Lin & Wei (1989) - the model-based SEs stay in
            `naive_se` - which repeated spells of one account and weighted designs need.

    Raises ValueError on rows with stop <= start (see `check_intervals`). Otherwise never
    raises on degenerate data: the result's `problem` says why it is not usable (no events,
    a constant covariate, collinear covariates - named - or separation).
    """
    start = np.asarray(start, dtype=float)
    stop = np.asarray(stop, dtype=float)
    event = np.asarray(event).astype(bool)
    x = np.asarray(x, dtype=float).reshape(len(start), -1)
    p = x.shape[1]
    names = names or [f"x{j}" for j in range(p)]
    n_events = int(event.sum())
    nan = np.full(p, np.nan)
    check_intervals(start, stop)
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (len(start),) or not np.all(np.isfinite(weights) & (weights > 0)):
            raise ValueError("fit_cox: weights must be one positive finite number per row")

    def failed(problem: str, it: int = 0, ll0: float = np.nan) -> CoxResult:
        return CoxResult(names, nan, nan, np.nan, ll0, len(start), n_events, False, it, problem)

    if n_events == 0:
        return failed("no events")
    if np.any(~np.isfinite(x)):
        return failed("missing or infinite covariate values")
    span = x.max(axis=0) - x.min(axis=0)  # the covariate's observed range
    if np.any(span == 0):
        const = [names[j] for j in np.flatnonzero(span == 0)]
        return failed(f"constant covariate: {', '.join(const)}")
    # Rank-deficient: no Newton step can be solved (a ridge penalty makes it estimable).
    collinear = diagnose(x, names) if penalizer == 0 else None
    if collinear is not None and collinear.exact:
        return failed(collinear.describe())
    xc = x - x.mean(axis=0)  # centring keeps exp() tame; coefficients are unchanged
    rs = _RiskSets(start, stop, event)
    pen = penalizer * np.eye(p)

    beta = np.zeros(p)
    ll, grad, info = _loglik_grad_info(rs, xc, beta, weights)
    ll0 = ll
    obj = ll
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        h = info + pen
        try:
            step = np.linalg.solve(h, grad - penalizer * beta)
        except np.linalg.LinAlgError:
            return failed(_failure_reason(x, names, SEPARATION), it, ll0)
        # Step halving: accept only steps that raise the (penalised) log-likelihood.
        for _ in range(30):
            new = beta + step
            ll_n, grad_n, info_n = _loglik_grad_info(rs, xc, new, weights)
            obj_n = ll_n - 0.5 * penalizer * float(new @ new)
            if np.isfinite(obj_n) and obj_n >= obj - 1e-12 * abs(obj):
                break
            step = step / 2
        done = abs(obj_n - obj) <= tol * max(1.0, abs(obj)) and np.max(np.abs(step)) < 1e-6
        beta, ll, grad, info, obj = new, ll_n, grad_n, info_n, obj_n
        if done:
            converged = True
            break
        if np.max(np.abs(beta * span)) > MAX_RANGE_LOGHR:
            break  # running off to infinity: stop early, flagged below

    h = info + pen
    try:
        cov = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return failed(_failure_reason(x, names, SEPARATION), it, ll0)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    naive_se = se
    if cluster is not None:
        cov = robust_cov(rs, xc, beta, cov, cluster, weights)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
    problem = None
    if (
        np.any(np.abs(beta * span) > MAX_RANGE_LOGHR)
        or np.any(~np.isfinite(se))
        or np.any(se * span > MAX_RANGE_SE)
    ):
        problem = _failure_reason(x, names, SEPARATION)
    elif not converged:
        problem = f"did not converge in {max_iter} iterations"
    elif np.any(se == 0):
        problem = "zero standard error"
    return CoxResult(
        names, beta, se, ll, ll0, len(start), n_events, converged, it, problem, cov,
        naive_se=naive_se, robust=cluster is not None,
    )  # fmt: skip


def robust_cov(
    rs: _RiskSets,
    x: np.ndarray,
    beta: np.ndarray,
    inv_info: np.ndarray,
    cluster: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Lin & Wei (1989) sandwich: D'D with D the weighted dfbetas (w_i U_i V) summed within
    each cluster - what R's `coxph(..., cluster = id)` reports as the robust variance."""
    u = score_residuals(rs, x, beta, weights)
    if weights is not None:
        u = u * weights[:, None]
    _, codes = np.unique(np.asarray(cluster), return_inverse=True)
    per_cluster = np.column_stack([np.bincount(codes, weights=u[:, j]) for j in range(u.shape[1])])
    dfbeta = per_cluster @ inv_info
    return dfbeta.T @ dfbeta
