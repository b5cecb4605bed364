"""The latent world of one block of accounts: who they are, how they adopt, what goes wrong.

Everything here is hidden state on the weekly grid (rows = accounts of the block, columns =
weeks since the grid origin). Observable tables are derived from it in `observe.py` and
`records.py`; churn is drawn from it in `churn.py`.

Drivers of churn (the `x_*` matrices, 1 = the risk is on in that week) follow the design in
`ground_truth.py`: an episodic driver's latent trouble starts at week T0, becomes observable in
the data during T0, so a panel that only uses data before each week sees it from T0 + 1; the
hazard is raised for weeks [T0 + 1 + lead, T0 + 1 + lead + window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.simulate import libm
from churnlab.simulate.observe import FEATURES
from churnlab.simulate.spec import GOALS, PRE_WEEKS, SEGMENTS, TRAJECTORIES, Spec
from churnlab.simulate.timegrid import Grid, add_months, range_mask

REGIONS = ("Japan", "North America", "Europe", "APAC")
REGION_MIX = (0.4, 0.3, 0.2, 0.1)
PLANS = ("starter", "professional", "enterprise")
PLAN_MIX = {  # by segment
    "smb": (0.75, 0.25, 0.0),
    "mid_market": (0.15, 0.7, 0.15),
    "enterprise": (0.0, 0.3, 0.7),
}
PRICE_PER_SEAT = {"starter": 25.0, "professional": 45.0, "enterprise": 80.0}
ANNUAL_DISCOUNT = 0.85
# Segment size drives seats: base + Poisson(extra).
SEATS = {"smb": (3, 4.0), "mid_market": (10, 12.0), "enterprise": (25, 30.0)}
# Enterprises sign annual contracts more often; normalised so the mix matches annual_share.
ANNUAL_TILT = {"smb": 0.7, "mid_market": 1.2, "enterprise": 2.0}
ROLES = ("admin", "key_person", "decision_maker", "member")
# The key person is the account's champion and power user: busy and steady.
ROLE_ACTIVITY = np.array([1.0, 4.0, 0.35, 1.0])
ROLE_SPREAD = np.array([0.5, 0.25, 0.5, 0.5])  # lognormal sigma of users' activity

JA_CORES = (
    "山田",
    "青葉",
    "桜井",
    "富士見",
    "北斗",
    "東邦",
    "大和",
    "光洋",
    "三星",
    "若葉",
    "明星",
    "朝日",
    "日向",
    "瑞穂",
    "白鷺",
    "鳳凰",
    "高砂",
    "常盤",
    "葵",
    "松風",
)
JA_SUFFIX = ("テック", "システムズ", "商事", "製作所", "ホールディングス", "物流", "フーズ", "")
EN_CORES = (
    "Acme",
    "Northwind",
    "Blue Harbor",
    "Summit",
    "Brightline",
    "Cedar",
    "Ironwood",
    "Lumen",
    "Meridian",
    "Orbit",
    "Pioneer",
    "Quartz",
    "Redwood",
    "Silverline",
    "Tidal",
    "Vertex",
    "Willow",
    "Zenith",
    "Keystone",
    "Harbor",
)
EN_SUFFIX = (
    "Analytics",
    "Labs",
    "Logistics",
    "Health",
    "Retail",
    "Systems",
    "Foods",
    "Energy",
    "Partners",
    "Media",
)
EN_LEGAL = ("Inc.", "Ltd.", "GmbH", "LLC", "Pty Ltd")

# Weekly start rate of a key-person disengagement episode, by trajectory.
KP_EPISODE_RATE = np.array([0.004, 0.006, 0.012])
# Probability a quarterly NPS survey lands in a "cooling" relationship, by trajectory.
NPS_COOLING = np.array([0.08, 0.12, 0.25])
NPS_BASE_UNANSWERED = 0.15
NPS_FIRST_WEEK, NPS_EVERY_WEEKS, NPS_ANSWER_DAYS = 6, 13, 14
CSM_CHANGE_RATE = 1.0 / 65.0
CSM_POOLS = {"smb": (1, 9), "mid_market": (9, 17), "enterprise": (17, 25)}  # csm number ranges
ONBOARDING_PERIOD_WEEKS = 13  # license activation is judged from this tenure on


@dataclass
class Block:
    """Latent state of one block of accounts (rows) on the weekly grid (columns)."""

    accounts: pd.DataFrame
    users: pd.DataFrame
    renew_day: np.ndarray  # (n, K) day of each billing renewal
    seats_after: np.ndarray  # (n, K) seats from that renewal on
    adoption: np.ndarray  # (n, W) account adoption level 0..~1
    breadth: np.ndarray  # (n, W) number of features in use
    kp_quiet: np.ndarray  # (n, W) key person disengaged
    surveys: pd.DataFrame
    csm_changes: pd.DataFrame  # acct, day, csm (new)
    milestones: pd.DataFrame  # acct, milestone, day
    x: dict[str, np.ndarray]  # driver id -> (n, W) bool, hazard raised that week
    log_mult: np.ndarray  # (n, W) log hazard multiplier (segment + drivers)


def _choice(rng: np.random.Generator, n: int, mix: dict[str, float], names: tuple[str, ...]):
    p = np.array([mix[k] for k in names])
    return rng.choice(len(names), size=n, p=p / p.sum())


def draw_accounts(rng: np.random.Generator, spec: Spec, grid: Grid, first: int, n: int):
    """Static attributes of accounts `first .. first + n - 1`."""
    seg = _choice(rng, n, spec.segment_mix, SEGMENTS)
    goal = _choice(rng, n, spec.goal_mix, GOALS)
    traj = _choice(rng, n, spec.trajectory_mix, TRAJECTORIES)
    region = rng.choice(len(REGIONS), size=n, p=REGION_MIX)
    tilt = np.array([ANNUAL_TILT[s] for s in SEGMENTS])
    tilt = tilt / sum(spec.segment_mix[s] * ANNUAL_TILT[s] for s in SEGMENTS)
    annual = rng.random(n) < np.clip(spec.annual_share * tilt[seg], 0, 1)
    plan = np.empty(n, dtype=np.int64)
    for i, s in enumerate(SEGMENTS):
        sel = seg == i
        plan[sel] = rng.choice(len(PLANS), size=sel.sum(), p=PLAN_MIX[s])
    base = np.array([SEATS[s][0] for s in SEGMENTS])
    extra = np.array([SEATS[s][1] for s in SEGMENTS])
    seats0 = base[seg] + rng.poisson(extra[seg])
    pre = rng.random(n) < spec.preexisting_share
    pre_day = grid.start_day - rng.integers(1, 7 * PRE_WEEKS + 1, size=n)
    new_day = rng.integers(grid.start_day, max(grid.start_day + 1, grid.end_day - 28), size=n)
    signup_day = np.where(pre, pre_day, new_day)
    # Japanese names for most Japanese accounts, e.g. 株式会社北斗テック.
    ja = (region == 0) & (rng.random(n) < 0.85)
    ja_name = np.char.add(
        np.char.add("株式会社", np.array(JA_CORES)[rng.integers(0, len(JA_CORES), n)]),
        np.array(JA_SUFFIX)[rng.integers(0, len(JA_SUFFIX), n)],
    )
    en_name = np.char.add(
        np.char.add(np.array(EN_CORES)[rng.integers(0, len(EN_CORES), n)], " "),
        np.char.add(
            np.char.add(np.array(EN_SUFFIX)[rng.integers(0, len(EN_SUFFIX), n)], " "),
            np.array(EN_LEGAL)[rng.integers(0, len(EN_LEGAL), n)],
        ),
    )
    idx = np.arange(first, first + n)
    return pd.DataFrame(
        {
            "idx": idx,
            "account_id": [f"A{i + 1:06d}" for i in idx],
            "name": np.where(ja, ja_name, en_name),
            "segment": np.array(SEGMENTS)[seg],
            "seg": seg,
            "customer_goal": np.array(GOALS)[goal],
            "goal": goal,
            "region": np.array(REGIONS)[region],
            "region_code": region,
            "trajectory": np.array(TRAJECTORIES)[traj],
            "traj": traj,
            "annual": annual,
            "billing_period": np.where(annual, "annual", "monthly"),
            "plan": np.array(PLANS)[plan],
            "signup_day": signup_day.astype(np.int64),
            "seats0": seats0.astype(np.int64),
            "engagement": rng.lognormal(0.0, 0.2, n),
            "act_propensity": rng.lognormal(0.0, 0.3, n),
            # Slow starters struggle for ~3 months, then take off.
            "takeoff_week": rng.integers(10, 17, n),
            "preexisting": pre,
        }
    )


def draw_members(rng, acct, traj, takeoff, propensity, invite_day, role):
    """Activation day (NaN = never) for users of given role, by trajectory."""
    n = len(acct)
    t = traj[acct]
    p_member = np.array([0.92, 0.8, 0.3])[t]
    p_dm = np.array([0.8, 0.7, 0.4])[t]
    p = np.select([role <= 1, role == 2], [1.0, p_dm], p_member)
    p = np.where(role <= 1, 1.0, np.clip(p * propensity[acct], 0, 0.98))
    delay = np.select(
        [role <= 1, role == 2],
        [rng.exponential(np.array([2.0, 3.0, 5.0])[t]), rng.exponential(10.0, n)],
        rng.exponential(np.array([7.0, 10.0, 30.0])[t]),
    )
    # Slow starters' members mostly activate around take-off.
    late = (t == 1) & (role == 3) & (rng.random(n) < 0.7)
    delay = np.where(late, takeoff[acct] * 7.0 + rng.exponential(10.0, n), delay)
    activated = rng.random(n) < p
    return np.where(activated, invite_day + delay, np.nan)


def draw_users(rng: np.random.Generator, acc: pd.DataFrame) -> pd.DataFrame:
    """One user per initial seat: admin, key person, decision maker, then members."""
    seats = acc["seats0"].to_numpy()
    acct = np.repeat(np.arange(len(acc)), seats)
    pos = np.arange(len(acct)) - np.repeat(np.cumsum(seats) - seats, seats)
    role = np.minimum(pos, 3)
    traj = acc["traj"].to_numpy()
    signup = acc["signup_day"].to_numpy()[acct].astype(float)
    invite = np.where(
        role <= 2,
        signup + rng.uniform(0, 2, len(acct)),
        signup + np.minimum(rng.exponential(np.array([4.0, 10.0, 20.0])[traj[acct]]), 60),
    )
    act = draw_members(
        rng,
        acct,
        traj,
        acc["takeoff_week"].to_numpy(),
        acc["act_propensity"].to_numpy(),
        invite,
        role,
    )
    return pd.DataFrame(
        {
            "acct": acct,
            "role": role,
            "invite_day": invite,
            "act_day": act,
            "activity": libm.exp(ROLE_SPREAD[role] * rng.standard_normal(len(acct)))
            * ROLE_ACTIVITY[role],
        }
    )


def renewal_days(grid: Grid, acc: pd.DataFrame) -> np.ndarray:
    """(n, K) days of the k-th billing renewal (monthly: every month, annual: every 12)."""
    k_max = grid.n_weeks * 7 // 28 + 2
    step = np.where(acc["annual"].to_numpy(), 12, 1)[:, None]
    months = step * np.arange(1, k_max + 1)[None, :]
    signup = np.repeat(acc["signup_day"].to_numpy()[:, None], k_max, axis=1)
    return add_months(grid, signup, months)


def seat_changes(rng, grid: Grid, acc: pd.DataFrame, users: pd.DataFrame, renew_day: np.ndarray):
    """Expansions and contractions at renewals; expansions invite new members.

    Drawn for every renewal regardless of churn (the churn draw later ignores changes after the
    churn date). Contractions never go below the licences already activated.
    Returns (seats_after (n, K), users including new members).
    """
    n, k_max = renew_day.shape
    traj = acc["traj"].to_numpy()
    annual = acc["annual"].to_numpy()
    seats = acc["seats0"].to_numpy().copy()
    seats_after = np.zeros((n, k_max), dtype=np.int64)
    p_exp = np.where(annual, np.array([0.3, 0.2, 0.05])[traj], np.array([0.02, 0.012, 0.004])[traj])
    new_users = [users]
    act_acct = users["acct"].to_numpy()
    act_day = users["act_day"].to_numpy()
    for k in range(k_max):
        day = renew_day[:, k]
        live = day <= grid.end_day
        if not live.any():
            seats_after[:, k:] = seats[:, None]
            break
        activated = np.bincount(act_acct, weights=act_day < day[act_acct], minlength=n)
        low = activated / seats < 0.6
        p_con = np.where(annual, np.where(low, 0.25, 0.04), np.where(low, 0.02, 0.003))
        u = rng.random(n)
        grow = live & (u < p_exp)
        shrink = live & ~grow & (u < p_exp + p_con)
        add = np.where(grow, np.ceil(seats * rng.uniform(0.1, 0.4, n)).astype(np.int64), 0)
        cut = np.ceil(seats * rng.uniform(0.1, 0.3, n)).astype(np.int64)
        floor = np.maximum(activated.astype(np.int64), 1)
        seats = np.where(shrink, np.maximum(seats - cut, floor), seats + add)
        seats_after[:, k] = seats
        if add.sum():
            acct = np.repeat(np.arange(n), add)
            invite = day[acct] + rng.uniform(0, 5, len(acct))
            role = np.full(len(acct), 3)
            act = draw_members(
                rng,
                acct,
                traj,
                np.zeros(n, dtype=np.int64),
                acc["act_propensity"].to_numpy(),
                invite,
                role,
            )
            extra = pd.DataFrame(
                {
                    "acct": acct,
                    "role": role,
                    "invite_day": invite,
                    "act_day": act,
                    "activity": rng.lognormal(0.0, 0.5, len(acct)),
                }
            )
            new_users.append(extra)
            act_acct = np.concatenate([act_acct, acct])
            act_day = np.concatenate([act_day, act])
    users = pd.concat(new_users, ignore_index=True)
    users = users.sort_values(["acct", "invite_day"], kind="stable").reset_index(drop=True)
    return seats_after, users


def seats_by_week(grid: Grid, acc: pd.DataFrame, renew_day, seats_after) -> np.ndarray:
    """(n, W) seats in force at each week start."""
    ws = grid.week_start_day()
    done = (renew_day[:, None, :] <= ws[None, :, None]).sum(axis=2)  # renewals passed
    hist = np.concatenate([acc["seats0"].to_numpy()[:, None], seats_after], axis=1)
    return np.take_along_axis(hist, done, axis=1)


def activated_by_week(grid: Grid, n: int, users: pd.DataFrame) -> np.ndarray:
    """(n, W) users activated strictly before each week start."""
    act = users["act_day"].to_numpy()
    ok = ~np.isnan(act)
    week = np.floor(act[ok] / 7).astype(np.int64) + 1
    keep = week < grid.n_weeks
    counts = np.zeros((n, grid.n_weeks), dtype=np.int64)
    np.add.at(counts, (users["acct"].to_numpy()[ok][keep], week[keep]), 1)
    return np.cumsum(counts, axis=1)


def _rise(weeks: np.ndarray, time_constant: float) -> np.ndarray:
    """1 - exp(-weeks / time_constant) for integer `weeks` (any shape).

    Computed with `libm` (the same bits on every CPU) once per distinct week count: an
    (accounts x weeks) grid holds only a few hundred of them."""
    values, inverse = np.unique(weeks, return_inverse=True)
    return (1 - libm.exp(-values / time_constant))[inverse].reshape(weeks.shape)


def adoption_curves(rng, grid: Grid, acc: pd.DataFrame):
    """(n, W) adoption level and number of features in use, per trajectory and goal."""
    sw = (acc["signup_day"].to_numpy() // 7)[:, None]
    tau = np.arange(grid.n_weeks)[None, :] - sw
    t = acc["traj"].to_numpy()[:, None]
    take = acc["takeoff_week"].to_numpy()[:, None]
    fast = 0.9 * _rise(tau + 1, 3.0)
    slow = np.where(tau < take, 0.25, 0.25 + 0.6 * _rise(tau - take + 1, 4.0))
    sluggish = 0.35 * _rise(tau + 1, 6.0)
    level = np.select([t == 0, t == 1], [fast, slow], sluggish)
    level = np.where(tau < 0, 0.0, level * acc["engagement"].to_numpy()[:, None])
    # "Do it for me" customers lean on the vendor: fewer of their own people use the product.
    goal_factor = np.where(acc["goal"].to_numpy() == 0, 0.85, 1.0)[:, None]
    level = np.clip(level * goal_factor, 0, 1.2)
    pref = np.where(acc["goal"].to_numpy() == 1, 1.0, 0.6)[:, None]
    breadth = 1 + np.floor((len(FEATURES) - 1) * np.minimum(1.0, level * pref)).astype(np.int64)
    return level, breadth


def draw_milestones(rng, acc: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """Onboarding and outcome milestones as (acct, milestone, day); day NaN = never."""
    n = len(acc)
    t = acc["traj"].to_numpy()
    signup = acc["signup_day"].to_numpy().astype(float)
    learn = acc["goal"].to_numpy() == 1
    median = np.select([t == 0, t == 1], [28.0, acc["takeoff_week"].to_numpy() * 7.0 + 7], 110.0)
    sigma = np.where(t == 0, 0.5, 0.35)
    days = median * libm.exp(sigma * rng.standard_normal(n)) * np.where(learn, 1.0, 0.85)
    days = np.where((t == 2) & (rng.random(n) < 0.35), np.nan, np.maximum(days, 3.0))
    onboard = signup + days
    first_login = (
        (pd.Series(users["act_day"].to_numpy()).groupby(users["acct"].to_numpy()).min())
        .reindex(range(n))
        .to_numpy()
    )
    p_train = np.where(learn, np.array([0.85, 0.7, 0.3])[t], np.array([0.35, 0.25, 0.1])[t])
    train = np.where(rng.random(n) < p_train, onboard + rng.uniform(7, 42, n), np.nan)
    p_goal = np.array([0.75, 0.55, 0.12])[t]
    goal = np.where(rng.random(n) < p_goal, onboard + rng.uniform(8, 30, n) * 7, np.nan)
    rows = []
    for name, day in (
        ("first_login", first_login),
        ("onboarding_complete", onboard),
        ("training_complete", train),
        ("goal_achieved", goal),
    ):
        rows.append(pd.DataFrame({"acct": np.arange(n), "milestone": name, "day": day}))
    out = pd.concat(rows, ignore_index=True)
    out["days_to_onboarding"] = np.tile(days, 4)
    return out


def key_person_episodes(rng, grid: Grid, acc: pd.DataFrame, lead: int, window: int):
    """Key-person disengagement episodes (non-overlapping).

    Returns (quiet (n, W): key person's activity suppressed, hazard (n, W): risk raised).
    The key person goes quiet at T0 and stays quiet until the risk window ends.
    """
    n, w_total = len(acc), grid.n_weeks
    sw = acc["signup_day"].to_numpy() // 7
    rate = KP_EPISODE_RATE[acc["traj"].to_numpy()]
    starts = rng.random((n, w_total)) < rate[:, None]
    starts &= np.arange(w_total)[None, :] >= (sw + 8)[:, None]
    length = 1 + lead + window
    busy_until = np.full(n, -1)
    t0_rows, t0_weeks = [], []
    for w in range(w_total):
        new = starts[:, w] & (w >= busy_until)
        if new.any():
            rows = np.nonzero(new)[0]
            t0_rows.append(rows)
            t0_weeks.append(np.full(len(rows), w))
            busy_until[rows] = w + length
    rows = np.concatenate(t0_rows) if t0_rows else np.zeros(0, dtype=np.int64)
    t0 = np.concatenate(t0_weeks) if t0_weeks else np.zeros(0, dtype=np.int64)
    quiet = range_mask(n, w_total, rows, t0, t0 + length)
    hazard = range_mask(n, w_total, rows, t0 + 1 + lead, t0 + 1 + lead + window)
    return quiet, hazard


def draw_surveys(rng, grid: Grid, acc: pd.DataFrame, lead: int, window: int):
    """Quarterly NPS surveys to the key person; returns (surveys, hazard (n, W)).

    A survey that lands in a cooling relationship goes unanswered (95%) and raises the hazard
    for `window` weeks, from `lead` weeks after the non-answer becomes visible (week S + 1).
    The lamp stays on until the next survey (~13 weeks), longer than the risk: lags up to
    `lead` all see the risk, longer lags miss it, so `lead` is the longest useful warning.
    """
    n = len(acc)
    k_max = grid.n_weeks // NPS_EVERY_WEEKS + 1
    signup = acc["signup_day"].to_numpy()
    sent = (
        signup[:, None]
        + 7 * (NPS_FIRST_WEEK + NPS_EVERY_WEEKS * np.arange(k_max))[None, :]
        + rng.integers(0, 4, (n, k_max))
    ) + rng.uniform(0.3, 0.7, (n, k_max))  # office hours
    t = acc["traj"].to_numpy()
    cooling = rng.random((n, k_max)) < NPS_COOLING[t][:, None]
    unanswered = rng.random((n, k_max)) < np.where(cooling, 0.95, NPS_BASE_UNANSWERED)
    answered_at = np.where(
        unanswered, np.nan, sent + rng.uniform(0.05, NPS_ANSWER_DAYS - 4, (n, k_max))
    )
    mean = np.array([8.3, 7.4, 6.0])[t][:, None] - 2.0 * cooling
    score = np.clip(np.rint(mean + 1.6 * rng.standard_normal((n, k_max))), 0, 10)
    obs_week = np.floor((sent + NPS_ANSWER_DAYS) / 7).astype(np.int64)
    rows = np.repeat(np.arange(n)[:, None], k_max, axis=1)
    sel = cooling & (sent <= grid.end_day + 1)
    first = obs_week[sel] + 1 + lead
    hazard = range_mask(n, grid.n_weeks, rows[sel], first, first + window)
    keep = sent <= grid.end_day + 1
    surveys = pd.DataFrame(
        {
            "acct": rows[keep],
            "seq": np.repeat(np.arange(k_max)[None, :], n, axis=0)[keep],
            "sent_day": sent[keep],
            "answered_day": answered_at[keep],
            "nps_score": np.where(unanswered, np.nan, score)[keep],
            "cooling": cooling[keep],
        }
    )
    return surveys, hazard


def draw_csm_changes(rng, grid: Grid, acc: pd.DataFrame, lead: int, window: int):
    """Initial CSM at signup plus random reassignments; returns (assignments, hazard)."""
    n = len(acc)
    signup = acc["signup_day"].to_numpy()
    sw = signup // 7
    change = rng.random((n, grid.n_weeks)) < CSM_CHANGE_RATE
    change &= np.arange(grid.n_weeks)[None, :] > (sw + 2)[:, None]
    rows, weeks = np.nonzero(change)
    lo = np.array([CSM_POOLS[s][0] for s in acc["segment"]])
    hi = np.array([CSM_POOLS[s][1] for s in acc["segment"]])
    first = rng.integers(lo, hi)
    days = weeks * 7 + rng.integers(0, 5, len(rows))
    shift = rng.integers(1, (hi - lo)[rows])
    # New CSM differs from the previous one: walk the pool by a non-zero step per change.
    order = np.lexsort((days, rows))
    rows, days, shift, weeks = rows[order], days[order], shift[order], weeks[order]
    cum = pd.Series(shift).groupby(rows).cumsum().to_numpy() if len(rows) else shift
    csm = lo[rows] + (first[rows] - lo[rows] + cum) % (hi - lo)[rows]
    assignments = pd.concat(
        [
            pd.DataFrame({"acct": np.arange(n), "day": signup, "csm": first, "is_change": False}),
            pd.DataFrame({"acct": rows, "day": days, "csm": csm, "is_change": True}),
        ],
        ignore_index=True,
    ).sort_values(["acct", "day"], kind="stable", ignore_index=True)
    hazard = range_mask(n, grid.n_weeks, rows, weeks + 1 + lead, weeks + 1 + lead + window)
    return assignments, hazard


def simulate_block(rng: np.random.Generator, spec: Spec, grid: Grid, first: int, n: int) -> Block:
    """All latent state for accounts `first .. first + n - 1`."""
    eff = spec.effects
    acc = draw_accounts(rng, spec, grid, first, n)
    users = draw_users(rng, acc)
    renew = renewal_days(grid, acc)
    seats_after, users = seat_changes(rng, grid, acc, users, renew)
    seats_w = seats_by_week(grid, acc, renew, seats_after)
    activated_w = activated_by_week(grid, n, users)
    adoption, breadth = adoption_curves(rng, grid, acc)
    milestones = draw_milestones(rng, acc, users)
    kp = eff["key_person_activity_change"]
    kp_quiet, x_kp = key_person_episodes(
        rng, grid, acc, int(kp["lead_weeks"]), int(kp["window_weeks"])
    )
    nps = eff["nps_unanswered"]
    surveys, x_nps = draw_surveys(rng, grid, acc, int(nps["lead_weeks"]), int(nps["window_weeks"]))
    csm = eff["csm_changed_recently"]
    csm_changes, x_csm = draw_csm_changes(
        rng, grid, acc, int(csm["lead_weeks"]), int(csm["window_weeks"])
    )
    ws = grid.week_start_day()[None, :]
    signup = acc["signup_day"].to_numpy()[:, None]
    tenure = np.floor((ws - signup) / 7)
    lic = eff["license_activation_rate"]
    x_lic = (tenure >= ONBOARDING_PERIOD_WEEKS) & (activated_w / seats_w < lic["threshold"])
    onb = eff["days_to_onboarding"]
    d_onb = milestones.loc[milestones["milestone"] == "onboarding_complete", "days_to_onboarding"]
    d_onb = np.nan_to_num(d_onb.to_numpy(), nan=np.inf)[:, None]
    x_onb = (d_onb > onb["threshold"]) & (ws > signup + onb["threshold"])
    x = {
        "key_person_activity_change": x_kp,
        "nps_unanswered": x_nps,
        "csm_changed_recently": x_csm,
        "license_activation_rate": x_lic,
        "days_to_onboarding": x_onb,
    }
    seg_hr = libm.log([spec.segment_hazard[s] for s in SEGMENTS])
    log_mult = np.repeat(seg_hr[acc["seg"].to_numpy()][:, None], grid.n_weeks, axis=1)
    for key, mat in x.items():
        log_mult = log_mult + math.log(eff[key]["hazard_ratio"]) * mat
    return Block(
        accounts=acc,
        users=users,
        renew_day=renew,
        seats_after=seats_after,
        adoption=adoption,
        breadth=breadth,
        kp_quiet=kp_quiet,
        surveys=surveys,
        csm_changes=csm_changes,
        milestones=milestones,
        x=x,
        log_mult=log_mult,
    )
