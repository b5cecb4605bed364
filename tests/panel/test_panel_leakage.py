"""No leakage: changing or deleting any raw data at or after week w never changes week w.

Hypothesis draws small companies (two accounts, every optional table) and a cut week w, then
perturbs everything known only from w's Monday on: deletes or rewrites later events, tickets,
surveys, touchpoints, CSM assignments and milestones, moves or blanks later answers,
responses and activations, adds new later rows and changes contracts that start after w.
Every row up to and including week w must stay identical (all columns but `event`, which is
the outcome and may legitimately depend on the future). The same property holds for random
user-defined indicators (panel.indicators_file), compiled through the same SQL path.
"""

import random
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "indicators"))
from panel_world import CONTRACT_COLUMNS, CONTRACT_DATE_COLUMNS, build, frame  # noqa: E402

from churnlab.indicators.user import (  # noqa: E402
    compile_user_indicators,
    parse_user_indicators,
)

T0 = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday
AS_OF = "2024-03-31"  # 13 weeks
ACCOUNTS = ["a1", "a2"]
USERS = {"a1": ["u1", "u2", "u3"], "a2": ["v1", "v2"]}
EVENT_TYPES = ["login", "report_view", "dashboard", "data_export", "automation"]

acct = st.sampled_from(ACCOUNTS)
minute = st.integers(0, 90 * 24 * 60 - 1)  # any minute of the 13 weeks
events_st = st.lists(
    st.tuples(acct, st.integers(0, 2), minute, st.sampled_from(EVENT_TYPES)), max_size=40
)
tickets_st = st.lists(
    st.tuples(
        acct,
        minute,
        st.one_of(st.none(), st.integers(1, 400)),  # hours to first response
        st.sampled_from(["bug", "question", "feature_request", "billing"]),
    ),
    max_size=8,
)
surveys_st = st.lists(
    st.tuples(acct, minute, st.one_of(st.none(), st.integers(0, 30)), st.integers(0, 10)),
    max_size=5,
)
touch_st = st.lists(
    st.tuples(
        acct,
        minute,
        st.sampled_from(
            ["meeting", "decision_maker_meeting", "training", "event_attendance", "qbr"]
        ),
    ),
    max_size=8,
)
csm_st = st.lists(
    st.tuples(acct, st.integers(0, 89), st.sampled_from(["k1", "k2", "k3"])), max_size=5
)
milestone_st = st.lists(
    st.tuples(
        acct,
        st.sampled_from(
            ["first_login", "onboarding_complete", "training_complete", "goal_achieved"]
        ),
        minute,
    ),
    max_size=6,
)
users_st = st.lists(st.one_of(st.none(), minute), min_size=5, max_size=5)
roles_st = st.lists(st.sampled_from(["admin", "key_person", "member"]), min_size=5, max_size=5)
contracts_st = st.tuples(
    st.integers(0, 20),  # a1 start day
    st.integers(0, 30),  # a2 start day
    st.integers(14, 80),  # a1 change (renewal/downgrade) day after its start
    st.sampled_from(["monthly", "annual"]),
)


def at(minutes):
    return T0 + pd.Timedelta(minutes=int(minutes))


