"""The health-score model: a discrete-time hazard GLM (binomial, complementary log-log link)
on the account-week panel, i.e. a grouped-time proportional-hazards model whose coefficients
are log hazard ratios like a Cox model's. Standard errors are clustered on account because
one account contributes many weeks.

Baseline terms: tenure band + billing period (+ plan when the panel has one). The health
score adds one 0/1 lamp per hypothesis that leads churn, read at its best lag.

Renewal weeks (issue 14). A contract customer churns when a term ends without renewal, so
churn falls in the weeks a term ends: every ~4.3 weeks on a monthly plan, once a year on an
annual one. Whether week w + h is such a week is known at week w from the running contract
(`weeks_to_renewal`, from contract start and billing period: no later data), so it is a
covariate "known in advance" of the horizon projection. Without it, the model spreads an
annual customer's renewal churn over all 52 weeks: a 12-week horizon holding the renewal gets
about a quarter of the risk it has, one without it a risk it does not have, and the bands
mix the two (amber promised 13.5%, 12.0% happened). `make_design` lets the data decide how
the renewal week enters (`Design.renewal`):
- "risk set": fewer than MIN_LEVEL_EVENTS training churns fall outside a renewal week (the
  usual contract data: a churn date is a term end). Then only renewal weeks are at risk of
  churn: the model is fitted on them and the horizon probability sums the hazards of the
  renewal weeks in the horizon. This is the discrete-time hazard model on the contract's own
  time scale of renewal opportunities (Fader PS, Hardie BGS, "How to project customer
  retention", J Interactive Marketing 2007;21:76-90: in a contractual setting churn can only
  happen at a renewal opportunity; Singer JD, Willett JB, Applied Longitudinal Data Analysis,
  2003, ch. 10-11: the risk set of a discrete-time hazard is the periods in which the event
  can happen). The off-renewal hazard is not estimable there (it would run off to zero, the
  same reason `make_design` folds a level with too few churns).
- "term": churn also happens outside renewal weeks (e.g. a snapshot dating every churn on
  the export day, or terms cut short): a 0/1 term `renewal_week` with its own hazard ratio,
  when at least MIN_LEVEL_EVENTS churns fall in renewal weeks.
- "not used": the panel has no `weeks_to_renewal` (or too few churns in renewal weeks).
"""

from __future__ import annotations

import gc
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import sparse
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


RENEWAL_COLUMN = "weeks_to_renewal"
TERM_MONTHS = {"monthly": 1, "annual": 12}
DAY = np.timedelta64(1, "D")


def add_months(days: np.ndarray, months: int) -> np.ndarray:
    """datetime64[D] dates moved on by whole calendar months, the day of month clipped to the
    month's length (31 Jan + 1 month = 28/29 Feb), as DuckDB's ADD_MONTHS does."""
    month = days.astype("M8[M]")
    day = (days - month.astype("M8[D]")) // DAY
    target = month + np.timedelta64(months, "M")
    length = ((target + np.timedelta64(1, "M")).astype("M8[D]") - target.astype("M8[D]")) // DAY
    return target.astype("M8[D]") + np.minimum(day, length - 1) * DAY


def renewal_week(panel: pd.DataFrame, ahead: int = 0) -> np.ndarray | None:
    """1.0 where a term of the contract running at week w ends in week w + `ahead` (days
    [7 ahead, 7 ahead + 7) after w's start), else 0.0; None when the panel has no
    `weeks_to_renewal`.

    Known at week w: the next term end is week_start + 7 x weeks_to_renewal days (the panel's
    renewal date: the next anniversary of the contract's start, `indicators.catalog`), and
    the later ones follow every term (1 month for monthly, 12 for annual billing; the day of
    month after a clipped month-end can come out up to 3 days early). Rows with an unknown
    renewal date or billing period count as renewal weeks (at risk: never silently safe)."""
    if RENEWAL_COLUMN not in panel.columns:
        return None
    wtr = panel[RENEWAL_COLUMN].to_numpy(dtype=float)
    term = panel["billing_period"].map(TERM_MONTHS).to_numpy(dtype=float)
    unknown = ~(np.isfinite(wtr) & np.isfinite(term))
    start = panel["week_start"].to_numpy().astype("M8[D]")
    first = start + np.round(np.where(unknown, 0.0, wtr) * 7).astype(np.int64) * DAY
    lo, hi = 7 * ahead, 7 * ahead + 7
    due = np.zeros(len(panel), dtype=bool)
    for months in (1, 12):
        rows = np.flatnonzero(~unknown & (term == months))
        k = 0
        while len(rows):
            offset = (add_months(first[rows], k * months) - start[rows]) // DAY
            due[rows[(offset >= lo) & (offset < hi)]] = True
            rows = rows[offset < hi]  # later term ends can still fall in the week
            k += 1
    return np.where(unknown, 1.0, due.astype(float))


