"""Which hypotheses feed the score and the action lists, and their lamps on the panel.

A lamp is on when its indicator is strictly below (`direction: low`) or strictly above
(`direction: high`) the hypothesis threshold, the same rule the hypotheses stage tests.
A missing indicator value leaves the lamp off: we only act on what we have seen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

LEADS = "leads churn"
LAMP_COLUMNS = [
    "id",
    "indicator",
    "direction",
    "threshold",
    "lag_weeks",
    "kind",
    "action",
    "verdict",
    "hazard_ratio",
    "q_value",
    "alert_on_weeks",
    "alert_off_weeks",
]


def lamp_table(
    tested: list[dict[str, Any]], configured: list[dict[str, Any]] | None
) -> pd.DataFrame:
    """One row per hypothesis: tested results from models/hypotheses.json, with `action` and
    `kind` taken from hypotheses.yaml when present (the CS lead's file is the authority for
    wording). Threshold: the tested one, else a numeric threshold from the YAML, else NaN.
    alert_on_weeks / alert_off_weeks: the on- and off-delay the hypotheses stage chose for the
    lamp as an alert (`hypotheses.alert_policy`; 1 and 1 without one)."""
    conf = {str(h.get("id")): h for h in (configured or [])}
    rows = []
    for h in tested:
        hid = str(h.get("id"))
        c = conf.get(hid, {})
        threshold = h.get("threshold")
        if threshold is None and isinstance(c.get("threshold"), int | float):
            threshold = c["threshold"]
        lag = h.get("best_lag_weeks")
        policy = h.get("alert_policy") or {}
        rows.append(
            {
                "id": hid,
                "indicator": h.get("indicator") or c.get("indicator"),
                "direction": h.get("direction") or c.get("direction"),
                "threshold": np.nan if threshold is None else float(threshold),
                "lag_weeks": 0 if lag is None else int(lag),
                "kind": c.get("kind") or h.get("kind") or "risk",
                "action": c.get("action") or h.get("action") or "",
                "verdict": h.get("verdict") or "",
                "hazard_ratio": h.get("hazard_ratio"),
                "q_value": h.get("q_value"),
                # how the lamp lights as an alert (hypotheses' alert_policy; 1, 1 = as read)
                "alert_on_weeks": int(policy.get("on_weeks") or 1),
                "alert_off_weeks": int(policy.get("off_weeks") or 1),
            }
        )
    return pd.DataFrame(rows, columns=LAMP_COLUMNS).sort_values("id").reset_index(drop=True)


def score_lamps(lamps: pd.DataFrame, panel_columns: list[str]) -> tuple[pd.DataFrame, list]:
    """Hypotheses that may enter the score: verdict `leads churn`, a threshold and the
    indicator in the panel. One lamp per (indicator, lag, direction, threshold); returns the
    kept rows and a list of {id, reason} for the ones left out."""
    skipped = []
    keep = []
    seen = set()
    for row in lamps.itertuples(index=False):
        if row.verdict != LEADS:
            continue
        attribute = str(row.indicator or "").removeprefix("attribute:")
        if str(row.indicator or "").startswith("attribute:"):
            skipped.append({"id": row.id, "reason": attribute_reason(attribute)})
        elif row.indicator not in panel_columns:
            skipped.append({"id": row.id, "reason": f"indicator {row.indicator} not in panel"})
        elif not np.isfinite(row.threshold):
            skipped.append({"id": row.id, "reason": "no threshold"})
        elif (key := (row.indicator, row.lag_weeks, row.direction, row.threshold)) in seen:
            skipped.append({"id": row.id, "reason": "same lamp as another hypothesis"})
        else:
            seen.add(key)
            keep.append(row.id)
    return lamps[lamps["id"].isin(keep)].reset_index(drop=True), skipped


BASELINE_ATTRIBUTES = ("billing_period", "plan")


def attribute_reason(attribute: str) -> str:
    """Why an attribute hypothesis is no lamp of the score."""
    if attribute in BASELINE_ATTRIBUTES:
        return (
            f"attribute hypothesis: {attribute} is already a term of the score's baseline "
            "(tenure band, billing period, plan), so its effect is in the score"
        )
    return (
        f"attribute hypothesis: {attribute} describes the account, not a change in its "
        "behaviour, so it is no lamp of the score (it is kept on the hypotheses page)"
    )


def subject_keys(panel: pd.DataFrame) -> list[str]:
    """The columns naming one run of consecutive weeks: account and spell (one spell per
    account on a panel without a `spell` column). Weeks between spells are absent."""
    return ["account_id", "spell"] if "spell" in panel.columns else ["account_id"]


def lag_within_account(panel: pd.DataFrame, column: str, lag: int) -> pd.Series:
    """The column's value `lag` weeks earlier in the same spell of the same account (NaN
    before the spell's first week).

    Panel rows are consecutive weeks per account and spell, sorted by account_id,
    week_start, so a row shift inside each spell is a shift in calendar weeks (a shift across
    the gap before a reactivation would not be)."""
    if lag == 0:
        return panel[column].astype(float)
    return panel.groupby(subject_keys(panel), sort=False)[column].shift(lag).astype(float)


def lamp_on(values: pd.Series, direction: str, threshold: float) -> pd.Series:
    """1 when on, 0 when off or unknown."""
    on = values < threshold if direction == "low" else values > threshold
    return (on & values.notna()).astype(int)


def weeks_on(panel: pd.DataFrame, on: pd.Series) -> pd.Series:
    """For each row, how many consecutive weeks (ending at this row, within its spell) the
    lamp has been on."""
    keys = [panel[k] for k in subject_keys(panel)]
    breaks = (on == 0).groupby(keys, sort=False).cumsum()
    return on.groupby([*keys, breaks], sort=False).cumsum().astype(int)