def company(ev, tk, sv, tp, cs, ms, act, roles, ct):
    a1_start, a2_start, a1_change, a2_period = ct
    change = a1_start + a1_change
    day = pd.Timestamp("2024-01-01")
    contracts = frame(
        [
            (
                "c1",
                "a1",
                day + pd.Timedelta(days=a1_start),
                day + pd.Timedelta(days=change),
                "monthly",
                "pro",
                100.0,
                5,
                None,
                None,
            ),
            (
                "c2",
                "a1",
                day + pd.Timedelta(days=change),
                None,
                "monthly",
                "lite",
                60.0,
                3,
                None,
                None,
            ),
            (
                "c3",
                "a2",
                day + pd.Timedelta(days=a2_start),
                None,
                a2_period,
                "pro",
                200.0,
                4,
                None,
                None,
            ),
        ],
        CONTRACT_COLUMNS,
        date_cols=CONTRACT_DATE_COLUMNS,
    )
    accounts = frame(
        [
            ("a1", "A", "2023-12-01", "smb", "done_for_me", "eu"),
            ("a2", "B", "2023-12-01", "mid_market", "learn_myself", "us"),
        ],
        ["account_id", "name", "signup_date", "segment", "customer_goal", "region"],
        date_cols=["signup_date"],
    )
    all_users = [(a, u) for a in ACCOUNTS for u in USERS[a]]
    users = frame(
        [
            (u, a, roles[i], T0 - pd.Timedelta(days=30), None if act[i] is None else at(act[i]))
            for i, (a, u) in enumerate(all_users)
        ],
        ["user_id", "account_id", "role", "invited_at", "activated_at"],
        ts_cols=["invited_at", "activated_at"],
    )
    events = frame(
        [(a, USERS[a][k % len(USERS[a])], at(m), e) for a, k, m, e in ev],
        ["account_id", "user_id", "occurred_at", "event_type"],
        ts_cols=["occurred_at"],
    )
    tickets = frame(
        [
            (f"t{i}", a, at(m), None if h is None else at(m) + pd.Timedelta(hours=h), None, c)
            for i, (a, m, h, c) in enumerate(tk)
        ],
        ["ticket_id", "account_id", "opened_at", "first_response_at", "closed_at", "category"],
        ts_cols=["opened_at", "first_response_at", "closed_at"],
    )
    surveys = frame(
        [
            (
                f"s{i}",
                a,
                USERS[a][0],
                at(m),
                None if d is None else at(m) + pd.Timedelta(days=d),
                None if d is None else float(score),
            )
            for i, (a, m, d, score) in enumerate(sv)
        ],
        ["survey_id", "account_id", "user_id", "sent_at", "answered_at", "nps_score"],
        ts_cols=["sent_at", "answered_at"],
    )
    surveys["nps_score"] = surveys["nps_score"].astype("float64")
    touchpoints = frame(
        [(a, at(m), k, "k1") for a, m, k in tp],
        ["account_id", "occurred_at", "kind", "csm_id"],
        ts_cols=["occurred_at"],
    )
    csm = frame(
        [(a, c, day + pd.Timedelta(days=d), None) for a, d, c in cs],
        ["account_id", "csm_id", "start_date", "end_date"],
        date_cols=["start_date", "end_date"],
    )
    milestones = frame(
        [(a, name, at(m)) for a, name, m in ms],
        ["account_id", "milestone", "achieved_at"],
        ts_cols=["achieved_at"],
    )
    return {
        "accounts": accounts,
        "contracts": contracts,
        "events": events,
        "users": users,
        "tickets": tickets,
        "surveys": surveys,
        "touchpoints": touchpoints,
        "csm_assignments": csm,
        "milestones": milestones,
    }


def _later(rnd, ws, ts):
    """A random time at or after ws, and at or after ts when ts is later still."""
    base = max(ws, ts) if ts is not None and not pd.isna(ts) else ws
    return base + pd.Timedelta(minutes=rnd.randrange(0, 30 * 24 * 60))


def _set_times(df, mask, col, values):
    df.loc[mask, col] = pd.Series(pd.to_datetime(values, utc=True), index=df.index[mask])


