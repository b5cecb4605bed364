"""Contract history: consecutive terms per account, closed by renewal, seat change or churn.

Annual accounts get one row per 12-month term; monthly accounts one open-ended row that is
closed (and a new one opened on the same day) only when seats change. The churned account's
last row ends on the churn date and carries `cancelled_at` (the notice) and `cancel_reason`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.simulate.timegrid import Grid
from churnlab.simulate.world import ANNUAL_DISCOUNT, PRICE_PER_SEAT

# Why the customer says it left, keyed by the churn driver that was on (else generic).
DRIVER_REASONS = {
    "key_person_activity_change": "champion_left",
    "nps_unanswered": "low_engagement",
    "csm_changed_recently": "relationship",
    "license_activation_rate": "low_adoption",
    "days_to_onboarding": "onboarding_failed",
}
GENERIC_REASONS = ("budget_cut", "switched_competitor", "price", "business_closed")


def cancel_reasons(rng, drivers_on: np.ndarray, names: list[str]) -> np.ndarray:
    """A stated reason per churned account: an active driver's reason 60% of the time."""
    n = len(drivers_on)
    pick = np.argmax(drivers_on * rng.random(drivers_on.shape), axis=1)
    named = np.array([DRIVER_REASONS[k] for k in names])[pick]
    generic = np.array(GENERIC_REASONS)[rng.integers(0, len(GENERIC_REASONS), n)]
    use_driver = drivers_on.any(axis=1) & (rng.random(n) < 0.6)
    return np.where(use_driver, named, generic)


def row_mrr(acc: pd.DataFrame, acct: np.ndarray, seats: np.ndarray) -> np.ndarray:
    """MRR of a contract row: seats x the plan's price per seat (annual at a discount), cents."""
    price = np.array([PRICE_PER_SEAT[p] for p in acc["plan"]])[acct]
    annual = acc["annual"].to_numpy()[acct]
    return np.round(seats * price * np.where(annual, ANNUAL_DISCOUNT, 1.0), 2)


def contract_rows(
    rng,
    grid: Grid,
    acc: pd.DataFrame,
    renew_day: np.ndarray,
    seats_after: np.ndarray,
    churn_k: np.ndarray,
    churn_day: np.ndarray,
    reasons: np.ndarray,
) -> pd.DataFrame:
    """Rows with day indices: acct, term, start_day, end_day (-1 = open), seats, mrr, cancel."""
    n, k_max = renew_day.shape
    annual = acc["annual"].to_numpy()
    seats_before = np.concatenate([acc["seats0"].to_numpy()[:, None], seats_after[:, :-1]], axis=1)
    kk = np.arange(k_max)[None, :]
    alive = (churn_k[:, None] < 0) | (kk < churn_k[:, None])
    boundary = alive & (renew_day <= grid.end_day)
    boundary &= annual[:, None] | (seats_after != seats_before)
    rows_a, rows_k = np.nonzero(boundary)
    starts = pd.DataFrame(
        {
            "acct": np.concatenate([np.arange(n), rows_a]),
            "start_day": np.concatenate([acc["signup_day"].to_numpy(), renew_day[rows_a, rows_k]]),
            "seats": np.concatenate([acc["seats0"].to_numpy(), seats_after[rows_a, rows_k]]),
        }
    ).sort_values(["acct", "start_day"], kind="stable", ignore_index=True)
    acct = starts["acct"].to_numpy()
    term = starts.groupby("acct").cumcount().to_numpy()
    nxt = starts.groupby("acct")["start_day"].shift(-1)
    last = nxt.isna().to_numpy()
    # Annual terms end at their renewal; an open monthly row has no end; churn ends the last row.
    annual_end = renew_day[acct, np.minimum(term, k_max - 1)]
    end = np.where(last, np.where(annual[acct], annual_end, -1), nxt.fillna(-1).to_numpy())
    churned_last = last & (churn_k[acct] >= 0)
    end = np.where(churned_last, churn_day[acct], end).astype(np.int64)
    notice = np.where(annual[acct], rng.integers(30, 76, len(acct)), rng.integers(0, 15, len(acct)))
    cancelled = np.where(churned_last, np.maximum(end - notice, starts["start_day"].to_numpy()), -1)
    mrr = row_mrr(acc, acct, starts["seats"].to_numpy())
    return pd.DataFrame(
        {
            "acct": acct,
            "term": term,
            "start_day": starts["start_day"].to_numpy(),
            "end_day": end,
            "seats": starts["seats"].to_numpy(),
            "mrr": mrr,
            "cancelled_day": cancelled,
            "cancel_reason": np.where(churned_last, reasons[acct], None),
        }
    )
