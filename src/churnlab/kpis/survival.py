"""Kaplan-Meier logo-retention curves per spell, overall and by an attribute.

Subjects are spells (spells.py): time zero is the spell's start, the event is its churn, a spell
not churned is censored at as_of. Time is in months (days / 30.4375). Each spell enters
observation at `entry` = max(spell start, observation_start) - spell start (left truncation
when observation_start is later than the start: the spell is in the data only because it lasted
that long); a spell whose exit is not after its entry is never observed at risk and is left out.

Risk sets are (entry, exit]: at a time t a subject is at risk when entry < t <= exit, so a
subject entering at t counts only for later times and a churner exiting at t counts at t (the
convention of R's survfit(Surv(entry, exit, event)) and statsmodels' SurvfuncRight(entry=...);
lifelines gives the same survival but its event_table `at_risk` also counts entrants at t).
S(t) = prod over event times u <= t of (1 - d_u / n_u); 95% interval by Greenwood's variance on
the log(-log S) scale (lifelines' default).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAYS_PER_MONTH = 30.4375
Z95 = 1.959963984540054
COLUMNS = [
    "by", "group", "months", "survival", "ci_low", "ci_high", "at_risk", "events",
    "n_accounts", "n_spells", "estimator",
]  # fmt: skip


def durations(
    subjects: pd.DataFrame, observation_start: pd.Timestamp | None = None
) -> pd.DataFrame:
    """subjects: spell_subjects() rows. Returns account_id, spell, months (spell start to
    exit), event (1 = churned), entry (months after the spell's start at which it enters
    observation; 0 unless observation_start is later than the start), index kept."""
    start = subjects["start_date"]
    months = (subjects["exit_date"] - start).dt.days / DAYS_PER_MONTH
    if observation_start is None:
        entry = pd.Series(0.0, index=subjects.index)
    else:
        entry = (observation_start - start).dt.days.clip(lower=0) / DAYS_PER_MONTH
    return pd.DataFrame(
        {
            "account_id": subjects["account_id"],
            "spell": subjects["spell"],
            "months": months.astype(float),
            "event": subjects["churned"].astype(int),
            "entry": entry.astype(float),
        },
        index=subjects.index,
    )


def _log_log_ci(surv: np.ndarray, greenwood: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """S^exp(+-z se) with se = sqrt(Greenwood sum) / |log S|; (1, 1) where S = 1, (0, 0) at 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(surv)
        se = np.sqrt(greenwood) / np.abs(log_s)
        low = surv ** np.exp(Z95 * se)
        high = surv ** np.exp(-Z95 * se)
    low = np.where(surv >= 1.0, 1.0, np.where(surv <= 0.0, 0.0, low))
    high = np.where(surv >= 1.0, 1.0, np.where(surv <= 0.0, 0.0, high))
    return low, high


def km_curve(
    months: np.ndarray, event: np.ndarray, entry: np.ndarray | None = None
) -> pd.DataFrame:
    """Step table: a first row (months 0, survival 1, at_risk = subjects observed from time 0),
    then one row per distinct exit time t with at_risk n_t = #{entry < t <= exit}, events d_t
    and the estimate just after t (months, survival, ci_low, ci_high, at_risk, events,
    estimator).

    If the product-limit estimate reaches 0 while subjects are still at risk later (late
    entrants after a churn that emptied the risk set), it cannot recover, so the whole curve
    switches to Breslow-Fleming-Harrington, S = exp(-sum d/n), with a log-scale interval on the
    cumulative hazard (variance sum d/n^2); `estimator` says which was used."""
    months = np.asarray(months, dtype=float)
    event = np.asarray(event, dtype=int)
    entry = np.zeros_like(months) if entry is None else np.asarray(entry, dtype=float)
    keep = months > entry
    months, event, entry = months[keep], event[keep], entry[keep]
    times = np.unique(months)
    exits = np.sort(months)
    entries = np.sort(entry)
    # #{exit >= t} - #{entry >= t}: subjects entering at or after t also exit after t
    at_risk = (len(exits) - np.searchsorted(exits, times, side="left")) - (
        len(entries) - np.searchsorted(entries, times, side="left")
    )
    d = np.bincount(np.searchsorted(times, months[event == 1]), minlength=len(times))
    d = d[: len(times)].astype(int)
    factor = 1.0 - d / at_risk
    surv = np.cumprod(factor)
    estimator = "kaplan_meier"
    zero = np.flatnonzero(surv <= 0.0)
    if len(zero) and (at_risk[zero[0] + 1 :] > 0).any():
        estimator = "breslow_fleming_harrington"
        hazard = np.cumsum(d / at_risk)
        var = np.cumsum(d / at_risk.astype(float) ** 2)
        surv = np.exp(-hazard)
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = np.where(hazard > 0, np.exp(Z95 * np.sqrt(var) / hazard), 1.0)
        low, high = np.exp(-hazard * spread), np.exp(-hazard / spread)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            greenwood = np.cumsum(np.where(at_risk > d, d / (at_risk * (at_risk - d)), 0.0))
        low, high = _log_log_ci(surv, greenwood)
    origin = pd.DataFrame(
        {
            "months": [0.0],
            "survival": [1.0],
            "ci_low": [1.0],
            "ci_high": [1.0],
            "at_risk": [int((entry <= 0).sum())],
            "events": [0],
        }
    )
    steps = pd.DataFrame(
        {
            "months": times,
            "survival": surv,
            "ci_low": low,
            "ci_high": high,
            "at_risk": at_risk.astype(int),
            "events": d,
        }
    )
    out = pd.concat([origin, steps[steps["months"] > 0]], ignore_index=True)
    out["estimator"] = estimator
    return out


def km_curves(dur: pd.DataFrame, groups: dict[str, pd.Series]) -> pd.DataFrame:
    """Curves (COLUMNS) for `overall` plus one per level of each grouping (a Series indexed
    like dur; null levels get no curve). n_accounts / n_spells count the group's subjects
    observed at risk (exit after entry)."""
    parts = []
    observed = dur["months"] > dur["entry"]

    def one(sub: pd.DataFrame, by: str, group: str) -> None:
        curve = km_curve(sub["months"].to_numpy(), sub["event"].to_numpy(), sub["entry"].to_numpy())
        seen = sub[observed.loc[sub.index]]
        curve.insert(0, "group", group)
        curve.insert(0, "by", by)
        curve["n_accounts"] = int(seen["account_id"].nunique())
        curve["n_spells"] = int(len(seen))
        parts.append(curve)

    one(dur, "overall", "all")
    for by, labels in groups.items():
        labels = labels.reindex(dur.index)
        for level in sorted(labels.dropna().astype(str).unique()):
            one(dur[(labels.astype(str) == level) & labels.notna()], by, level)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def median_months(curves: pd.DataFrame) -> dict[str, float | None]:
    """Median retention time per curve ("by=group"), None when the curve never reaches 0.5."""
    out = {}
    for (by, group), c in curves.groupby(["by", "group"], sort=True):
        below = c[c["survival"] <= 0.5]
        out[f"{by}={group}"] = None if below.empty else float(below["months"].iloc[0])
    return out
