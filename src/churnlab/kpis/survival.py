"""Kaplan-Meier logo-retention curves, overall and by an account attribute.

Time zero is the account's first contract start; the event is logo churn; accounts still
customers are censored at as_of. Time is in months (days / 30.4375) for the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter, NelsonAalenFitter
from lifelines.exceptions import StatError

DAYS_PER_MONTH = 30.4375
COLUMNS = [
    "by", "group", "months", "survival", "ci_low", "ci_high", "at_risk", "n_accounts", "estimator",
]  # fmt: skip


def durations(
    lifetimes: pd.DataFrame, as_of: pd.Timestamp, observation_start: pd.Timestamp | None = None
) -> pd.DataFrame:
    """account_id, months (time to churn or censoring), event (1 = churned), entry (months of
    tenure at which the account enters observation: > 0 for accounts older than
    observation_start, which are only seen because they survived that long)."""
    end = lifetimes["churn_date"].fillna(as_of)
    months = (end - lifetimes["first_start"]).dt.days / DAYS_PER_MONTH
    if observation_start is None:
        entry = np.zeros(len(lifetimes))
    else:
        late = (observation_start - lifetimes["first_start"]).dt.days.clip(lower=0)
        entry = (late / DAYS_PER_MONTH).to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "account_id": lifetimes["account_id"].to_numpy(),
            "months": months.to_numpy(dtype=float),
            "event": lifetimes["churned"].astype(int).to_numpy(),
            "entry": entry,
        }
    )


def km_curve(
    months: np.ndarray, event: np.ndarray, entry: np.ndarray | None = None
) -> pd.DataFrame:
    """The KM step function at every distinct time, with lifelines' 95% (log-log) interval;
    `entry` = delayed entry times (left truncation), None = everyone from time 0."""
    kmf = KaplanMeierFitter()
    try:
        kmf.fit(months, event_observed=event, entry=entry)
        estimator = "kaplan_meier"
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_survival_function_
        table = kmf.event_table
    except StatError:
        # Late entrants can leave a gap with nobody at risk, where the product-limit estimate
        # collapses to 0. Use Breslow-Fleming-Harrington, S = exp(-Nelson-Aalen hazard), built
        # from NelsonAalenFitter: lifelines' own BreslowFlemingHarringtonFitter mishandles
        # `entry` (0.30.3: it drops the curve at entry times with no events).
        naf = NelsonAalenFitter(nelson_aalen_smoothing=False)
        naf.fit(months, event_observed=event, entry=entry)
        estimator = "breslow_fleming_harrington"
        sf = np.exp(-naf.cumulative_hazard_.iloc[:, 0])
        hci = naf.confidence_interval_cumulative_hazard_
        ci = pd.DataFrame({"low": np.exp(-hci.iloc[:, 1]), "high": np.exp(-hci.iloc[:, 0])})
        table = naf.event_table
    return pd.DataFrame(
        {
            "months": sf.index.to_numpy(dtype=float),
            "survival": sf.to_numpy(dtype=float),
            "ci_low": ci.iloc[:, 0].to_numpy(dtype=float),
            "ci_high": ci.iloc[:, 1].to_numpy(dtype=float),
            "at_risk": table["at_risk"].reindex(sf.index).to_numpy(dtype=int),
            "estimator": estimator,
        }
    )


def km_curves(dur: pd.DataFrame, groups: dict[str, pd.Series]) -> pd.DataFrame:
    """Curves for `overall` plus one per level of each grouping (a Series indexed like dur)."""
    parts = []
    curve = km_curve(dur["months"].to_numpy(), dur["event"].to_numpy(), dur["entry"].to_numpy())
    curve.insert(0, "group", "all")
    curve.insert(0, "by", "overall")
    curve["n_accounts"] = len(dur)
    parts.append(curve)
    for by, labels in groups.items():
        for level in sorted(labels.dropna().unique()):
            mask = (labels == level).to_numpy()
            if not mask.any():
                continue
            sub = dur[mask]
            curve = km_curve(
                sub["months"].to_numpy(), sub["event"].to_numpy(), sub["entry"].to_numpy()
            )
            curve.insert(0, "group", str(level))
            curve.insert(0, "by", by)
            curve["n_accounts"] = int(mask.sum())
            parts.append(curve)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def median_months(curves: pd.DataFrame) -> dict[str, float | None]:
    """Median retention time per curve ("by=group"), None when the curve never reaches 0.5."""
    out = {}
    for (by, group), c in curves.groupby(["by", "group"], sort=True):
        below = c[c["survival"] <= 0.5]
        out[f"{by}={group}"] = None if below.empty else float(below["months"].iloc[0])
    return out
