"""The health-score model: a discrete-time hazard GLM (binomial, complementary log-log link)
on the account-week panel, i.e. a grouped-time proportional-hazards model whose coefficients
are log hazard ratios like a Cox model's. Standard errors are clustered on account because
one account contributes many weeks.

Baseline terms: tenure band + billing period (+ plan when the panel has one). The health
score adds one 0/1 lamp per hypothesis that leads churn, read at its best lag.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from threadpoolctl import threadpool_limits

from churnlab.health.lamps import lag_within_account, lamp_on

# tenure bands in weeks: first quarter, rest of first half-year, second half, year 2, later
TENURE_EDGES = [0, 13, 26, 52, 104]
MIN_LEVEL_EVENTS = 5
MIN_LAMP_ON_EVENTS = 5
# a lamp weight beyond this (HR e^12 ~ 160,000) means the fit ran off along a separation
MAX_LAMP_COEF = 12.0


def tenure_band(tenure_weeks: pd.Series) -> pd.Series:
    labels = [f"{a}-{b - 1}w" for a, b in zip(TENURE_EDGES[:-1], TENURE_EDGES[1:], strict=True)]
    labels.append(f"{TENURE_EDGES[-1]}w+")
    bins = [*TENURE_EDGES, np.inf]
    # categorical, not str: the design matrix compares every row with each level
    return pd.cut(tenure_weeks, bins=bins, labels=labels, right=False)


def raw_features(panel: pd.DataFrame, lamps: pd.DataFrame, ahead: int = 0) -> pd.DataFrame:
    """Categorical baseline columns and lagged lamps, aligned with panel rows.

    `ahead` = h builds the covariates of week w + h as far as they are known at week w:
    tenure moves on by h; a lamp read at lag L uses the value from week w + h - L when that
    is not in the future (h <= L), else the latest value (lamps persist)."""
    out = pd.DataFrame(index=panel.index)
    out["tenure"] = tenure_band(panel["tenure_weeks"] + ahead)
    out["billing_period"] = panel["billing_period"].astype(str).astype("category")
    if "plan" in panel.columns and panel["plan"].notna().any():
        out["plan"] = panel["plan"].fillna("unknown").astype(str).astype("category")
    for row in lamps.itertuples(index=False):
        values = lag_within_account(panel, row.indicator, max(row.lag_weeks - ahead, 0))
        out[f"lamp:{row.id}"] = lamp_on(values, row.direction, row.threshold)
    return out


@dataclass
class Design:
    """How raw features become model columns; fixed on the training rows, reused to score."""

    levels: dict[str, list[str]] = field(default_factory=dict)  # categorical -> kept levels
    reference: dict[str, str] = field(default_factory=dict)
    lamps: list[str] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)

    def columns(self) -> list[str]:
        cols = ["const"]
        for var, levels in self.levels.items():
            cols += [f"{var}={lv}" for lv in levels]
        return cols + self.lamps

    def matrix(self, raw: pd.DataFrame) -> np.ndarray:
        parts = [np.ones(len(raw))]
        for var, levels in self.levels.items():
            for lv in levels:
                parts.append((raw[var] == lv).to_numpy(dtype=float))
        for lamp in self.lamps:
            parts.append(raw[lamp].to_numpy(dtype=float))
        return np.column_stack(parts)


def make_design(raw: pd.DataFrame, event: pd.Series, use_lamps: bool) -> Design:
    """Choose dummy levels and lamps that the training rows can support.

    The most common level is the reference. A level with fewer than MIN_LEVEL_EVENTS churn
    events is folded into the reference, because with no events its coefficient would run off
    to -infinity. Lamps: see `_choose_lamps`."""
    design = Design()
    ev = event.to_numpy()
    for var in [c for c in ("tenure", "billing_period", "plan") if c in raw.columns]:
        counts = raw[var].value_counts()
        counts = counts[counts > 0]
        ref = str(sorted(counts.index[counts == counts.max()])[0])
        kept = []
        for lv in sorted(counts.index):
            if lv == ref:
                continue
            n_ev = int(ev[(raw[var] == lv).to_numpy()].sum())
            if n_ev >= MIN_LEVEL_EVENTS:
                kept.append(str(lv))
            else:
                design.dropped.append(
                    {"term": f"{var}={lv}", "reason": f"{n_ev} events; folded into {ref}"}
                )
        design.levels[var] = kept
        design.reference[var] = ref
    if use_lamps:
        _choose_lamps(design, raw, ev)
    return design


def _choose_lamps(design: Design, raw: pd.DataFrame, ev: np.ndarray) -> None:
    """Lamps the training rows can estimate, each left-out one with its reason in words.

    A lamp's weight compares the churn rate of its lit weeks with its unlit weeks. It needs
    MIN_LAMP_ON_EVENTS churn events in lit weeks (its own evidence) and at least one in unlit
    weeks: with none, lamp-on would separate churn perfectly and its weight would run off to
    infinity. A strong lamp leaves few churns unlit, so no more is asked of that side (a
    small company with 12 churns, 11 lit, keeps its best lamp). Lamps enter by churns caught
    (most first); one that would leave no churn in the weeks with every chosen lamp unlit is
    left out (the baseline terms could not be estimated beside it)."""
    n_total = int(ev.sum())
    cands = []
    for col in [c for c in raw.columns if c.startswith("lamp:")]:
        on = raw[col].to_numpy()
        n_on_ev = int(ev[on == 1].sum())
        n_off_ev = int(ev[on == 0].sum())
        where = f"of the {n_total} churn events in the fitting weeks, {n_on_ev} had the lamp on"
        where += f" and {n_off_ev} off"
        if on.min() == on.max():
            state = "on" if on.min() == 1 else "off"
            design.dropped.append(
                {"term": col, "reason": f"lamp {state} in every fitting week: nothing to compare"}
            )
        elif n_on_ev < MIN_LAMP_ON_EVENTS:
            design.dropped.append(
                {
                    "term": col,
                    "reason": f"too few churn events with the lamp on: {where} (its weight "
                    f"needs at least {MIN_LAMP_ON_EVENTS} with it on)",
                }
            )
        elif n_off_ev == 0:
            design.dropped.append(
                {
                    "term": col,
                    "reason": f"no churn event with the lamp off: {where}, so its weight "
                    "cannot be estimated (it would be infinite)",
                }
            )
        else:
            cands.append((n_on_ev, col, on))
    all_off = np.ones(len(ev), dtype=bool)
    for _n, col, on in sorted(cands, key=lambda c: (-c[0], c[1])):
        left = all_off & (on == 0)
        if ev[left].sum() == 0:
            others = ", ".join(x.removeprefix("lamp:") for x in design.lamps)
            design.dropped.append(
                {
                    "term": col,
                    "reason": "no churn event left in the fitting weeks with this lamp and "
                    f"{others} all off, so its weight cannot be estimated beside theirs",
                }
            )
            continue
        all_off = left
        design.lamps.append(col)


@dataclass
class FittedModel:
    design: Design
    coef: np.ndarray
    se: np.ndarray
    converged: bool

    def linear_predictor(self, raw: pd.DataFrame) -> np.ndarray:
        return self.design.matrix(raw) @ self.coef

    def weights(self) -> list[dict]:
        """The documented weights: log hazard ratio, HR with 95% CI (account-clustered)."""
        out = []
        for name, b, s in zip(self.design.columns(), self.coef, self.se, strict=True):
            out.append(
                {
                    "term": name,
                    "coef": float(b),
                    "se": float(s),
                    "hazard_ratio": float(np.exp(b)),
                    "ci_low": float(np.exp(b - 1.96 * s)),
                    "ci_high": float(np.exp(b + 1.96 * s)),
                }
            )
        return out


def _fit_glm(raw: pd.DataFrame, event: pd.Series, groups: pd.Series, design: Design):
    x = design.matrix(raw)
    y = event.to_numpy(dtype=float)
    model = sm.GLM(y, x, family=sm.families.Binomial(link=sm.families.links.CLogLog()))
    codes = pd.factorize(groups, sort=True)[0]
    # one BLAS thread: the summation order (and so the last bits) must not depend on the
    # thread count of the machine or of the process that imported numpy first (issue 16)
    with warnings.catch_warnings(), threadpool_limits(1, "blas"):
        warnings.simplefilter("ignore")  # separation is checked on the result below
        res = model.fit(cov_type="cluster", cov_kwds={"groups": codes}, maxiter=100)
    converged = bool(res.converged) if hasattr(res, "converged") else True
    return FittedModel(design, np.asarray(res.params), np.asarray(res.bse), converged)


def runaway_lamp(fit: FittedModel) -> tuple[str, str] | None:
    """(lamp term, reason) of the lamp whose weight ran off (an unfittable term), or None."""
    cols = fit.design.columns()
    worst, size = None, -1.0
    for lamp in fit.design.lamps:
        i = cols.index(lamp)
        b, s = fit.coef[i], fit.se[i]
        bad = not (np.isfinite(b) and np.isfinite(s)) or abs(b) > MAX_LAMP_COEF
        if (bad or not fit.converged) and (not np.isfinite(b) or abs(b) > size):
            worst, size = lamp, abs(b) if np.isfinite(b) else np.inf
            reason = (
                f"its weight ran off (log hazard ratio {b:.1f}) beside the other terms: the "
                "fitting weeks separate churn by this lamp"
                if bad
                else "the model with it did not converge"
            )
    return None if worst is None else (worst, reason)


def fit_hazard(raw: pd.DataFrame, event: pd.Series, groups: pd.Series, design: Design):
    """Fit the cloglog GLM on weekly rows; SEs clustered on account. A lamp whose weight runs
    off (separation the event counts of `make_design` did not catch) is dropped with its
    reason in design.dropped and the model refitted without it."""
    fit = _fit_glm(raw, event, groups, design)
    while (bad := runaway_lamp(fit)) is not None:
        term, reason = bad
        design.lamps.remove(term)
        design.dropped.append({"term": term, "reason": reason})
        fit = _fit_glm(raw, event, groups, design)
    return fit


def horizon_probability(eta: np.ndarray, horizon_weeks: int) -> np.ndarray:
    """P(churn within the next `horizon_weeks` weeks) holding this week's covariates fixed:
    weekly survival is exp(-exp(eta)) under the cloglog model, so over H weeks it is
    exp(-H exp(eta))."""
    return 1.0 - np.exp(-horizon_weeks * np.exp(eta))


def horizon_probability_path(
    fit: FittedModel, panel: pd.DataFrame, lamps: pd.DataFrame, horizon_weeks: int
) -> np.ndarray:
    """P(churn in weeks w .. w+H-1) from the hazards of each of those weeks, with covariates
    projected by raw_features(ahead=h): 1 - exp(-sum_h exp(eta_h)). A lamp read at lag L
    already tells us its effect on the next L weeks, which a constant-covariate projection
    would throw away."""
    cum = np.zeros(len(panel))
    for h in range(horizon_weeks):
        cum += np.exp(fit.linear_predictor(raw_features(panel, lamps, ahead=h)))
    return 1.0 - np.exp(-cum)
