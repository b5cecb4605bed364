"""Lamp performance over a horizon, and the threshold scan behind `threshold: suggest`.

Definitions (stated in the report):
- unit: account-weeks whose outcome is known (churned within the horizon, or followed for
  the whole horizon); the lamp is read at week start (lag 0, as the CSM would see it);
- precision = churn-within-horizon rate among lamp-on weeks; lift = precision / overall rate;
- recall = share of churns (churned spells; an account that churned twice counts twice)
  whose lamp was on in at least one of the `horizon` weeks before churn in that spell
  ("caught"); median warning = among caught churns, weeks from the first lamp-on week inside
  that window to the churn week's end.
Everything is computed from per-account sums (all spells of an account together), so a
bootstrap over accounts is a weighted sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.hypotheses.design import churn_within
from churnlab.hypotheses.subject_frame import subject_frame

SCAN_QUANTILES = np.linspace(0.05, 0.95, 19)


@dataclass
class ScanData:
    """Per-account and per-churner sums for every candidate threshold (columns)."""

    candidates: np.ndarray
    on_rows: np.ndarray  # accounts x candidates: lamp-on weeks with known outcome
    on_churn: np.ndarray  # accounts x candidates: ... that churned within the horizon
    rows: np.ndarray  # accounts: weeks with known outcome
    churn_rows: np.ndarray  # accounts: ... that churned within the horizon
    churner_account: np.ndarray  # churns (churned spells): account index
    caught: np.ndarray  # churns x candidates: lamp on within the window before churn
    warning: np.ndarray  # churns x candidates: weeks of warning (0 if not caught)


def candidate_thresholds(values: np.ndarray) -> np.ndarray:
    """Midpoints between consecutive distinct values of the 5%..95% quantiles (all distinct
    values when there are few, e.g. 0/1 flags), so a strict < or > splits them cleanly."""
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return np.zeros(0)
    distinct = np.unique(v)
    grid = (
        distinct
        if len(distinct) <= len(SCAN_QUANTILES) + 1
        else np.unique(np.quantile(v, SCAN_QUANTILES))
    )
    return (grid[:-1] + grid[1:]) / 2


def _oriented(values: np.ndarray, direction: str) -> np.ndarray:
    # lamp on <=> oriented value < oriented threshold, for both directions
    return values if direction == "low" else -values


def build_scan(
    panel: pd.DataFrame,
    values: np.ndarray,
    direction: str,
    candidates: np.ndarray,
    horizon: int,
    subjects: np.ndarray | None = None,
) -> ScanData:
    """The per-account and per-churn sums of `performance` at every candidate threshold.
    `subjects`: the rows' subject codes (`design.subject_codes(panel)`), when the caller has
    them (same result, without re-pairing account and spell)."""
    acc = pd.factorize(panel["account_id"])[0]
    n_acc = int(acc.max()) + 1 if len(acc) else 0
    start = panel["start"].to_numpy()
    stop = panel["stop"].to_numpy()
    event = panel["event"].to_numpy() == 1
    light = subject_frame(panel, subjects)
    y = churn_within(light, horizon)
    u = _oriented(np.asarray(values, dtype=float), direction)
    cu = _oriented(np.asarray(candidates, dtype=float), direction)
    known = np.isfinite(y) & np.isfinite(u)
    on = (u[:, None] < cu[None, :]) & known[:, None]
    yk = np.where(known, y, 0.0)
    on_rows = np.column_stack([np.bincount(acc, on[:, j], n_acc) for j in range(len(cu))])
    on_churn = np.column_stack([np.bincount(acc, on[:, j] * yk, n_acc) for j in range(len(cu))])
    rows = np.bincount(acc, known, n_acc)
    churn_rows = np.bincount(acc, yk, n_acc)

    # Churns' windows: the `horizon` weeks of the same spell ending with the churn week.
    subj = light["account_id"].to_numpy()
    n_subj = int(subj.max()) + 1 if len(subj) else 0
    ev_rows = np.flatnonzero(event)
    churner_account = acc[ev_rows]
    churn_stop = np.zeros(n_subj)
    churn_stop[subj[ev_rows]] = stop[ev_rows]
    is_churner = np.zeros(n_subj, bool)
    is_churner[subj[ev_rows]] = True
    weeks_before = churn_stop[subj] - start  # 1 for the churn week itself
    in_window = is_churner[subj] & (weeks_before >= 1) & (weeks_before <= horizon) & np.isfinite(u)
    slot = np.full(n_subj, -1)
    slot[subj[ev_rows]] = np.arange(len(ev_rows))
    wi = np.flatnonzero(in_window)
    caught = np.zeros((len(ev_rows), len(cu)), bool)
    warning = np.zeros((len(ev_rows), len(cu)))
    for j in range(len(cu)):
        lit = wi[u[wi] < cu[j]]
        np.logical_or.at(caught[:, j], slot[subj[lit]], True)
        np.maximum.at(warning[:, j], slot[subj[lit]], weeks_before[lit])
    return ScanData(
        np.asarray(candidates, float), on_rows, on_churn, rows, churn_rows, churner_account,
        caught, warning,
    )  # fmt: skip


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of `values` each repeated `weights` times (whole-number weights)."""
    keep = weights > 0
    if not keep.any():
        return float("nan")
    order = np.argsort(values[keep], kind="stable")
    v, cw = values[keep][order], np.cumsum(weights[keep][order])
    total = cw[-1]
    # 1-based positions of the middle one or two values
    k1, k2 = np.ceil(total / 2), np.floor(total / 2) + 1
    return float((v[np.searchsorted(cw, k1)] + v[np.searchsorted(cw, k2)]) / 2)