def raw_features(panel: pd.DataFrame, lamps: pd.DataFrame, ahead: int = 0) -> pd.DataFrame:
    """Categorical baseline columns, the renewal week and lagged lamps, aligned with panel
    rows.

    `ahead` = h builds the covariates of week w + h as far as they are known at week w:
    tenure moves on by h; `renewal` = a term ends in week w + h (`renewal_week`, only when the
    panel has weeks_to_renewal); a lamp read at lag L uses the value from week w + h - L when
    that is not in the future (h <= L), else the latest value (lamps persist)."""
    out = pd.DataFrame(index=panel.index)
    out["tenure"] = tenure_band(panel["tenure_weeks"] + ahead)
    out["billing_period"] = panel["billing_period"].astype(str).astype("category")
    if "plan" in panel.columns and panel["plan"].notna().any():
        out["plan"] = panel["plan"].fillna("unknown").astype(str).astype("category")
    renewal = renewal_week(panel, ahead)
    if renewal is not None:
        out["renewal"] = renewal
    for row in lamps.itertuples(index=False):
        values = lag_within_account(panel, row.indicator, max(row.lag_weeks - ahead, 0))
        # 0/1 in one byte: the design matrix reads it as float, so only memory changes
        out[f"lamp:{row.id}"] = lamp_on(values, row.direction, row.threshold).astype(np.int8)
    return out


@dataclass
class Design:
    """How raw features become model columns; fixed on the training rows, reused to score."""

    levels: dict[str, list[str]] = field(default_factory=dict)  # categorical -> kept levels
    reference: dict[str, str] = field(default_factory=dict)
    lamps: list[str] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)
    # how the renewal week enters (module docstring): "risk set", "term" or "not used"
    renewal: str = "not used"
    renewal_note: dict = field(default_factory=dict)

    def columns(self) -> list[str]:
        cols = ["const"]
        for var, levels in self.levels.items():
            cols += [f"{var}={lv}" for lv in levels]
        if self.renewal == "term":
            cols.append("renewal_week")
        return cols + self.lamps

    def at_risk(self, raw: pd.DataFrame) -> np.ndarray | None:
        """Rows whose week can end in churn (None: every row): the renewal weeks when the
        renewal week is the risk set."""
        if self.renewal != "risk set":
            return None
        return raw["renewal"].to_numpy() == 1

    def indicators(self, raw: pd.DataFrame):
        """The model's columns after `const`, in `columns()` order, one 1-D array each:
        every one is 0/1 (dummies of the kept levels, the renewal week, lamps)."""
        for var, levels in self.levels.items():
            for lv in levels:
                yield (raw[var] == lv).to_numpy()
        if self.renewal == "term":
            yield raw["renewal"].to_numpy()
        for lamp in self.lamps:
            yield raw[lamp].to_numpy()

    def matrix(self, raw: pd.DataFrame) -> np.ndarray:
        parts = [np.ones(len(raw))]
        parts += [np.asarray(col, dtype=float) for col in self.indicators(raw)]
        return np.column_stack(parts)


def make_design(raw: pd.DataFrame, event: pd.Series, use_lamps: bool) -> Design:
    """Choose dummy levels and lamps that the training rows can support.

    The most common level is the reference. A level with fewer than MIN_LEVEL_EVENTS churn
    events is folded into the reference, because with no events its coefficient would run off
    to -infinity. The renewal week: see the module docstring; levels and lamps are chosen
    on the rows at risk. Lamps: see `_choose_lamps`."""
    design = Design()
    ev = event.to_numpy()
    if "renewal" in raw.columns:
        _renewal_handling(design, raw["renewal"].to_numpy(), ev)
        rows = design.at_risk(raw)
        if rows is not None:
            raw, ev = raw[rows], ev[rows]
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


