"""Observable activity drawn from the latent world: events, tickets and touchpoints.

All draws are vectorised over (user or account) x week cells of the data window; the only
loops are over a handful of event kinds. Timestamps are int64 microseconds since the epoch
(UTC), placed in each region's office hours.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from churnlab.simulate import libm
from churnlab.simulate.timegrid import US_PER_DAY, Grid

FEATURES = (
    "dashboard_view",
    "report_view",
    "search",
    "record_edit",
    "workflow_run",
    "comment",
    "integration_sync",
    "alert_create",
    "template_use",
    "api_call",
)
EVENT_TYPES = ("login", *FEATURES, "data_export")
LOGIN, EXPORT = 0, len(EVENT_TYPES) - 1
EVENTS_PER_ACTIVE_WEEK = 2.0  # a fully adopted user's events per week
LOGIN_SHARE = 0.45
VACATION_RATE = 0.04  # share of user-weeks with no activity at all
QUIET_FACTOR = (
    0.0  # disengaged key person: silent (their change vs trailing mean is then 0, not noise)
)
KP_MIN_ADOPTION = 0.7
DOW_WEIGHTS = np.array([0.21, 0.21, 0.21, 0.2, 0.13, 0.02, 0.02])
DOW_CUM = np.cumsum(DOW_WEIGHTS)[:-1]
# First UTC hour of a 10-hour office day per region (Japan, North America, Europe, APAC).
REGION_UTC_START = np.array([0, 13, 7, 1])
EXPORT_BACKGROUND_RATE = 0.03  # accounts exporting data in an ordinary week
EXPORT_BURST_PROB = 0.85  # churning accounts that export their data before leaving
TICKET_RATE = {"smb": 0.04, "mid_market": 0.08, "enterprise": 0.2}
TICKET_CATEGORIES = ("bug", "question", "feature_request", "billing")
TICKET_MIX = (0.35, 0.4, 0.15, 0.1)
TOUCH_KINDS = ("meeting", "decision_maker_meeting", "training", "event_attendance", "qbr")


def _office_time(rng, week: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Microseconds since grid origin: a weekday and office hour within `week`."""
    dow = np.searchsorted(DOW_CUM, rng.random(len(week)), side="right")
    in_day = REGION_UTC_START[region] * 3_600_000_000 + rng.integers(
        0, 10 * 3_600_000_000, len(week)
    )
    return (week.astype(np.int64) * 7 + dow) * US_PER_DAY + in_day


def alive_end_day(grid: Grid, churn_day: np.ndarray) -> np.ndarray:
    """First day an account no longer exists in the data (churn date or the day after the window)."""
    return np.where(churn_day >= 0, churn_day, grid.end_day + 1)


def _cells(first: np.ndarray, last: np.ndarray):
    """Expand inclusive week ranges per row into (row, week) cells."""
    count = np.maximum(last - first + 1, 0)
    row = np.repeat(np.arange(len(first)), count)
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return row, np.repeat(first, count) + offset


# Feature use is skewed to the first features: rank = floor(breadth * u**FEATURE_SKEW).
FEATURE_SKEW = 1.6
# FEATURE_CUTS[b, j - 1] = (j / b) ** (1 / FEATURE_SKEW) for 1 <= j < b, else +inf (a table
# computed once with libm, so the per-event draw below is comparisons only: the same on any CPU).
_B, _J = np.meshgrid(np.arange(len(FEATURES) + 1), np.arange(1, len(FEATURES) + 1), indexing="ij")
FEATURE_CUTS = np.full(_B.shape, np.inf)
FEATURE_CUTS[_J < _B] = libm.power(_J[_J < _B] / _B[_J < _B], 1 / FEATURE_SKEW)


def feature_rank(breadth: np.ndarray, u: np.ndarray) -> np.ndarray:
    """floor(breadth * u**FEATURE_SKEW) for integer breadth 1..len(FEATURES), u in [0, 1).

    Counted as the cuts (j / breadth) ** (1 / FEATURE_SKEW), j = 1 .. breadth - 1, that u
    reaches: the same number, without a per-event power (numpy's differs by CPU)."""
    return (u[:, None] >= FEATURE_CUTS[breadth]).sum(axis=1)


