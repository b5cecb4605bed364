"""From churn probability to the 0-100 health score, bands and the maturity stage.

score = 100 x (1 - P(churn within the horizon)), so 100 is healthiest and the score reads as
"chance of still being a customer in H weeks". Bands cut at the configured probabilities:
red when P >= band_probabilities.red, amber when P >= band_probabilities.amber, else green;
the matching score cut-offs are 100 x (1 - p).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MATURITY_LEVELS = ["onboarding", "adoption", "expansion"]
BANDS = ["green", "amber", "red"]


def health_score(prob: np.ndarray) -> np.ndarray:
    return np.round(100.0 * (1.0 - prob), 1)


def band(prob: np.ndarray, red: float, amber: float) -> pd.Series:
    out = np.where(prob >= red, "red", np.where(prob >= amber, "amber", "green"))
    return pd.Series(out)


def band_cutoffs(red: float, amber: float) -> dict:
    return {
        "red": {"churn_probability_at_least": red, "score_at_most": 100 * (1 - red)},
        "amber": {
            "churn_probability_at_least": amber,
            "score_at_most": 100 * (1 - amber),
        },
        "green": {"churn_probability_below": amber, "score_above": 100 * (1 - amber)},
    }


def maturity(panel: pd.DataFrame, onboarding_weeks: int, expansion_weeks: int) -> pd.Series:
    """Customer-stage maturity per panel row, from milestones known at week start:
    expansion = goal achieved; adoption = onboarding complete (goal not yet achieved);
    onboarding = neither. Where a milestone indicator is absent or unknown, tenure stands in:
    >= onboarding_weeks counts as onboarded, >= expansion_weeks as goal reached."""
    tenure = panel["tenure_weeks"].astype(float)
    if "onboarding_complete" in panel.columns:
        onb = panel["onboarding_complete"].astype(float)
        onboarded = (onb >= 0.5) | (onb.isna() & (tenure >= onboarding_weeks))
    else:
        onboarded = tenure >= onboarding_weeks
    if "goal_achieved" in panel.columns:
        goal = panel["goal_achieved"].astype(float)
        achieved = (goal >= 0.5) | (goal.isna() & (tenure >= expansion_weeks))
    else:
        achieved = tenure >= expansion_weeks
    out = np.where(achieved, "expansion", np.where(onboarded, "adoption", "onboarding"))
    return pd.Series(out, index=panel.index)
