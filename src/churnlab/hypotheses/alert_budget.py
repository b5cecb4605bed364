"""Threshold suggestion under an alert budget: the lamp may light on at most a given share of
account-weeks, and within that budget the threshold whose lightings are most often followed
by churn (precision of an alert) wins, provided it warns early enough and often enough.

Why: the sharpest split of all weeks (`lamp_perf.pick_threshold`) lights broadly (a third of
the accounts every week), so a CSM cannot act on it. Early-warning scores in hospitals are
tuned the same way: fix the alert rate the ward can handle, then compare positive predictive
value and lead time at that rate (Romero-Brufau et al., Critical Care 2015;19:285: "Why the
C-statistic is not informative to evaluate early warning scores and what metrics to use").

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

import numpy as np
import pandas as pd

OBJECTIVES = ("precision", "lift")
CURVE_COLUMNS = [
    "threshold",
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


def _oriented(x: np.ndarray, direction: str) -> np.ndarray:
    # lamp on <=> oriented value < oriented threshold, for both directions (as lamp_perf)
    if direction not in ("low", "high"):
        raise ValueError(f"direction must be 'low' or 'high' (got {direction!r})")
    return x if direction == "low" else -x


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
    v = np.asarray(values, dtype=float)
    y = np.asarray(churn_within, dtype=float)
    subj = pd.factorize(np.asarray(subject))[0].astype(np.int64)
    wk = np.rint(np.asarray(week, dtype=float)).astype(np.int64)
    ev = np.asarray(event) == 1
    n = len(v)
    if not (len(y) == len(subj) == len(wk) == len(ev) == n):
        raise ValueError("values, churn_within, subject, week and event need the same length")
    if horizon_weeks < 1:
        raise ValueError(f"horizon_weeks must be >= 1 (got {horizon_weeks})")
    cand = np.asarray(candidates, dtype=float)
    u = _oriented(v, direction)
    cu = _oriented(cand, direction)

    order = np.lexsort((wk, subj))
    u, y, subj, wk, ev = u[order], y[order], subj[order], wk[order], ev[order]
    if n and np.any((subj[1:] == subj[:-1]) & (wk[1:] == wk[:-1])):
        raise ValueError("a subject has two rows for the same week")
    same_prev = np.zeros(n, bool)
    if n:
        same_prev[1:] = (subj[1:] == subj[:-1]) & (wk[1:] == wk[:-1] + 1)
    not_first_week = wk != (wk.min() if n else 0)

    known = np.isfinite(y)
    base = float(y[known].mean()) if known.any() else float("nan")
    # churn week per subject (the event row); rows of churners inside their warning window
    n_subj = int(subj.max()) + 1 if n else 0
    churn_week = np.full(n_subj, np.iinfo(np.int64).min // 2, dtype=np.int64)
    churn_week[subj[ev]] = wk[ev]
    is_churner = np.zeros(n_subj, bool)
    is_churner[subj[ev]] = True
    n_churners = int(is_churner.sum())
    cw = churn_week[subj]
    in_window = is_churner[subj] & (wk <= cw) & (wk >= cw - horizon_weeks + 1)
    weeks_before = cw - wk + 1

    rows = []
    for t in cu:
        lit = np.isfinite(u) & (u < t)
        prev_lit = np.r_[False, lit[:-1]] if n else lit
        lighting = lit & ~(same_prev & prev_lit) & not_first_week
        lk = lighting & known
        precision = float(y[lk].mean()) if lk.any() else float("nan")
        warn = np.zeros(n_subj)
        hit = lighting & in_window
        np.maximum.at(warn, subj[hit], weeks_before[hit])
        warned = warn > 0
        rows.append(
            {
                "share_lit": float(lit.mean()) if n else float("nan"),
                "precision": precision,
                "lift": precision / base if base > 0 else float("nan"),
                "base_rate": base,
                "lightings": int(lighting.sum()),
                "lightings_known": int(lk.sum()),
                "churners_warned": int(warned.sum()),
                "churners_warned_share": warned.sum() / n_churners if n_churners else np.nan,
                "median_warning_weeks": float(np.median(warn[warned]))
                if warned.any()
                else float("nan"),
            }
        )
    curve = pd.DataFrame(rows, columns=CURVE_COLUMNS[1:-1])
    curve.insert(0, "threshold", cand)
    curve["chosen"] = False
    return curve[CURVE_COLUMNS]


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
    largest `objective` ("precision" or "lift": the same order, lift = precision / one base
    rate) wins; ties go to more churners warned, then the smaller share lit, then the earlier
    row. Raises ValueError for an unknown objective or max_share_lit outside (0, 1]."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES} (got {objective!r})")
    if not 0 < max_share_lit <= 1:
        raise ValueError(f"max_share_lit must be in (0, 1] (got {max_share_lit})")
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
    rule = (
        f"highest {objective} of a lighting among thresholds lighting <= {max_share_lit:.0%} "
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