def draw_events(rng, grid: Grid, block, alive_end: np.ndarray) -> pd.DataFrame:
    """Events of one block: acct, user (row of block.users), ts (us since origin), etype."""
    acc, users = block.accounts, block.users
    region = acc["region_code"].to_numpy()
    u_acct = users["acct"].to_numpy()
    act = users["act_day"].to_numpy()
    active = ~np.isnan(act)
    act_week = np.where(active, np.floor(np.nan_to_num(act) / 7), grid.n_weeks).astype(np.int64)
    first = act_week
    last = np.minimum((alive_end[u_acct] - 1) // 7, grid.end_week)
    cell_u, cell_w = _cells(first, last)
    cell_a = u_acct[cell_u]
    is_kp = users["role"].to_numpy()[cell_u] == 1
    adoption = block.adoption[cell_a, cell_w]
    # The champion works in the product even while the rest of the account has not adopted it.
    adoption = np.where(is_kp, np.maximum(adoption, KP_MIN_ADOPTION), adoption)
    rate = users["activity"].to_numpy()[cell_u] * adoption
    rate = np.where(is_kp & block.kp_quiet[cell_a, cell_w], rate * QUIET_FACTOR, rate)
    rate = np.where(rng.random(len(cell_u)) < VACATION_RATE, 0.0, rate)
    n_ev = rng.poisson(rate * EVENTS_PER_ACTIVE_WEEK)
    ev_u = np.repeat(cell_u, n_ev)
    ev_w = np.repeat(cell_w, n_ev)
    ev_a = u_acct[ev_u]
    ts = _office_time(rng, ev_w, region[ev_a])
    feature = 1 + feature_rank(block.breadth[ev_a, ev_w], rng.random(len(ev_u)))
    etype = np.where(rng.random(len(ev_u)) < LOGIN_SHARE, LOGIN, feature)
    # Activation is the user's first login.
    act_us = np.where(active, np.nan_to_num(act) * US_PER_DAY, 0).astype(np.int64)
    first_login = np.nonzero(active)[0]
    parts = [
        (ev_a, ev_u, ts, etype),
        (
            u_acct[first_login],
            first_login,
            act_us[first_login],
            np.zeros(len(first_login), np.int64),
        ),
        _exports(rng, grid, block, alive_end),
    ]
    a = np.concatenate([p[0] for p in parts])
    u = np.concatenate([p[1] for p in parts])
    t = np.concatenate([p[2] for p in parts])
    e = np.concatenate([p[3] for p in parts])
    ok = (t >= act_us[u]) & (t < alive_end[a] * US_PER_DAY)
    ok &= t < (grid.end_day + 1) * US_PER_DAY
    a, u, t, e = a[ok], u[ok], t[ok], e[ok]
    # One int64 key (account in the high bits, microseconds below) sorts by account, then time.
    order = np.argsort((a.astype(np.int64) << 48) | t, kind="stable")
    return pd.DataFrame(
        {
            "acct": a[order].astype(np.int32),
            "user": u[order].astype(np.int32),
            "ts": t[order],
            "etype": e[order].astype(np.int8),
        }
    )


def _exports(rng, grid: Grid, block, alive_end: np.ndarray):
    """Data exports by the admin: rare in ordinary weeks, a burst in the 2 weeks before churn."""
    acc, users = block.accounts, block.users
    n = len(acc)
    admin = users.index[users["role"].to_numpy() == 0].to_numpy()
    admin_of = np.full(n, -1)
    admin_of[users["acct"].to_numpy()[admin]] = admin
    sw = acc["signup_day"].to_numpy() // 7
    acct, week = _cells(sw, np.minimum((alive_end - 1) // 7, grid.end_week))
    hit = rng.random(len(acct)) < EXPORT_BACKGROUND_RATE
    count = np.where(hit, 1 + rng.poisson(0.5, len(acct)), 0)
    churned = np.nonzero((alive_end <= grid.end_day) & (rng.random(n) < EXPORT_BURST_PROB))[0]
    cw = alive_end[churned] // 7
    b_acct = np.concatenate([churned, churned])
    b_week = np.concatenate([cw - 2, cw - 1])
    b_count = 1 + rng.poisson(3.0, len(b_acct))
    ev_a = np.concatenate([np.repeat(acct, count), np.repeat(b_acct, b_count)])
    ev_w = np.concatenate([np.repeat(week, count), np.repeat(b_week, b_count)])
    ts = _office_time(rng, ev_w, acc["region_code"].to_numpy()[ev_a])
    return ev_a, admin_of[ev_a], ts, np.full(len(ev_a), EXPORT, dtype=np.int64)


def _account_weeks(grid: Grid, block, alive_end: np.ndarray):
    sw = block.accounts["signup_day"].to_numpy() // 7
    return _cells(sw, np.minimum((alive_end - 1) // 7, grid.end_week))


def _in_life(grid: Grid, block, alive_end, acct, ts):
    signup_us = block.accounts["signup_day"].to_numpy()[acct] * US_PER_DAY
    return (
        (ts >= signup_us)
        & (ts < alive_end[acct] * US_PER_DAY)
        & (ts < (grid.end_day + 1) * US_PER_DAY)
    )


def draw_tickets(rng, grid: Grid, block, alive_end: np.ndarray) -> pd.DataFrame:
    """Support tickets: volume by segment only, response times independent of everything."""
    acc = block.accounts
    acct, week = _account_weeks(grid, block, alive_end)
    rate = np.array([TICKET_RATE[s] for s in acc["segment"]])[acct]
    count = rng.poisson(rate)
    acct, week = np.repeat(acct, count), np.repeat(week, count)
    opened = _office_time(rng, week, acc["region_code"].to_numpy()[acct])
    hours = 3_600_000_000
    first_resp = opened + (
        libm.exp(math.log(4.0) + 1.0 * rng.standard_normal(len(acct))) * hours
    ).astype(np.int64)
    closed = first_resp + (
        libm.exp(math.log(20.0) + 1.2 * rng.standard_normal(len(acct))) * hours
    ).astype(np.int64)
    category = rng.choice(len(TICKET_CATEGORIES), size=len(acct), p=TICKET_MIX)
    ok = _in_life(grid, block, alive_end, acct, opened)
    out = pd.DataFrame(
        {
            "acct": acct,
            "opened": opened,
            "first_response": first_resp,
            "closed": closed,
            "category": category,
        }
    )[ok]
    horizon = (grid.end_day + 1) * US_PER_DAY
    out["first_response"] = out["first_response"].where(out["first_response"] < horizon)
    out["closed"] = out["closed"].where(out["closed"] < horizon)
    return out.sort_values(["acct", "opened"], kind="stable", ignore_index=True)


def draw_touchpoints(rng, grid: Grid, block, alive_end: np.ndarray) -> pd.DataFrame:
    """CSM touchpoints; event attendance depends on segment (and a personal taste) only."""
    acc = block.accounts
    seg = acc["seg"].to_numpy()
    learn = acc["goal"].to_numpy() == 1
    acct, week = _account_weeks(grid, block, alive_end)
    tenure = week - acc["signup_day"].to_numpy()[acct] // 7
    s = seg[acct]
    taste = rng.lognormal(0.0, 0.5, len(acc))[acct]
    rates = {
        "meeting": np.array([0.08, 0.2, 0.4])[s] * np.where(learn[acct], 1.0, 1.5),
        "decision_maker_meeting": np.array([0.02, 0.05, 0.1])[s],
        "training": np.where(
            tenure < 16, np.where(learn[acct], 0.3, 0.1), np.where(learn[acct], 0.02, 0.01)
        ),
        "event_attendance": np.array([0.01, 0.03, 0.08])[s] * taste,
        "qbr": np.array([0.01, 1 / 13, 1 / 13])[s],
    }
    frames = []
    for code, kind in enumerate(TOUCH_KINDS):
        count = rng.poisson(rates[kind])
        a, w = np.repeat(acct, count), np.repeat(week, count)
        ts = _office_time(rng, w, acc["region_code"].to_numpy()[a])
        frames.append(pd.DataFrame({"acct": a, "ts": ts, "kind": code}))
    out = pd.concat(frames, ignore_index=True)
    out = out[_in_life(grid, block, alive_end, out["acct"].to_numpy(), out["ts"].to_numpy())]
    return out.sort_values(["acct", "ts", "kind"], kind="stable", ignore_index=True)
