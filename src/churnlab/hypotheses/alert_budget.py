"""Threshold suggestion under an alert budget: the lamp may light on at most a given share of
account-weeks, and within that budget the threshold whose lightings are most often followed
by churn (precision of an alert) wins, provided it warns early enough and often enough.

Why: the sharpest split of all weeks (`lamp_perf.pick_threshold`) lights broadly (a third of
the accounts every week), so a CSM cannot act on it. Early-warning scores in hospitals are
tuned the same way: fix the alert rate the ward can handle, then compare positive predictive
value and lead time at that rate (Romero-Brufau et al., Critical Care 2015;19:285: "Why the
C-statistic is not informative to evaluate early warning scores and what metrics to use").

The objective is a parameter: "precision" / "lift" of a lighting, or "chi_square", the
sharpest split of the weeks inside the budget (see `choose_threshold` for why the hypotheses
stage uses it by default).

Definitions (the same as `churnlab.health.alerts`, on arrays):
- rows are subject-weeks (a subject = an account, or an account's spell); `week` is a whole
  week number (consecutive weeks differ by 1; a missing week breaks a lit run);
- the lamp is on when value < threshold (direction "low") or value > threshold ("high"), as
  in `lamp_perf`; a missing value is off;
- a lighting is the first week of a lit run, except runs starting in the earliest week of the
  data (left-censored: they may have lit long before);
- precision = share of lightings with a known outcome that churn within the horizon;
  base_rate = the same for every row with a known outcome; lift = precision / base_rate;
- a churner is warned when a lighting falls in the `horizon_weeks` weeks ending with its churn
  week; its warning = churn week - lighting week + 1 (earliest such lighting; weeks to the end
  of the churn week, as lamp_perf counts warning).

Keep the honest split of `analysis`: compute the curve and choose on the tuning half, then
measure the chosen threshold on the test half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.hypotheses.lamp_perf import weighted_median

OBJECTIVES = ("precision", "lift", "chi_square")
# What a lamp is judged by as an alert (one row of a trade-off curve or an alert design).
ALERT_MEASURES = [
    "share_lit",
    "precision",
    "lift",
    "base_rate",
    "lightings",
    "lightings_known",
    "churners_warned",
    "churners_warned_share",
    "median_warning_weeks",
    "chosen",
]
CURVE_COLUMNS = ["threshold", *ALERT_MEASURES]


def _oriented(x: np.ndarray, direction: str) -> np.ndarray:
    # lamp on <=> oriented value < oriented threshold, for both directions (as lamp_perf)
    if direction not in ("low", "high"):
        raise ValueError(f"direction must be 'low' or 'high' (got {direction!r})")
    return x if direction == "low" else -x


@dataclass
class BudgetScan:
    """Per-account sums behind `budget_curve`, for every candidate threshold (columns), so a
    bootstrap over accounts is a weighted sum (as `lamp_perf.ScanData`). An account with
    several subjects (spells) carries all of them."""

    candidates: np.ndarray
    rows: np.ndarray  # accounts: subject-weeks
    known_rows: np.ndarray  # accounts: subject-weeks with a known outcome
    churn_rows: np.ndarray  # accounts: ... that churn within the horizon
    lit_rows: np.ndarray  # accounts x candidates: weeks lit
    lightings: np.ndarray  # accounts x candidates: lightings
    lightings_known: np.ndarray  # accounts x candidates: lightings with a known outcome
    lightings_churn: np.ndarray  # accounts x candidates: ... followed by churn
    churner_account: np.ndarray  # churners (subjects that churn): account index
    warning: np.ndarray  # churners x candidates: weeks of warning (0 = not warned)


def build_budget_scan(
    values,
    candidates,
    direction: str,
    churn_within,
    subject,
    week,
    event,
    horizon_weeks: int,
    account=None,
) -> BudgetScan:
    """The sums of `budget_curve` per account (`account`: per row; default the subject).
    Arguments and errors as `budget_curve`."""
    v = np.asarray(values, dtype=float)
    prep = _Prepared(churn_within, subject, week, event, horizon_weeks, account, n=len(v))
    u = _oriented(v, direction)[prep.order]
    cu = _oriented(np.asarray(candidates, dtype=float), direction)
    known_u = np.isfinite(u)
    return prep.scan(np.asarray(candidates, dtype=float), ((known_u & (u < t)) for t in cu))


def build_lit_scan(
    lits, labels, churn_within, subject, week, event, horizon_weeks: int, account=None
) -> BudgetScan:
    """`build_budget_scan` for lamps given as they are lit rather than by a threshold: one
    bool array per row (in the given row order) for each lamp in `lits` (e.g. one lamp under
    several alert designs, `alert_policy`); `labels` name them (the scan's `candidates`).
    Other arguments and errors as `budget_curve`."""
    lits = [np.asarray(x, dtype=bool) for x in lits]
    n = len(np.asarray(subject))
    if any(len(x) != n for x in lits):
        raise ValueError("every lit array needs one value per row")
    prep = _Prepared(churn_within, subject, week, event, horizon_weeks, account, n=n)
    return prep.scan(np.asarray(labels), (x[prep.order] for x in lits))


class _Prepared:
    """Rows sorted by subject and week, with everything `BudgetScan` needs that does not
    depend on the lamp; `scan` sums the lamp-dependent parts per account for each lamp."""

    def __init__(self, churn_within, subject, week, event, horizon_weeks, account, n):
        y = np.asarray(churn_within, dtype=float)
        subj = pd.factorize(np.asarray(subject))[0].astype(np.int64)
        wk = np.rint(np.asarray(week, dtype=float)).astype(np.int64)
        ev = np.asarray(event) == 1
        acc = subj if account is None else pd.factorize(np.asarray(account))[0].astype(np.int64)
        if not (len(y) == len(subj) == len(wk) == len(ev) == len(acc) == n):
            raise ValueError("values, churn_within, subject, week and event need the same length")
        if horizon_weeks < 1:
            raise ValueError(f"horizon_weeks must be >= 1 (got {horizon_weeks})")
        order = np.lexsort((wk, subj))
        y, subj, wk, ev, acc = y[order], subj[order], wk[order], ev[order], acc[order]
        if n and np.any((subj[1:] == subj[:-1]) & (wk[1:] == wk[:-1])):
            raise ValueError("a subject has two rows for the same week")
        self.order, self.n, self.acc = order, n, acc
        self.same_prev = np.zeros(n, bool)
        if n:
            self.same_prev[1:] = (subj[1:] == subj[:-1]) & (wk[1:] == wk[:-1] + 1)
        self.not_first_week = wk != (wk.min() if n else 0)
        self.n_acc = int(acc.max()) + 1 if n else 0
        self.known = np.isfinite(y)
        self.yk = np.where(self.known, y, 0.0)

        # churn week per subject (the event row); rows of churners inside their warning window
        n_subj = int(subj.max()) + 1 if n else 0
        churn_week = np.full(n_subj, np.iinfo(np.int64).min // 2, dtype=np.int64)
        churn_week[subj[ev]] = wk[ev]
        is_churner = np.zeros(n_subj, bool)
        is_churner[subj[ev]] = True
        churners = np.flatnonzero(is_churner)
        slot = np.full(n_subj, -1)
        slot[churners] = np.arange(len(churners))
        self.n_churners = len(churners)
        self.churner_account = np.zeros(len(churners), dtype=np.int64)
        self.churner_account[slot[subj[ev]]] = acc[ev]
        cw = churn_week[subj]
        in_window = is_churner[subj] & (wk <= cw) & (wk >= cw - horizon_weeks + 1)
        # only rows in a churner's window can warn: keep their slot and weeks of warning
        self.win_rows = np.flatnonzero(in_window)
        self.win_slot = slot[subj[self.win_rows]]
        self.win_weeks = (cw - wk + 1)[self.win_rows]

    def per_account(self, weights: np.ndarray) -> np.ndarray:
        return np.bincount(self.acc, weights=weights.astype(float), minlength=self.n_acc)

    def scan(self, candidates: np.ndarray, lits) -> BudgetScan:
        cols: list[list[np.ndarray]] = [[], [], [], []]
        warns = []
        for lit in lits:
            prev_lit = np.r_[False, lit[:-1]] if self.n else lit
            lighting = lit & ~(self.same_prev & prev_lit) & self.not_first_week
            lk = lighting & self.known
            for out, x in zip(cols, (lit, lighting, lk, lk * self.yk), strict=True):
                out.append(self.per_account(x))
            warning = np.zeros(self.n_churners)
            hit = lighting[self.win_rows]
            np.maximum.at(warning, self.win_slot[hit], self.win_weeks[hit])
            warns.append(warning)
        k = len(candidates)

        def stack(parts: list[np.ndarray], rows: int) -> np.ndarray:
            return np.column_stack(parts) if parts else np.zeros((rows, k))

        return BudgetScan(
            candidates, self.per_account(np.ones(self.n)), self.per_account(self.known),
            self.per_account(self.yk), *(stack(c, self.n_acc) for c in cols),
            self.churner_account, stack(warns, self.n_churners),
        )  # fmt: skip


def curve_from_scan(scan: BudgetScan, account_weights: np.ndarray | None = None) -> pd.DataFrame:
    """`budget_curve` from the per-account sums; `account_weights` (whole numbers, e.g. a
    bootstrap's draw counts) repeat accounts. Counts are ints without weights."""
    w = np.ones(len(scan.rows)) if account_weights is None else np.asarray(account_weights, float)
    rows, known, churn = (
        float(w @ scan.rows),
        float(w @ scan.known_rows),
        float(w @ scan.churn_rows),
    )
    lit = w @ scan.lit_rows
    lightings, lk, lc = w @ scan.lightings, w @ scan.lightings_known, w @ scan.lightings_churn
    cw = w[scan.churner_account]
    warned = scan.warning > 0
    n_warned = cw @ warned
    n_churners = float(cw.sum())
    base = churn / known if known else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(lk > 0, lc / np.where(lk > 0, lk, 1), np.nan)
        lift = precision / base if base > 0 else np.full(len(lk), np.nan)
    as_count = (lambda a: a.astype(np.int64)) if account_weights is None else (lambda a: a)
    curve = pd.DataFrame(
        {
            "threshold": scan.candidates,
            "share_lit": lit / rows if rows else np.nan,
            "precision": precision,
            "lift": lift,
            "base_rate": base,
            "lightings": as_count(lightings),
            "lightings_known": as_count(lk),
            "churners_warned": as_count(n_warned),
            "churners_warned_share": n_warned / n_churners if n_churners else np.nan,
            "median_warning_weeks": [
                weighted_median(scan.warning[:, j], cw * warned[:, j])
                for j in range(len(scan.candidates))
            ],
            "chosen": False,
        }
    )
    return curve[CURVE_COLUMNS]


def budget_curve(
    values,
    candidates,
    direction: str,
    churn_within,
    subject,
    week,
    event,
    horizon_weeks: int,
) -> pd.DataFrame:
    """The trade-off curve: one row per candidate threshold (in the given order).

    values: indicator per row (float, NaN = unknown -> lamp off); candidates: thresholds;
    churn_within: per row 1 / 0 / NaN (churn within the horizon; NaN = censored), e.g.
    `design.churn_within(panel, horizon)`; subject: account id (or account + spell) per row;
    week: whole week number per row (e.g. panel `start`); event: 1 in a subject's churn week.
    Returns CURVE_COLUMNS (`chosen` all False; see `choose_threshold`): share_lit is the
    share of all rows lit; lightings counts every lighting, lightings_known those with a
    known outcome; churners_warned_share is over all churners (NaN without churners);
    median_warning_weeks over warned churners (NaN if none).
    Raises ValueError for an unknown direction, arrays of different lengths, horizon < 1 or a
    subject with two rows in one week."""
    scan = build_budget_scan(
        values, candidates, direction, churn_within, subject, week, event, horizon_weeks
    )
    return curve_from_scan(scan)


def choose_threshold(
    curve: pd.DataFrame,
    max_share_lit: float = 0.2,
    min_warning_weeks: float = 4,
    min_lightings: int = 20,
    objective: str = "precision",
) -> tuple[int | None, str]:
    """Row label of the chosen threshold in `curve` (from `budget_curve`) and the rule, or
    (None, why nothing fits).

    Eligible: share_lit <= max_share_lit (the budget), lightings_known >= min_lightings (so a
    precision from three lightings in the far tail cannot win), median_warning_weeks >=
    min_warning_weeks and lift > 1 (lightings churn more than any week). Among those the
    largest `objective` wins: "precision" or "lift" (the same order, lift = precision / one
    base rate), or "chi_square" - the sharpest split of churn-within-horizon weeks
    (`lamp_perf.performance`'s chi_square over the same candidates, a column the caller adds
    to `curve`). Ties go to more churners warned, then the smaller share lit, then the earlier
    row. Raises ValueError for an unknown objective or max_share_lit outside (0, 1].

    Why "chi_square" exists: precision of a lighting favours thresholds in the middle of the
    noisy values of accounts already in trouble (each flicker is a new lighting, close to the
    churn) and penalises a lamp that lights once, `lead` weeks before the risk rises; on the
    synthetic worlds of tests/hypotheses it found 9 of 16 true leaders (14+ needed) and moved
    a lead of 8 weeks to 12. The sharpest split inside the budget keeps the old pick whenever
    that fits the budget."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES} (got {objective!r})")
    if not 0 < max_share_lit <= 1:
        raise ValueError(f"max_share_lit must be in (0, 1] (got {max_share_lit})")
    if objective not in curve.columns:
        raise ValueError(f"objective {objective!r} needs a {objective!r} column in the curve")
    if curve.empty:
        return None, "no candidate thresholds"
    in_budget = curve["share_lit"] <= max_share_lit
    enough = curve["lightings_known"] >= min_lightings
    early = curve["median_warning_weeks"] >= min_warning_weeks
    riskier = curve["lift"] > 1
    pool = curve[in_budget & enough & early & riskier & curve[objective].notna()]
    if pool.empty:
        return None, _why_none(curve, in_budget, enough, early, max_share_lit, min_lightings,
                               min_warning_weeks)  # fmt: skip
    rank = pool.assign(_pos=np.arange(len(pool)))
    best = rank.sort_values(
        [objective, "churners_warned", "share_lit", "_pos"],
        ascending=[False, False, True, True],
        kind="stable",
    ).index[0]
    what = (
        "sharpest split (largest chi-square) of churn-within-horizon weeks"
        if objective == "chi_square"
        else f"highest {objective} of a lighting"
    )
    rule = (
        f"{what} among thresholds lighting <= {max_share_lit:.0%} "
        f"of account-weeks, with >= {min_lightings} lightings, median warning >= "
        f"{min_warning_weeks:g} weeks and lift > 1"
    )
    return best, rule


def _why_none(curve, in_budget, enough, early, max_share, min_lightings, min_warning) -> str:
    # Name the first condition that empties the pool, in the order the CS team cares about.
    if not in_budget.any():
        lowest = curve["share_lit"].min()
        return (
            f"every candidate lights more than {max_share:.0%} of account-weeks "
            f"(the least: {lowest:.0%})"
        )
    if not (in_budget & enough).any():
        return f"within the {max_share:.0%} budget no threshold gives >= {min_lightings} lightings"
    if not (in_budget & enough & early).any():
        return (
            f"within the {max_share:.0%} budget with >= {min_lightings} lightings, no threshold "
            f"gives a median warning of >= {min_warning:g} weeks"
        )
    return "within the budget no threshold's lightings churn more than the average week (lift <= 1)"


def suggest_with_budget(
    values,
    candidates,
    direction: str,
    churn_within,
    subject,
    week,
    event,
    *,
    horizon_weeks: int,
    max_share_lit: float = 0.2,
    min_warning_weeks: float = 4,
    min_lightings: int = 20,
    objective: str = "precision",
) -> tuple[pd.DataFrame, dict]:
    """`budget_curve` + `choose_threshold`. Returns the curve with `chosen` set and
    {"threshold": float | None, "row": int | None, "rule": str, "max_share_lit": ...,
    "min_warning_weeks": ..., "min_lightings": ..., "objective": ...}."""
    curve = budget_curve(values, candidates, direction, churn_within, subject, week, event,
                         horizon_weeks)  # fmt: skip
    idx, rule = choose_threshold(curve, max_share_lit, min_warning_weeks, min_lightings, objective)
    curve["chosen"] = curve.index == idx
    choice = {
        "threshold": None if idx is None else float(curve.loc[idx, "threshold"]),
        "row": None if idx is None else int(idx),
        "rule": rule,
        "max_share_lit": max_share_lit,
        "min_warning_weeks": min_warning_weeks,
        "min_lightings": min_lightings,
        "objective": objective,
    }
    return curve, choice


def bootstrap_budget_threshold(
    scan: BudgetScan,
    reps: int,
    seed: int,
    *,
    max_share_lit: float = 0.2,
    min_warning_weeks: float = 4,
    min_lightings: int = 20,
    objective: str = "precision",
    perf_scan=None,
) -> tuple[float | None, float | None]:
    """95% percentile interval of the budget-chosen threshold, resampling accounts with
    replacement (`reps` draws, fixed by `seed`); draws where nothing fits the budget are left
    out. (None, None) without reps, accounts or any fitting draw. `perf_scan`: the
    `lamp_perf.ScanData` of the same accounts and candidates, needed for the objective
    "chi_square" (its column comes from `lamp_perf.performance` with the same weights)."""
    from churnlab.hypotheses.lamp_perf import performance

    if objective == "chi_square" and perf_scan is None:
        raise ValueError('objective "chi_square" needs perf_scan')
    n = len(scan.rows)
    if reps <= 0 or n == 0:
        return None, None
    rng = np.random.default_rng(seed)
    picks = []
    for _ in range(reps):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        curve = curve_from_scan(scan, w)
        if perf_scan is not None:
            curve["chi_square"] = performance(perf_scan, w)["chi_square"].to_numpy()
        idx, _ = choose_threshold(curve, max_share_lit, min_warning_weeks, min_lightings, objective)
        if idx is not None:
            picks.append(scan.candidates[idx])
    if not picks:
        return None, None
    lo, hi = np.quantile(picks, [0.025, 0.975])
    return float(lo), float(hi)