def _renewal_handling(design: Design, renewal: np.ndarray, ev: np.ndarray) -> None:
    """Set design.renewal from where the fitting weeks' churns fall (module docstring)."""
    n_on = int(ev[renewal == 1].sum())
    n_off = int(ev[renewal == 0].sum())
    note = {
        "column": RENEWAL_COLUMN,
        "churns_in_renewal_weeks": n_on,
        "churns_outside_renewal_weeks": n_off,
        "renewal_week_share": float(np.mean(renewal == 1)) if len(renewal) else None,
    }
    if n_on < MIN_LEVEL_EVENTS:
        design.renewal = "not used"
        note["reason"] = (
            f"{n_on} churns in renewal weeks (fewer than {MIN_LEVEL_EVENTS}): the renewal "
            "week cannot be estimated"
        )
    elif n_off < MIN_LEVEL_EVENTS:
        design.renewal = "risk set"
        note["reason"] = (
            f"{n_on} of {n_on + n_off} churns fall in a week a contract term ends: only "
            "those weeks are at risk of churn (the other weeks' hazard has fewer than "
            f"{MIN_LEVEL_EVENTS} churns and is taken as zero)"
        )
    else:
        design.renewal = "term"
        note["reason"] = (
            f"{n_off} churns fall outside the weeks a contract term ends: the renewal week "
            "is a term of the model with its own hazard ratio"
        )
    design.renewal_note = note


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


def _family():
    return sm.families.Binomial(link=sm.families.links.CLogLog())


def _fit_glm(raw: pd.DataFrame, event: pd.Series, groups: pd.Series, design: Design):
    x = design.matrix(raw)
    y = event.to_numpy(dtype=float)
    model = sm.GLM(y, x, family=_family())
    codes = pd.factorize(groups, sort=True)[0]
    # one BLAS thread: the summation order (and so the last bits) must not depend on the
    # thread count of the machine or of the process that imported numpy first (issue 16)
    with warnings.catch_warnings(), threadpool_limits(1, "blas"):
        warnings.simplefilter("ignore")  # separation is checked on the result below
        res = model.fit(cov_type="cluster", cov_kwds={"groups": codes}, maxiter=100)
    converged = bool(res.converged) if hasattr(res, "converged") else True
    fitted = FittedModel(design, np.array(res.params), np.array(res.bse), converged)
    # statsmodels' results and model refer to each other: without a collection their
    # n x k working arrays (~13 x the design matrix) stay until the cyclic collector happens
    # to run, and several fits pile up (issue 17: 0.5 GB per fit on the default company)
    del model, res
    gc.collect()
    return fitted


