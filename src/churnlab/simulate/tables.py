"""Turn one block's latent state and draws into the raw data contract's tables (CONTRACTS §1).

Day indices become dates, microsecond offsets become UTC timestamps, integer codes become ids
and labels. Only what a real export would contain is kept (no trajectory, no drivers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from churnlab.simulate.observe import EVENT_TYPES, TICKET_CATEGORIES, TOUCH_KINDS
from churnlab.simulate.timegrid import US_PER_DAY, Grid
from churnlab.simulate.world import ROLES

MAX_DAYS = 100_000  # > any day index, used to build (account, day) search keys


def to_dates(grid: Grid, day: np.ndarray) -> pd.Series:
    """Day indices (negative = null) as a date column."""
    day = np.asarray(day, dtype=np.float64)
    origin = np.datetime64(grid.origin.date(), "D")
    valid = day >= 0
    vals = origin + np.where(valid, day, 0).astype(np.int64).astype("timedelta64[D]")
    out = pd.Series(vals.astype("datetime64[s]")).dt.date
    return out.where(valid, None).astype(object)


def to_timestamps(grid: Grid, us: np.ndarray) -> pd.Series:
    """Microseconds since the grid origin (NaN = null) as a UTC timestamp column."""
    us = np.asarray(us, dtype=np.float64)
    valid = ~np.isnan(us)
    vals = np.where(valid, us, 0).astype(np.int64) + grid.origin_us
    ts = pd.Series(pd.to_datetime(vals, unit="us", utc=True))
    return ts.where(valid, pd.NaT)


def day_to_us(day: np.ndarray) -> np.ndarray:
    return np.asarray(day, dtype=np.float64) * US_PER_DAY


def user_ids(block) -> np.ndarray:
    users = block.users
    pos = users.groupby("acct").cumcount().to_numpy()
    idx = block.accounts["idx"].to_numpy()[users["acct"].to_numpy()]
    return np.array([f"U{a + 1:06d}-{p + 1:03d}" for a, p in zip(idx, pos, strict=True)])


def accounts_table(grid: Grid, block) -> pd.DataFrame:
    acc = block.accounts
    return pd.DataFrame(
        {
            "account_id": acc["account_id"].to_numpy(),
            "name": acc["name"].to_numpy(),
            "signup_date": to_dates(grid, acc["signup_day"].to_numpy()),
            "segment": acc["segment"].to_numpy(),
            "customer_goal": acc["customer_goal"].to_numpy(),
            "region": acc["region"].to_numpy(),
        }
    )


def contracts_table(grid: Grid, block, rows: pd.DataFrame) -> pd.DataFrame:
    acc = block.accounts
    a = rows["acct"].to_numpy()
    idx = acc["idx"].to_numpy()[a]
    return pd.DataFrame(
        {
            "contract_id": [
                f"C{i + 1:06d}-{t + 1:02d}" for i, t in zip(idx, rows["term"], strict=True)
            ],
            "account_id": acc["account_id"].to_numpy()[a],
            "start_date": to_dates(grid, rows["start_day"].to_numpy()),
            "end_date": to_dates(grid, rows["end_day"].to_numpy()),
            "billing_period": acc["billing_period"].to_numpy()[a],
            "plan": acc["plan"].to_numpy()[a],
            "mrr": rows["mrr"].to_numpy(dtype=np.float64),
            "seats": rows["seats"].to_numpy(dtype=np.int64),
            "cancelled_at": to_dates(grid, rows["cancelled_day"].to_numpy()),
            "cancel_reason": rows["cancel_reason"].to_numpy(),
        }
    )


def users_table(grid: Grid, block, uid: np.ndarray, alive_end: np.ndarray) -> pd.DataFrame:
    users = block.users
    a = users["acct"].to_numpy()
    horizon = np.minimum(alive_end[a], grid.end_day + 1)
    keep = users["invite_day"].to_numpy() < horizon
    act = users["act_day"].to_numpy()
    act = np.where(act < horizon, act, np.nan)
    out = pd.DataFrame(
        {
            "user_id": uid,
            "account_id": block.accounts["account_id"].to_numpy()[a],
            "role": np.array(ROLES)[users["role"].to_numpy()],
            "invited_at": to_timestamps(grid, day_to_us(users["invite_day"].to_numpy())),
            "activated_at": to_timestamps(grid, day_to_us(act)),
        }
    )
    return out[keep].sort_values("user_id", kind="stable", ignore_index=True)


def events_arrow(grid: Grid, block, uid: np.ndarray, ev: pd.DataFrame) -> pa.Table:
    """Events as an Arrow table; ids are looked up from small dictionaries (fast, no objects)."""
    return pa.table(
        {
            "account_id": pa.array(block.accounts["account_id"].to_numpy()).take(
                ev["acct"].to_numpy()
            ),
            "user_id": pa.array(uid).take(ev["user"].to_numpy()),
            "occurred_at": pa.array(
                ev["ts"].to_numpy() + grid.origin_us, pa.timestamp("us", tz="UTC")
            ),
            "event_type": pa.array(list(EVENT_TYPES)).take(ev["etype"].to_numpy()),
        }
    )


def tickets_table(grid: Grid, block, tk: pd.DataFrame) -> pd.DataFrame:
    a = tk["acct"].to_numpy()
    idx = block.accounts["idx"].to_numpy()[a]
    seq = tk.groupby("acct").cumcount().to_numpy()
    return pd.DataFrame(
        {
            "ticket_id": [f"T{i + 1:06d}-{s + 1:04d}" for i, s in zip(idx, seq, strict=True)],
            "account_id": block.accounts["account_id"].to_numpy()[a],
            "opened_at": to_timestamps(grid, tk["opened"].to_numpy()),
            "first_response_at": to_timestamps(grid, tk["first_response"].to_numpy()),
            "closed_at": to_timestamps(grid, tk["closed"].to_numpy()),
            "category": np.array(TICKET_CATEGORIES)[tk["category"].to_numpy()],
        }
    )


def surveys_table(grid: Grid, block, uid: np.ndarray, alive_end: np.ndarray) -> pd.DataFrame:
    sv = block.surveys
    a = sv["acct"].to_numpy()
    horizon = np.minimum(alive_end[a], grid.end_day + 1)
    sent = sv["sent_day"].to_numpy()
    keep = sent < horizon
    ans = sv["answered_day"].to_numpy()
    answered = ans < horizon
    users = block.users
    kp_row = pd.Series(np.arange(len(users)))[users["role"].to_numpy() == 1]
    kp_of = kp_row.groupby(users["acct"].to_numpy()[kp_row.to_numpy()]).first()
    idx = block.accounts["idx"].to_numpy()[a]
    out = pd.DataFrame(
        {
            "survey_id": [f"S{i + 1:06d}-{s + 1:02d}" for i, s in zip(idx, sv["seq"], strict=True)],
            "account_id": block.accounts["account_id"].to_numpy()[a],
            "user_id": uid[kp_of.reindex(a).to_numpy()],
            "sent_at": to_timestamps(grid, day_to_us(sent)),
            "answered_at": to_timestamps(grid, day_to_us(np.where(answered, ans, np.nan))),
            "nps_score": np.where(answered, sv["nps_score"].to_numpy(), np.nan),
        }
    )
    out["nps_score"] = out["nps_score"].astype("Int64")
    return out[keep].reset_index(drop=True)


def _current_csm(block, acct: np.ndarray, day: np.ndarray) -> np.ndarray:
    cs = block.csm_changes
    keys = cs["acct"].to_numpy() * MAX_DAYS + cs["day"].to_numpy()
    pos = np.searchsorted(keys, acct * MAX_DAYS + day, side="right") - 1
    return cs["csm"].to_numpy()[np.maximum(pos, 0)]


def touchpoints_table(grid: Grid, block, tp: pd.DataFrame) -> pd.DataFrame:
    a = tp["acct"].to_numpy()
    day = tp["ts"].to_numpy() // US_PER_DAY
    csm = _current_csm(block, a, day)
    return pd.DataFrame(
        {
            "account_id": block.accounts["account_id"].to_numpy()[a],
            "occurred_at": to_timestamps(grid, tp["ts"].to_numpy()),
            "kind": np.array(TOUCH_KINDS)[tp["kind"].to_numpy()],
            "csm_id": np.char.add("CSM", np.char.zfill(csm.astype(str), 2)),
        }
    )


def csm_table(grid: Grid, block, alive_end: np.ndarray, churn_day: np.ndarray) -> pd.DataFrame:
    cs = block.csm_changes
    a = cs["acct"].to_numpy()
    keep = cs["day"].to_numpy() < np.minimum(alive_end[a], grid.end_day + 1)
    cs = cs[keep].reset_index(drop=True)
    a = cs["acct"].to_numpy()
    nxt = cs.groupby("acct")["day"].shift(-1)
    end = np.where(nxt.isna(), np.where(churn_day[a] >= 0, churn_day[a], -1), nxt.fillna(-1))
    return pd.DataFrame(
        {
            "account_id": block.accounts["account_id"].to_numpy()[a],
            "csm_id": np.char.add("CSM", np.char.zfill(cs["csm"].to_numpy().astype(str), 2)),
            "start_date": to_dates(grid, cs["day"].to_numpy()),
            "end_date": to_dates(grid, end),
        }
    )


def milestones_table(grid: Grid, block, alive_end: np.ndarray) -> pd.DataFrame:
    ms = block.milestones
    a = ms["acct"].to_numpy()
    day = ms["day"].to_numpy()
    keep = ~np.isnan(day) & (day < np.minimum(alive_end[a], grid.end_day + 1))
    out = pd.DataFrame(
        {
            "account_id": block.accounts["account_id"].to_numpy()[a],
            "milestone": ms["milestone"].to_numpy(),
            "achieved_at": to_timestamps(grid, day_to_us(day)),
        }
    )[keep]
    return out.sort_values(
        ["account_id", "achieved_at", "milestone"], kind="stable", ignore_index=True
    )
