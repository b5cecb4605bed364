"""A synthetic account x week panel with a known truth, for tests and benchmarks.

Mechanism (the simulator's, in miniature): some accounts hit trouble at week T0. The
`leader` indicator drops at T0; the hazard rises `lead` weeks later (from T0 + lead); the
`coincident` indicator switches on together with the hazard; the `decoy` tracks segment,
which does not change the hazard once segment is adjusted for... and not at all here.
Rows follow docs/CONTRACTS.md §3 (account_id, week_start, start, stop, event, ...).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_panel(
    n_accounts: int = 600,
    n_weeks: int = 80,
    lead: int = 8,
    hazard_ratio: float = 8.0,
    base_hazard: float = 0.003,
    trouble_share: float = 0.5,
    seed: int = 0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weeks = np.arange(n_weeks)
    # Accounts join over time, so tenure and calendar week differ (like a real book).
    first_week = rng.integers(0, n_weeks // 4, n_accounts)
    length = n_weeks - first_week
    troubled = rng.random(n_accounts) < trouble_share
    t0 = np.where(troubled, rng.integers(0, n_weeks, n_accounts), 10**6)
    segment = rng.choice(
        np.array(["smb", "mid_market", "enterprise"]), n_accounts, p=[0.6, 0.3, 0.1]
    )
    billing = rng.choice(np.array(["monthly", "annual"]), n_accounts, p=[0.6, 0.4])

    tenure = weeks[None, :]
    elevated = tenure >= (t0 + lead)[:, None]
    hazard = base_hazard * np.where(elevated, hazard_ratio, 1.0)
    dies = rng.random((n_accounts, n_weeks)) < hazard
    alive_len = np.where(dies.any(axis=1), dies.argmax(axis=1) + 1, n_weeks)
    n_rows = np.minimum(alive_len, length)
    churned = alive_len <= length

    acc = np.repeat(np.arange(n_accounts), n_rows)
    start = np.concatenate([np.arange(k) for k in n_rows])
    last = np.zeros(len(acc), bool)
    last[np.cumsum(n_rows) - 1] = True
    in_trouble = start >= t0[acc]
    seg = segment[acc]
    panel = pd.DataFrame(
        {
            "account_id": pd.Series([f"A{a:05d}" for a in range(n_accounts)])[acc].to_numpy(),
            "week_start": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(7 * (first_week[acc] + start), unit="D"),
            "start": start,
            "stop": start + 1,
            "event": (last & churned[acc]).astype(int),
            "segment": seg,
            "customer_goal": "done_for_me",
            "plan": "standard",
            "billing_period": billing[acc],
            "seats": 5,
            "mrr": 100.0,
            "tenure_weeks": start,
            # drops from ~1 to ~0.3 at trouble onset, `lead` weeks before the hazard rises
            "leader": np.where(in_trouble, 0.3, 1.0) + rng.normal(0, 0.15, len(acc)),
            # switches on when the hazard does: informative only at lag 0
            "coincident": (start >= (t0 + lead)[acc]).astype(float),
            # follows segment, unrelated to the hazard
            "decoy": np.where(seg == "enterprise", 2.0, 0.0) + rng.normal(0, 1, len(acc)),
        }
    )
    return panel.sort_values(["account_id", "start"], kind="stable").reset_index(drop=True)
