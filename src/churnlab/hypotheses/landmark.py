"""Landmark Kaplan-Meier by lamp state: spells still active at tenure week s (weeks since the
spell's start), grouped by their lamp at week s, followed from s on. Groups are fixed at the
landmark, so no spell gets credit for survival time before its lamp lit (no immortal-time
bias). Each spell is its own subject: an account that churned and came back appears once per
spell active at the landmark."""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines.statistics import logrank_test

from churnlab.hypotheses.design import subject_codes


def landmark_groups(
    panel: pd.DataFrame,
    lamp_now: np.ndarray,
    landmark: int,
    max_follow: int,
    subjects: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per spell active at `landmark`: account_id (and spell, when the panel has
    it), lamp_on, follow-up weeks, churned. Follow-up is cut at `max_follow` weeks (censored
    there). Rows sorted by account_id, spell, start. `subjects`: the rows' subject codes
    (`design.subject_codes(panel)`) when the caller has them."""
    acc = panel["account_id"].to_numpy()
    subj = subject_codes(panel) if subjects is None else np.asarray(subjects)
    last = np.r_[subj[1:] != subj[:-1], True]
    grp = np.cumsum(np.r_[True, subj[1:] != subj[:-1]]) - 1
    end_stop = panel["stop"].to_numpy()[last][grp]
    churned = panel["event"].to_numpy()[last][grp] == 1
    at = (panel["start"].to_numpy() == landmark) & np.isfinite(lamp_now)
    follow = end_stop[at] - landmark
    died = churned[at] & (follow <= max_follow)
    out = pd.DataFrame({"account_id": acc[at]})
    if "spell" in panel.columns:
        out["spell"] = panel["spell"].to_numpy()[at]
    out["lamp_on"] = lamp_now[at] == 1
    out["weeks"] = np.minimum(follow, max_follow).astype(float)
    out["churned"] = died
    return out


def km_curve(weeks: np.ndarray, churned: np.ndarray) -> pd.DataFrame:
    """Kaplan-Meier survival at each whole week 0..max (weekly data: step at each week)."""
    horizon = int(weeks.max()) if len(weeks) else 0
    t = np.arange(0, horizon + 1)
    w = weeks.astype(int)
    deaths = np.bincount(w[churned], minlength=horizon + 1)
    leaving = np.bincount(w, minlength=horizon + 1)  # deaths + censored at each week
    at_risk = len(w) - np.r_[0, np.cumsum(leaving)[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(at_risk > 0, 1 - deaths / at_risk, 1.0)
        # Greenwood variance of log S; 95% CI on the log scale (R survfit's default)
        green = np.cumsum(np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)), 0.0))
    surv = np.cumprod(factor)
    half = 1.959963984540054 * np.sqrt(green)
    return pd.DataFrame(
        {
            "weeks_since_landmark": t,
            "at_risk": at_risk,
            "churned": deaths,
            "survival": surv,
            "ci_low": surv * np.exp(-half),
            "ci_high": np.minimum(1.0, surv * np.exp(half)),
        }
    )


def landmark_km(
    panel: pd.DataFrame,
    lamp_now: np.ndarray,
    landmarks: list[int],
    max_follow: int,
    min_group: int = 5,
    subjects: np.ndarray | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """KM curves per landmark x lamp state, and a log-rank test per landmark (`subjects`:
    as `landmark_groups`)."""
    curves, tests = [], []
    for s in landmarks:
        g = landmark_groups(panel, lamp_now, s, max_follow, subjects)
        on, off = g[g["lamp_on"]], g[~g["lamp_on"]]
        summary = {
            "landmark_week": s, "n_on": len(on), "n_off": len(off),
            "churned_on": int(on["churned"].sum()), "churned_off": int(off["churned"].sum()),
            "logrank_p": None, "problem": None,
        }  # fmt: skip
        if min(len(on), len(off)) < min_group or g["churned"].sum() == 0:
            summary["problem"] = f"too few accounts or no churn (on {len(on)}, off {len(off)})"
        else:
            res = logrank_test(on["weeks"], off["weeks"], on["churned"], off["churned"])
            summary["logrank_p"] = float(res.p_value)
        tests.append(summary)
        for state, part in (("on", on), ("off", off)):
            if len(part):
                c = km_curve(part["weeks"].to_numpy(), part["churned"].to_numpy())
                c.insert(0, "lamp", state)
                c.insert(0, "landmark_week", s)
                curves.append(c)
    table = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    return table, tests