def performance(scan: ScanData, account_weights: np.ndarray | None = None) -> pd.DataFrame:
    """Lamp performance at every candidate threshold (one row each)."""
    w = np.ones(len(scan.rows)) if account_weights is None else account_weights
    on_rows = w @ scan.on_rows
    on_churn = w @ scan.on_churn
    all_rows, all_churn = float(w @ scan.rows), float(w @ scan.churn_rows)
    off_rows, off_churn = all_rows - on_rows, all_churn - on_churn
    cw = w[scan.churner_account]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = on_churn / on_rows
        base = all_churn / all_rows if all_rows else np.nan
        rate_off = off_churn / off_rows
        recall = (cw @ scan.caught) / cw.sum() if cw.sum() else np.full(len(on_rows), np.nan)
        lift = precision / base
        rate_ratio = precision / rate_off
        # Pearson chi-square of the 2x2 table lamp on/off x churned within the horizon: how
        # cleanly the threshold splits the weeks (a maximally selected statistic).
        n, churn_share = all_rows, all_churn / all_rows if all_rows else np.nan
        on_share = on_rows / n if n else np.nan
        chi2 = (
            n
            * (on_churn / n - on_share * churn_share) ** 2
            / (on_share * (1 - on_share) * churn_share * (1 - churn_share))
        )
    warn = [
        weighted_median(scan.warning[:, j], cw * scan.caught[:, j]) for j in range(len(on_rows))
    ]
    return pd.DataFrame(
        {
            "threshold": scan.candidates,
            "lamp_on_share": on_rows / all_rows if all_rows else np.nan,
            "precision": precision,
            "rate_off": rate_off,
            "base_rate": base,
            "lift": lift,
            "rate_ratio": rate_ratio,
            "recall": recall,
            "median_warning_weeks": warn,
            "chi_square": chi2,
        }
    )


def pick_threshold(
    perf: pd.DataFrame, min_recall: float, min_lead: float, kind: str = "risk"
) -> tuple[int | None, str]:
    """Index of the chosen row and the rule that chose it.

    risk: among thresholds whose lamp-on weeks churn more than the rest (lift > 1), with
    recall >= min_recall and median warning >= min_lead, the one that splits churn-within-
    horizon weeks from the rest most sharply (largest chi-square: the maximally selected
    statistic of Lausen & Schumacher's cut-point search). Unlike "best lift" it does not run
    off into the tail, where a handful of extreme weeks always look riskiest: with a step in
    risk at some value it lands on the step. If none qualifies, drop the warning condition;
    if still none, test the median split (a threshold the outcomes did not choose).
    opportunity (the lamp should mark accounts that churn less): lowest lift among thresholds
    that light the lamp on at least min_recall of the weeks.
    The rule actually used is returned for the report."""
    usable = perf["lift"].notna() & (perf["lamp_on_share"] > 0)
    if kind == "opportunity":
        pool = perf[usable & (perf["lamp_on_share"] >= min_recall)]
        rule = f"lowest lift with the lamp on in >= {min_recall:g} of weeks"
        if pool.empty:
            pool, rule = perf[usable], "lowest lift (no threshold lit the lamp often enough)"
        if pool.empty:
            return None, "no threshold turns the lamp on"
        best = pool.sort_values(["lift", "lamp_on_share"], ascending=[True, False], kind="stable")
        return int(best.index[0]), rule
    sharpest = "sharpest split (largest chi-square) of churn-within-horizon weeks, lift > 1"
    riskier = usable & (perf["lift"] > 1) & perf["chi_square"].notna()
    rules = [
        (
            (perf["recall"] >= min_recall) & (perf["median_warning_weeks"] >= min_lead),
            f"{sharpest}, recall >= {min_recall:g} and median warning >= {min_lead:g} weeks",
        ),
        (perf["recall"] >= min_recall, f"{sharpest} and recall >= {min_recall:g} (no threshold gave {min_lead:g} weeks of warning)"),
    ]  # fmt: skip
    # No fallback without the recall condition: it ends in the far tail, on a lamp lit in a
    # few weeks of one churner (seen: tickets > 6.5, lit in 0.0007% of weeks).
    for mask, rule in rules:
        pool = perf[mask & riskier]
        if len(pool):
            # ties: prefer higher recall, then the lower row number (stable)
            order = ["chi_square", "recall"]
            best = pool.sort_values(order, ascending=False, kind="stable").index[0]
            return int(best), rule
    if usable.any():
        # Nothing to suggest, but the hypothesis should still be tested (most likely to "no
        # evidence"): take the median split (lamp on closest to half the weeks), a threshold
        # the outcomes did not choose.
        middle = (perf.loc[usable, "lamp_on_share"] - 0.5).abs().idxmin()
        return int(middle), (
            f"no threshold made lamp-on weeks churn more with recall >= {min_recall:g}: "
            "the median split is tested"
        )
    return None, "no threshold turns the lamp on"


def bootstrap_threshold(
    scan: ScanData, min_recall: float, min_lead: float, reps: int, seed: int, kind: str = "risk"
) -> tuple[float | None, float | None]:
    """95% percentile interval of the suggested threshold, resampling accounts."""
    if reps <= 0 or len(scan.rows) == 0:
        return None, None
    rng = np.random.default_rng(seed)
    picks = []
    n = len(scan.rows)
    for _ in range(reps):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        idx, _ = pick_threshold(performance(scan, w), min_recall, min_lead, kind)
        if idx is not None:
            picks.append(scan.candidates[idx])
    if not picks:
        return None, None
    lo, hi = np.quantile(picks, [0.025, 0.975])
    return float(lo), float(hi)