def row_patterns(design: Design, raw: pd.DataFrame, event: pd.Series):
    """(pattern of each row, first row of each pattern) or None: a pattern is one distinct
    combination of the design's columns and the outcome. Every column after `const` is 0/1
    (`Design.indicators`), so a row's pattern is a bit string packed into 64-bit words; None
    when a column is not 0/1 (then rows cannot be pooled). Patterns are numbered in sorted
    order of their words (deterministic)."""
    n = len(raw)
    cols = [*design.indicators(raw), event.to_numpy()]
    words = np.zeros(((len(cols) + 62) // 63, n), dtype=np.uint64)
    for j, col in enumerate(cols):
        bit = np.asarray(col)
        if not np.isin(bit, (0, 1)).all():
            return None
        words[j // 63] |= bit.astype(np.uint64) << np.uint64(j % 63)
    if len(words) == 1:
        _, first, pattern = np.unique(words[0], return_index=True, return_inverse=True)
    else:
        _, first, pattern = np.unique(words.T, axis=0, return_index=True, return_inverse=True)
    return pattern.reshape(-1), first


def _fit_glm_grouped(raw: pd.DataFrame, event: pd.Series, groups: pd.Series, design: Design):
    """The same fit as `_fit_glm` on one row per pattern (`row_patterns`) with its count as
    a frequency weight (statsmodels GLM freq_weights): the likelihood, its score and Hessian
    are sums over rows, so rows that are alike add up exactly and the estimates are the
    ungrouped ones (to float rounding). Memory: statsmodels' working arrays (~2.3 KB a row)
    hold patterns, not account-weeks.

    Standard errors: statsmodels warns that its cluster-robust covariance is "not fully
    supported with freq_weights" (its small-sample factor would count patterns, not rows,
    and a pattern spans accounts), so the cluster sandwich is assembled here: bread =
    the inverse Hessian of the weighted fit (the full data's), meat = sum over accounts of
    (sum of the account's row scores)^2, a row's score being its pattern's, times
    statsmodels' default factor G/(G-1) (N-1)/(N-k) with N account-weeks, G accounts
    (`statsmodels.stats.sandwich_covariance.cov_cluster`). Equal to `_fit_glm`'s SEs.
    None when a column is not 0/1."""
    found = row_patterns(design, raw, event)
    if found is None:
        return None
    pattern, first = found
    freq = np.bincount(pattern).astype(float)
    x = design.matrix(raw.iloc[first])
    y = event.to_numpy(dtype=float)[first]
    model = sm.GLM(y, x, family=_family(), freq_weights=freq)
    acc, accounts = pd.factorize(groups, sort=True)
    with warnings.catch_warnings(), threadpool_limits(1, "blas"):
        warnings.simplefilter("ignore")  # separation is checked on the result below
        res = model.fit(maxiter=100)
        params = np.array(res.params)
        # one row's score per pattern (unit weights), summed per account through the
        # account x pattern counts
        score = sm.GLM(y, x, family=_family()).score_obs(params)
        counts = sparse.csr_matrix(
            (np.ones(len(pattern)), (acc, pattern)), shape=(len(accounts), len(first))
        )
        per_account = counts @ score
        bread = np.linalg.inv(res.model.hessian(params))
    n_rows, k, n_acc = len(pattern), x.shape[1], len(accounts)
    meat = per_account.T @ per_account
    cov = bread @ meat @ bread.T * (n_acc / (n_acc - 1.0)) * ((n_rows - 1.0) / (n_rows - k))
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.diag(cov))
    converged = bool(res.converged) if hasattr(res, "converged") else True
    fitted = FittedModel(design, params, se, converged)
    del model, res
    gc.collect()
    return fitted


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


def fit_hazard(
    raw: pd.DataFrame,
    event: pd.Series,
    groups: pd.Series,
    design: Design,
    grouped: bool | None = None,
):
    """Fit the cloglog GLM on weekly rows at risk (`Design.at_risk`); SEs clustered on
    account. A lamp whose weight runs off (separation the event counts of `make_design` did
    not catch) is dropped with its reason in design.dropped and the model refitted without
    it.

    grouped: fit on one row per distinct pattern of covariates and outcome with frequency
    weights (`_fit_glm_grouped`: the same estimates and SEs in a fraction of the memory);
    None = when every week is at risk (renewal handling "term" or "not used": issue 17,
    statsmodels held ~2.3 KB per account-week, 7.4 GB at 3.2M rows). With the renewal weeks
    as the risk set the fit has ~1/8 of the rows and stays row by row, so its digits do not
    move."""
    rows = design.at_risk(raw)
    if rows is not None:
        raw, event, groups = raw[rows], event[rows], groups[rows]
    if grouped is None:
        grouped = rows is None

    def fit_once():
        fitted = _fit_glm_grouped(raw, event, groups, design) if grouped else None
        return fitted if fitted is not None else _fit_glm(raw, event, groups, design)

    fit = fit_once()
    while (bad := runaway_lamp(fit)) is not None:
        term, reason = bad
        design.lamps.remove(term)
        design.dropped.append({"term": term, "reason": reason})
        fit = fit_once()
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
    would throw away. With the renewal week as the risk set, only the weeks a term ends in
    the horizon add their hazard."""
    cum = np.zeros(len(panel))
    for h in range(horizon_weeks):
        raw = raw_features(panel, lamps, ahead=h)
        hazard = np.exp(fit.linear_predictor(raw))
        rows = fit.design.at_risk(raw)
        if rows is not None:
            hazard = np.where(rows, hazard, 0.0)
        cum += hazard
    return 1.0 - np.exp(-cum)
