"""Churn: drawn at billing renewals from the latent hazard, calibrated to the target rate.

Hazard model (the truth the pipeline must recover). At each renewal (monthly: every month,
annual: only at the end of the 12-month term) inside the data window, the account leaves with
probability 1 - exp(-c * period * exp(log_mult)), where `log_mult` (week of the renewal) is the
segment effect plus log(hazard_ratio) of every driver that is on that week, `period` is 1 for
monthly and 12 * annual_relative_churn for annual renewals, and `c` is calibrated so the
average monthly logo churn (churned accounts / account-months at risk in the window) hits
`simulate.monthly_churn_target`.

The draw `u < 1 - exp(-h)` is taken in its equivalent form `h > -log(1 - u)` (an Exp(1)
tolerance per renewal): the transcendental parts (`exp(log_mult)`, `log1p(-u)`) are computed
once per block with `libm` (the same bits on every CPU), and each bisection step of the
calibration is then exact IEEE arithmetic only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from churnlab.simulate import libm
from churnlab.simulate.timegrid import Grid

DAYS_PER_MONTH = 365.25 / 12


@dataclass
class RenewalRisk:
    log_mult: np.ndarray  # (n, K) log hazard multiplier in the renewal's week
    eligible: np.ndarray  # (n, K) renewal inside the window
    period: np.ndarray  # (n,) 1 monthly, 12 * relative annual
    u: np.ndarray  # (n, K) uniforms of the churn draw (common to calibration and output)
    signup_day: np.ndarray
    renew_day: np.ndarray
    annual: np.ndarray
    # Derived once: hazard multiplier exp(log_mult) and the Exp(1) tolerance -log(1 - u).
    mult: np.ndarray = field(init=False, repr=False)
    tolerance: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.mult = libm.exp(self.log_mult)
        self.tolerance = -libm.log1p(-np.asarray(self.u, dtype=np.float64))


def renewal_risk(
    u, grid: Grid, log_mult_w, renew_day, signup_day, annual, annual_rel
) -> RenewalRisk:
    week = np.clip(renew_day // 7, 0, grid.n_weeks - 1)
    log_mult = np.take_along_axis(log_mult_w, week, axis=1)
    eligible = renew_day <= grid.end_day
    period = np.where(annual, 12.0 * annual_rel, 1.0)
    return RenewalRisk(log_mult, eligible, period, u, signup_day, renew_day, annual)


def churn_index(risk: RenewalRisk, scale: float) -> np.ndarray:
    """Index of the renewal at which each account churns, -1 if it never does.

    Churn at a renewal with hazard h = scale * period * exp(log_mult) when u < 1 - exp(-h),
    i.e. when h exceeds the renewal's tolerance -log(1 - u)."""
    hazard = scale * risk.period[:, None] * risk.mult
    hit = risk.eligible & (hazard > risk.tolerance)
    first = np.argmax(hit, axis=1)
    return np.where(hit.any(axis=1), first, -1)


def churn_day(risk: RenewalRisk, k: np.ndarray) -> np.ndarray:
    """Churn date as day index (the end of the last contract), -1 if no churn."""
    day = np.take_along_axis(risk.renew_day, np.maximum(k, 0)[:, None], axis=1)[:, 0]
    return np.where(k >= 0, day, -1)


def churn_counts(risk: RenewalRisk, grid: Grid, k: np.ndarray) -> dict[str, np.ndarray]:
    """Churned accounts and account-months at risk, by billing period."""
    day = churn_day(risk, k)
    enter = risk.signup_day
    leave = np.where(k >= 0, day, grid.end_day + 1)
    months = np.maximum(leave - enter, 0) / DAYS_PER_MONTH
    return {
        "churned": np.array([((k >= 0) & ~risk.annual).sum(), ((k >= 0) & risk.annual).sum()]),
        "months": np.array([months[~risk.annual].sum(), months[risk.annual].sum()]),
    }


def calibrate_scale(risks: list[RenewalRisk], grid: Grid, target: float) -> float:
    """Bisect the hazard scale c so the pilot's monthly logo churn equals `target`."""
    lo, hi = -14.0, 3.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        churned = months = 0.0
        for risk in risks:
            counts = churn_counts(risk, grid, churn_index(risk, math.exp(mid)))
            churned += counts["churned"].sum()
            months += counts["months"].sum()
        if churned / max(months, 1e-9) < target:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))