def perturb(tables, ws, rnd):
    """Rewrite everything known only at or after ws (a UTC Monday)."""
    t = {k: v.copy() for k, v in tables.items()}
    wsd = ws.tz_localize(None)

    def rows_from(df, col, cut):
        keep = ~(df[col] >= cut) | pd.Series(
            [rnd.random() < 0.5 for _ in range(len(df))], index=df.index
        )
        return df[keep].copy()

    ev = rows_from(t["events"], "occurred_at", ws)
    late = ev["occurred_at"] >= ws
    ev.loc[late, "event_type"] = [rnd.choice(EVENT_TYPES) for _ in range(int(late.sum()))]
    extra = [
        (a, rnd.choice(USERS[a]), _later(rnd, ws, None), rnd.choice(EVENT_TYPES))
        for a in ACCOUNTS
        for _ in range(3)
    ]
    ev = pd.concat([ev, frame(extra, list(ev.columns), ts_cols=["occurred_at"])], ignore_index=True)
    t["events"] = ev

    u = t["users"]
    late = u["activated_at"] >= ws
    _set_times(
        u,
        late,
        "activated_at",
        [pd.NaT if rnd.random() < 0.5 else _later(rnd, ws, None) for _ in range(int(late.sum()))],
    )

    tk = rows_from(t["tickets"], "opened_at", ws)
    late = tk["first_response_at"] >= ws
    _set_times(
        tk,
        late,
        "first_response_at",
        [pd.NaT if rnd.random() < 0.3 else _later(rnd, ws, o) for o in tk.loc[late, "opened_at"]],
    )
    # A ticket opened before ws and still unanswered may get an answer after ws.
    open_ = tk["first_response_at"].isna() & (tk["opened_at"] < ws)
    _set_times(
        tk, open_, "first_response_at", [_later(rnd, ws, None) for _ in range(int(open_.sum()))]
    )
    tk.loc[tk["opened_at"] >= ws, "category"] = "feature_request"
    t["tickets"] = tk

    sv = rows_from(t["surveys"], "sent_at", ws)
    late = (sv["answered_at"] >= ws) | sv["answered_at"].isna()
    _set_times(
        sv,
        late,
        "answered_at",
        [pd.NaT if rnd.random() < 0.5 else _later(rnd, ws, s) for s in sv.loc[late, "sent_at"]],
    )
    sv.loc[late, "nps_score"] = [float(rnd.randrange(11)) for _ in range(int(late.sum()))]
    sv.loc[sv["answered_at"].isna(), "nps_score"] = None
    t["surveys"] = sv

    tp = rows_from(t["touchpoints"], "occurred_at", ws)
    tp.loc[tp["occurred_at"] >= ws, "kind"] = "decision_maker_meeting"
    t["touchpoints"] = tp

    cs = rows_from(t["csm_assignments"], "start_date", wsd)
    cs.loc[cs["start_date"] >= wsd, "csm_id"] = "k9"
    t["csm_assignments"] = cs

    ms = rows_from(t["milestones"], "achieved_at", ws)
    t["milestones"] = ms

    ct = t["contracts"]
    later_start = (ct["start_date"] > wsd) & (ct["contract_id"] == "c2")
    ct.loc[later_start, "mrr"] = 999.0
    ct.loc[later_start, "seats"] = 77
    return t


def check_no_leakage(ev, tk, sv, tp, cs, ms, act, roles, ct, cuts, seed, user=()):
    tables = company(ev, tk, sv, tp, cs, ms, act, roles, ct)
    before = build(tables, as_of=AS_OF, user=user)
    cols = [c for c in before.columns if c != "event"]
    for cut in sorted(set(cuts)):
        ws = T0 + pd.Timedelta(weeks=cut)
        after = build(perturb(tables, ws, random.Random(seed + cut)), as_of=AS_OF, user=user)
        upto = ws.tz_localize(None)
        a = before.loc[before["week_start"] <= upto, cols].reset_index(drop=True)
        b = after.loc[after["week_start"] <= upto, cols].reset_index(drop=True)
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, obj=f"rows up to {upto.date()}")


WORLD = dict(
    ev=events_st,
    tk=tickets_st,
    sv=surveys_st,
    tp=touch_st,
    cs=csm_st,
    ms=milestone_st,
    act=users_st,
    roles=roles_st,
    ct=contracts_st,
    cuts=st.lists(
        st.integers(4, 12), min_size=2, max_size=2
    ),  # every account has started by week 4
    seed=st.integers(0, 2**16),
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**WORLD)
def test_rows_up_to_week_w_ignore_everything_from_w_on(**world):
    check_no_leakage(**world)


@pytest.mark.e2e
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**WORLD)
def test_no_leakage_many_worlds(**world):
    """The same property on many more worlds (80 worlds x 3 builds: ~2 min on this shared machine)."""
    check_no_leakage(**world)


