"""Out-of-time validation: split weeks, horizon labels, concordance / AUC with account
bootstrap intervals, top-decile lift, calibration and band tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.progress import progress

WEEK = pd.Timedelta(weeks=1)


def split_week(week_start: pd.Series, train_fraction: float) -> pd.Timestamp:
    """First validation week: the calendar week after the first `train_fraction` of weeks."""
    weeks = np.sort(week_start.unique())
    if len(weeks) < 2:
        return pd.Timestamp(weeks[-1]) + WEEK
    n_train = min(max(int(np.floor(train_fraction * len(weeks))), 1), len(weeks) - 1)
    return pd.Timestamp(weeks[n_train])


def horizon_labels(panel: pd.DataFrame, horizon_weeks: int) -> pd.DataFrame:
    """label = the account's spell ends in churn in this week or the next horizon-1 weeks;
    complete = that whole window lies inside the panel (or the churn is seen), so the label is
    known. Each spell of an account has its own churn week (a reactivated account's first
    churn is not a label of its later spell)."""
    keys = ["account_id", "spell"] if "spell" in panel.columns else ["account_id"]
    churns = panel.loc[panel["event"] == 1, [*keys, "week_start"]]
    churn_week = churns.groupby(keys)["week_start"].min().rename("_churn_week")
    cw = panel[keys].join(churn_week, on=keys)["_churn_week"]
    last_week = panel["week_start"].max()
    window_end = panel["week_start"] + (horizon_weeks - 1) * WEEK
    label = cw.notna() & (cw >= panel["week_start"]) & (cw <= window_end)
    complete = window_end <= last_week
    return pd.DataFrame({"label": label.astype(int), "complete": complete}, index=panel.index)


class PairCounter:
    """Concordance of a risk score with a 0/1 outcome, counted over (positive, negative) pairs
    inside each stratum, with row weights so that an account bootstrap is a reweighting.

    With one stratum this is the AUC (ties count 1/2). With stratum = week and outcome = churn
    that week it is the time-varying concordance: each churner against everyone still at
    risk that week."""

    def __init__(self, risk: np.ndarray, label: np.ndarray, strata: np.ndarray | None = None):
        strata = np.zeros(len(risk), dtype=np.int64) if strata is None else strata
        frame = pd.DataFrame({"s": pd.factorize(strata, sort=True)[0], "r": risk})
        keys = frame.groupby(["s", "r"], sort=True).ngroup().to_numpy()
        self.group = keys
        n_groups = int(keys.max()) + 1 if len(keys) else 0
        group_stratum = np.zeros(n_groups, dtype=np.int64)
        group_stratum[keys] = frame["s"].to_numpy()
        self.group_stratum = group_stratum
        # index of the first group of each group's stratum (groups are sorted by stratum)
        first = np.full(group_stratum.max() + 1 if n_groups else 0, n_groups, dtype=np.int64)
        np.minimum.at(first, group_stratum, np.arange(n_groups))
        self.first_of_stratum = first[group_stratum]
        self.n_groups = n_groups
        self.label = label.astype(float)

    def value(self, weight: np.ndarray | None = None) -> float:
        w = np.ones(len(self.label)) if weight is None else weight
        pos = np.bincount(self.group, w * self.label, self.n_groups)
        neg = np.bincount(self.group, w * (1 - self.label), self.n_groups)
        cum = np.cumsum(neg)
        before = np.concatenate([[0.0], cum])  # before[g] = negatives in groups < g
        below = before[np.arange(self.n_groups)] - before[self.first_of_stratum]
        concordant = float(np.sum(pos * (below + 0.5 * neg)))
        n_strata = int(self.group_stratum.max()) + 1 if self.n_groups else 0
        p_s = np.bincount(self.group_stratum, pos, n_strata)
        n_s = np.bincount(self.group_stratum, neg, n_strata)
        pairs = float(np.sum(p_s * n_s))
        return concordant / pairs if pairs > 0 else float("nan")


def bootstrap_metrics(
    accounts: np.ndarray,
    counters: dict[str, PairCounter],
    reps: int,
    seed: int,
) -> dict[str, dict[str, float]]:
    """Point estimate and 95% percentile interval for each counter, resampling accounts with
    replacement (the same resample for every counter, so paired differences are valid).
    `accounts` are the account ids of the counters' rows (all counters share rows)."""
    codes, uniques = pd.factorize(accounts, sort=True)
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in counters}
    for _ in progress(range(reps), desc="health bootstrap", unit="rep", leave=False):
        picked = rng.integers(0, len(uniques), len(uniques))
        w = np.bincount(picked, minlength=len(uniques))[codes].astype(float)
        for name, counter in counters.items():
            draws[name].append(counter.value(w))
    out = {}
    for name, counter in counters.items():
        d = np.asarray(draws[name])
        d = d[np.isfinite(d)]
        lo, hi = np.percentile(d, [2.5, 97.5]) if len(d) else (np.nan, np.nan)
        out[name] = {"estimate": counter.value(), "ci_low": float(lo), "ci_high": float(hi)}
        out[name]["draws"] = d  # kept for paired differences, dropped before writing
    return out


def paired_difference(a: dict, b: dict) -> dict[str, float]:
    d = a["draws"] - b["draws"] if len(a["draws"]) == len(b["draws"]) else np.array([])
    lo, hi = np.percentile(d, [2.5, 97.5]) if len(d) else (np.nan, np.nan)
    return {"estimate": a["estimate"] - b["estimate"], "ci_low": float(lo), "ci_high": float(hi)}


def top_decile_lift(prob: np.ndarray, label: np.ndarray) -> float:
    """Churn rate among the 10% highest-risk rows / overall churn rate (stable order)."""
    n_top = max(int(np.ceil(0.1 * len(prob))), 1)
    order = np.argsort(-prob, kind="stable")
    overall = label.mean()
    return float(label[order[:n_top]].mean() / overall) if overall > 0 else float("nan")


def calibration_table(prob: np.ndarray, label: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Predicted vs observed horizon churn by decile of predicted probability."""
    order = np.argsort(prob, kind="stable")
    decile = np.empty(len(prob), dtype=int)
    decile[order] = np.arange(len(prob)) * bins // max(len(prob), 1)
    df = pd.DataFrame({"decile": decile + 1, "p": prob, "y": label})
    out = df.groupby("decile").agg(
        n=("y", "size"),
        mean_predicted=("p", "mean"),
        observed=("y", "mean"),
        min_predicted=("p", "min"),
        max_predicted=("p", "max"),
    )
    return out.reset_index()


def band_table(band: pd.Series, label: np.ndarray, prob: np.ndarray, accounts) -> pd.DataFrame:
    """Observed horizon churn per band (the band's stated churn probability)."""
    df = pd.DataFrame({"band": band.to_numpy(), "y": label, "p": prob, "a": accounts})
    out = df.groupby("band").agg(
        rows=("y", "size"),
        accounts=("a", "nunique"),
        observed=("y", "mean"),
        mean_predicted=("p", "mean"),
    )
    return out.reindex(["green", "amber", "red"]).reset_index()
