"""Lamps judged as alerts inside the hypotheses stage (issue 14): the calendar week axis, the
CSM in charge per account-week, and `health.alerts.alert_summary` under the record's names.

A hypothesis record's `alerts` answers what a CS team lives with when the lamp is used as the
CSM sees it: the lamp read at week start (lag 0, the panel row's own value), on the accounts
the verdict was measured on (the test half for a suggested threshold), with churn counted
within `hypotheses.horizon_weeks` after a lighting. Definitions: `churnlab.health.alerts`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.health.alerts import alert_summary

# alert_summary key -> the record's name for it (the other keys are kept as they are)
RENAMED = {
    "lightings_per_csm_week_median": "lightings_per_csm_week",
    "weeks_lit_median": "median_weeks_lit",
    "weeks_lit_p75": "p75_weeks_lit",
}
# keys every `alerts` dict has (the report contract)
ALERT_KEYS = (
    "share_lit_median", "share_lit_latest", "lightings_per_100_account_weeks",
    "lightings_per_csm_week", "precision", "base_rate", "lift", "churners_warned_share",
    "median_warning_weeks", "median_weeks_lit", "p75_weeks_lit",
)  # fmt: skip


def calendar_weeks(panel: pd.DataFrame) -> np.ndarray:
    """Per row, whole calendar weeks since the panel's earliest week:
    (week_start - min week_start).days // 7. A panel without `week_start` (hand-made test
    panels) falls back to `start`, the weeks since the spell's first week."""
    if "week_start" not in panel.columns:
        return panel["start"].to_numpy(dtype=float).astype(np.int64)
    ws = pd.to_datetime(panel["week_start"])
    if getattr(ws.dt, "tz", None) is not None:
        ws = ws.dt.tz_localize(None)
    if ws.empty:
        return np.zeros(0, dtype=np.int64)
    return ((ws - ws.min()).dt.days // 7).to_numpy().astype(np.int64)


def csm_per_row(panel: pd.DataFrame, assignments: pd.DataFrame | None) -> pd.Series:
    """The CSM in charge of each panel row's account at its week start (index = the panel's):
    among the account's assignments with start_date <= week_start < end_date (end_date
    missing = still running), the latest-starting one (ties: the larger csm_id), as
    `health.actions.current_csm` reads it on the as-of date. <NA> when none runs (the
    account is then "unassigned" in `alert_summary`), or without assignments / week_start."""
    out = pd.Series(pd.NA, index=panel.index, dtype="string")
    need = {"account_id", "csm_id", "start_date"}
    if assignments is None or assignments.empty or "week_start" not in panel.columns:
        return out
    if not need <= set(assignments.columns):
        return out

    def naive(s: pd.Series) -> pd.Series:
        s = pd.to_datetime(s)
        return s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s

    a = pd.DataFrame(
        {
            "account_id": assignments["account_id"].astype(str).to_numpy(),
            "csm_id": assignments["csm_id"].astype("string").to_numpy(),
            "a_start": naive(assignments["start_date"]).to_numpy(),
            "a_end": naive(assignments["end_date"]).to_numpy()
            if "end_date" in assignments.columns
            else pd.NaT,
        }
    ).dropna(subset=["csm_id", "a_start"])
    rows = pd.DataFrame(
        {
            "row": np.arange(len(panel)),
            "account_id": panel["account_id"].astype(str).to_numpy(),
            "ws": naive(panel["week_start"]).to_numpy(),
        }
    )
    m = rows.merge(a, on="account_id", how="inner")
    m = m[(m["a_start"] <= m["ws"]) & (m["a_end"].isna() | (m["a_end"] > m["ws"]))]
    last = m.sort_values(["row", "a_start", "csm_id"], kind="stable").groupby("row").tail(1)
    out.iloc[last["row"].to_numpy()] = last["csm_id"].to_numpy()
    return out


def alert_frame(panel: pd.DataFrame, subject: np.ndarray | None = None) -> pd.DataFrame:
    """The columns `alert_summary` reads: account_id, week_start (the panel's; without one
    the `calendar_weeks` fallback), event, and spell / csm_id when the panel has them.
    `subject`: precomputed subject codes per row (`design.subject_codes`); given, they stand
    in for account_id and spell (the same subjects, without re-hashing text ids)."""
    frame = pd.DataFrame(
        {
            "account_id": panel["account_id"].to_numpy() if subject is None else subject,
            "week_start": panel["week_start"].to_numpy()
            if "week_start" in panel.columns
            else calendar_weeks(panel),
            "event": panel["event"].to_numpy(),
        }
    )
    cols = ("csm_id",) if subject is not None else ("spell", "csm_id")
    for col in cols:
        if col in panel.columns:
            frame[col] = panel[col].to_numpy()
    return frame


def lamp_alerts(frame: pd.DataFrame, lit, horizon_weeks: int) -> dict:
    """`health.alerts.alert_summary(frame, lit, horizon_weeks)` with the keys of RENAMED
    renamed (lightings_per_csm_week = the median over CSM-weeks; median_weeks_lit /
    p75_weeks_lit = run lengths); every other key is kept."""
    raw = alert_summary(frame, lit, horizon_weeks)
    return {RENAMED.get(k, k): v for k, v in raw.items()}