# Random user definitions (panel.indicators_file): any table with a time column, any
# measure it supports, filters on the values the worlds use, windows 1-6; then ratios and
# changes of them or of built-ins.
USER_SOURCES = {
    # table: (time columns, filterable column -> values, has user_id)
    "events": (["occurred_at"], {"event_type": EVENT_TYPES, "user_id": ["u1", "v2"]}, True),
    "tickets": (
        ["opened_at", "first_response_at"],
        {"category": ["bug", "question", "feature_request", "billing"]},
        False,
    ),
    "surveys": (["sent_at", "answered_at"], {"account_id": ACCOUNTS}, True),
    "touchpoints": (
        ["occurred_at"],
        {"kind": ["meeting", "decision_maker_meeting", "training", "event_attendance", "qbr"]},
        False,
    ),
    "milestones": (
        ["achieved_at"],
        {"milestone": ["first_login", "onboarding_complete", "training_complete"]},
        False,
    ),
    "users": (["activated_at", "invited_at"], {"role": ["admin", "key_person", "member"]}, True),
    "csm_assignments": (["start_date"], {"csm_id": ["k1", "k2", "k3"]}, False),
}


@st.composite
def measure_def(draw, i):
    table = draw(st.sampled_from(sorted(USER_SOURCES)))
    times, filters, has_user = USER_SOURCES[table]
    measures = ["count", "active_days", "weeks_since_last"]
    if has_user:
        measures += ["distinct_users", "share_of_users_active"]
    entry = {"id": f"m{i}", "from": table, "measure": draw(st.sampled_from(measures))}
    entry["time_column"] = draw(st.sampled_from(times))
    if entry["measure"] != "weeks_since_last":
        entry["window_weeks"] = draw(st.integers(1, 6))
    if draw(st.booleans()):
        column = draw(st.sampled_from(sorted(filters)))
        values = draw(st.lists(st.sampled_from(filters[column]), min_size=1, max_size=3))
        entry["where"] = {column: [v.upper() if draw(st.booleans()) else v for v in values]}
    return entry


@st.composite
def user_defs(draw):
    entries = [draw(measure_def(i)) for i in range(draw(st.integers(1, 4)))]
    ids = [e["id"] for e in entries] + ["weekly_active_users", "tickets_opened", "mrr_change"]
    for k in range(draw(st.integers(0, 2))):
        num, den = draw(st.lists(st.sampled_from(ids), min_size=2, max_size=2, unique=True))
        entries.append({"id": f"r{k}", "ratio_of": [num, den]})
        ids.append(f"r{k}")
    if draw(st.booleans()):
        entries.append({"id": "c0", "change_of": draw(st.sampled_from(ids))})
    return compile_user_indicators(parse_user_indicators({"indicators": entries}, "random.yaml"))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**WORLD, user=user_defs())
def test_user_indicators_ignore_everything_from_w_on(**world):
    assert world["user"]
    check_no_leakage(**world)


@pytest.mark.e2e
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**WORLD, user=user_defs())
def test_user_indicators_no_leakage_many_worlds(**world):
    """The property on 40 more worlds with random user definitions (~1.5 min here)."""
    check_no_leakage(**world)


def test_leakage_check_is_sensitive():
    """Guard against a vacuous property: data just before w does change week w."""
    tables = company(
        [("a1", 0, 7 * 24 * 60 - 10, "login")],
        [],
        [],
        [],
        [],
        [],
        [None] * 5,
        ["member"] * 5,
        (0, 0, 60, "monthly"),
    )
    ws = T0 + pd.Timedelta(weeks=1)
    p = build(tables, as_of=AS_OF)
    row = p[(p["account_id"] == "a1") & (p["week_start"] == ws.tz_localize(None))]
    assert row["weekly_active_users"].item() == 1
    moved = {k: v.copy() for k, v in tables.items()}
    moved["events"]["occurred_at"] = ws  # the same login at w's Monday 00:00
    p2 = build(moved, as_of=AS_OF)
    row2 = p2[(p2["account_id"] == "a1") & (p2["week_start"] == ws.tz_localize(None))]
    assert row2["weekly_active_users"].item() == 0
