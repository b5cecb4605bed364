"""A tiny hand-made company for the indicator and panel tests: one account, every table.

Calendar (2024): Mon 1 Jan = week A (wk 2808), Mon 8 Jan = B, Mon 15 Jan = C, Mon 22 Jan = D,
Mon 29 Jan = E, Mon 5 Feb = F. The contract starts Wed 3 Jan, so the first panel week is A.
"""

from pathlib import Path

import pandas as pd

from churnlab.indicators.blocks import Settings
from churnlab.ingest.schemas import TABLES
from churnlab.panel.engines import finish, run_duckdb
from churnlab.panel.query import panel_steps, select_indicators

CONTRACT_COLUMNS = list(TABLES["contracts"].columns)  # ingest's data contract
CONTRACT_DATE_COLUMNS = ["start_date", "end_date", "cancelled_at"]


def ts(text):
    return pd.Timestamp(text, tz="UTC")


def day(text):
    return pd.Timestamp(text)


def frame(rows, columns, ts_cols=(), date_cols=()):
    df = pd.DataFrame(rows, columns=columns)
    for c in ts_cols:
        df[c] = pd.to_datetime(df[c], utc=True).astype("datetime64[ns, UTC]")
    for c in date_cols:
        df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
    for c in columns:
        if c not in ts_cols and c not in date_cols and df[c].dtype == object:
            df[c] = df[c].astype("string")
    return df


def base_tables():
    accounts = frame(
        [("a1", "Acme", "2024-01-01", "smb", "done_for_me", "jp")],
        ["account_id", "name", "signup_date", "segment", "customer_goal", "region"],
        date_cols=["signup_date"],
    )
    contracts = frame(
        [("c1", "a1", "2024-01-03", None, "monthly", "pro", 100.0, 4, None, None)],
        CONTRACT_COLUMNS,
        date_cols=CONTRACT_DATE_COLUMNS,
    )
    contracts["seats"] = contracts["seats"].astype("Int64")
    events = frame(
        [("a1", "u1", "2024-01-01 09:00", "login")],
        ["account_id", "user_id", "occurred_at", "event_type"],
        ts_cols=["occurred_at"],
    )
    return {"accounts": accounts, "contracts": contracts, "events": events}


HISTORY_TABLES = ("contract_terms", "spells")


def simple_history(contracts, as_of):
    """contract_terms + spells the simple way, for consecutive non-overlapping histories whose
    gaps ingest would bridge: one spell per account; each row is a piece from its start to
    the next row's start (the last one to its own end); the spell ends with the last row and
    is churned if that end is on or before as_of. Rows starting after as_of are not known."""
    cut = pd.Timestamp(as_of)
    c = contracts[contracts["start_date"] <= cut].sort_values(
        ["account_id", "start_date", "contract_id"], kind="stable"
    )
    nxt = c.groupby("account_id")["start_date"].shift(-1)
    terms = pd.DataFrame(
        {
            "account_id": c["account_id"].astype(object),
            "spell": 1,
            "contract_id": c["contract_id"].astype(object),
            "start_date": c["start_date"],
            "end_date": nxt.where(nxt.notna(), c["end_date"]),
            "contract_start": c["start_date"],
            "billing_period": c["billing_period"].astype(object),
            "plan": c["plan"].astype(object).where(c["plan"].notna(), None),
            "mrr": c["mrr"].astype("float64"),
            "seats": c["seats"].astype("float64"),
        }
    ).reset_index(drop=True)
    g = c.groupby("account_id", sort=True)
    last = g.tail(1).set_index("account_id")
    end = last["end_date"]
    churned = end.notna() & (end <= cut)
    spells = pd.DataFrame(
        {
            "account_id": list(end.index),
            "spell": 1,
            "start_date": g["start_date"].min().to_numpy(),
            "end_date": end.where(churned).to_numpy(),
            "churned": churned.to_numpy(),
            "cancelled_at": last["cancelled_at"].where(churned).to_numpy(),
            "censored_reason": [None if x else "running" for x in churned],
        }
    )
    return terms, spells


def terms_frame(rows):
    """contract_terms by hand: (account_id, spell, contract_id, start, end, contract_start,
    billing_period, plan, mrr, seats)."""
    from churnlab.ingest.history import TERM_COLUMNS  # the contract ingest writes

    df = pd.DataFrame(rows, columns=TERM_COLUMNS)
    for col in ("start_date", "end_date", "contract_start"):
        df[col] = pd.to_datetime(df[col]).astype("datetime64[ns]")
    df["spell"] = df["spell"].astype("int64")
    df["mrr"] = df["mrr"].astype("float64")
    df["seats"] = df["seats"].astype("float64")
    return df


def spells_frame(rows):
    """spells by hand: (account_id, spell, start, end, churned, censored_reason)."""
    df = pd.DataFrame(
        rows,
        columns=["account_id", "spell", "start_date", "end_date", "churned", "censored_reason"],
    )
    for col in ("start_date", "end_date"):
        df[col] = pd.to_datetime(df[col]).astype("datetime64[ns]")
    df["spell"] = df["spell"].astype("int64")
    df["churned"] = df["churned"].astype(bool)
    df.insert(5, "cancelled_at", pd.Series([pd.NaT] * len(df), dtype="datetime64[ns]"))
    return df


def with_history(tables, as_of):
    """The tables plus contract_terms and spells (simple_history) unless already given."""
    if all(t in tables for t in HISTORY_TABLES):
        return tables
    terms, spells = simple_history(tables["contracts"], as_of)
    return {**tables, "contract_terms": terms, "spells": spells}


def write_interim(interim, tables, as_of, snapshot=None, as_of_source="base.as_of"):
    """Write the tables (plus derived contract_terms/spells) and a v2 tables.json into the
    interim directory, as ingest v2 does; returns the present list."""
    from churnlab.io import write_json, write_parquet

    interim = Path(interim)
    for name, df in with_history(tables, as_of).items():
        write_parquet(df, interim / f"{name}.parquet")
    present = sorted(set(tables) - set(HISTORY_TABLES))
    activity = {"events", "tickets", "surveys", "touchpoints", "milestones", "users"}
    write_json(
        interim / "tables.json",
        {
            "present": present,
            "missing_optional": [],
            "as_of": as_of,
            "as_of_source": as_of_source,
            "snapshot": not (set(present) & activity) if snapshot is None else snapshot,
        },
    )
    return present


def build(tables, as_of="2024-02-14", user=(), **settings):
    """Run the DuckDB panel over hand-made tables: every catalog indicator whose tables
    exist, plus `user` (compiled user indicators)."""
    s = Settings(as_of=as_of, **settings)
    sources = with_history(tables, as_of)
    present = set(tables) - set(HISTORY_TABLES)
    sql = panel_steps(select_indicators(present, list(user)), s)
    return finish(run_duckdb(sources, sql, threads=1))


def full_tables():
    """base_tables plus every optional table with a few hand-placed rows."""
    t = base_tables()
    t["events"] = frame(
        [
            ("a1", "u1", "2024-01-02 09:00", "login"),  # week A
            ("a1", "u1", "2024-01-02 10:00", "report_view"),
            ("a1", "u2", "2024-01-04 10:00", "login"),
            ("a1", "u1", "2024-01-09 09:00", "login"),  # week B
            ("a1", "u1", "2024-01-09 09:30", "data_export"),
            ("a1", "u1", "2024-01-10 09:30", "dashboard"),
            ("a1", "u2", "2024-01-24 08:00", "login"),  # week D
        ],
        ["account_id", "user_id", "occurred_at", "event_type"],
        ts_cols=["occurred_at"],
    )
    t["users"] = frame(
        [
            ("u1", "a1", "key_person", "2024-01-01 00:00", "2024-01-02 08:00"),
            ("u2", "a1", "member", "2024-01-01 00:00", "2024-01-04 08:00"),
            ("u3", "a1", "member", "2024-01-01 00:00", None),
        ],
        ["user_id", "account_id", "role", "invited_at", "activated_at"],
        ts_cols=["invited_at", "activated_at"],
    )
    t["tickets"] = frame(
        [
            ("t1", "a1", "2024-01-08 10:00", "2024-01-08 13:00", None, "bug"),
            ("t2", "a1", "2024-01-12 10:00", "2024-01-15 10:00", None, "feature_request"),
        ],
        ["ticket_id", "account_id", "opened_at", "first_response_at", "closed_at", "category"],
        ts_cols=["opened_at", "first_response_at", "closed_at"],
    )
    t["surveys"] = frame(
        [
            ("s1", "a1", "u1", "2024-01-02 12:00", "2024-01-20 12:00", 9.0),
            ("s2", "a1", "u1", "2024-01-16 12:00", None, None),
        ],
        ["survey_id", "account_id", "user_id", "sent_at", "answered_at", "nps_score"],
        ts_cols=["sent_at", "answered_at"],
    )
    t["touchpoints"] = frame(
        [
            ("a1", "2024-01-05 10:00", "decision_maker_meeting", "csm1"),
            ("a1", "2024-01-17 10:00", "event_attendance", "csm1"),
            ("a1", "2024-01-24 10:00", "meeting", "csm2"),
        ],
        ["account_id", "occurred_at", "kind", "csm_id"],
        ts_cols=["occurred_at"],
    )
    t["csm_assignments"] = frame(
        [("a1", "csm1", "2024-01-03", "2024-01-17"), ("a1", "csm2", "2024-01-17", None)],
        ["account_id", "csm_id", "start_date", "end_date"],
        date_cols=["start_date", "end_date"],
    )
    t["milestones"] = frame(
        [
            ("a1", "first_login", "2024-01-02 09:00"),
            ("a1", "onboarding_complete", "2024-01-11 12:00"),
            ("a1", "training_complete", "2024-01-31 12:00"),
        ],
        ["account_id", "milestone", "achieved_at"],
        ts_cols=["achieved_at"],
    )
    return t


def three_accounts():
    """a1 = full_tables(); a2 annual, renewed with a downgrade, then churned; a3 monthly,
    cancelled mid-term, with events on a Sunday-night / Monday-midnight UTC edge."""
    t = full_tables()
    t["accounts"] = pd.concat(
        [
            t["accounts"],
            frame(
                [
                    ("a2", "Bärlin GmbH", "2023-06-01", "enterprise", "learn_myself", "de"),
                    ("a3", "Café", "2023-12-01", "mid_market", "done_for_me", "fr"),
                ],
                ["account_id", "name", "signup_date", "segment", "customer_goal", "region"],
                date_cols=["signup_date"],
            ),
        ],
        ignore_index=True,
    )
    t["contracts"] = pd.concat(
        [
            t["contracts"],
            frame(
                [
                    (
                        "c2",
                        "a2",
                        "2023-02-15",
                        "2024-02-15",
                        "annual",
                        "pro",
                        500.0,
                        20,
                        None,
                        None,
                    ),
                    (
                        "c3",
                        "a2",
                        "2024-02-15",
                        "2025-02-15",
                        "annual",
                        "lite",
                        300.0,
                        10,
                        "2024-11-01",
                        "budget",
                    ),
                    (
                        "c4",
                        "a3",
                        "2023-12-20",
                        "2024-02-20",
                        "monthly",
                        None,
                        80.0,
                        3,
                        "2024-02-01",
                        "switched",
                    ),
                ],
                list(t["contracts"].columns),
                date_cols=["start_date", "end_date", "cancelled_at"],
            ),
        ],
        ignore_index=True,
    )
    t["contracts"]["seats"] = t["contracts"]["seats"].astype("Int64")
    extra_events = [
        ("a2", "w1", f"2024-01-{d:02d} 10:00", kind)
        for d in (2, 3, 9, 16, 17, 30)
        for kind in ("login", "report_view")
    ] + [
        ("a3", "x1", "2024-01-07 23:59", "login"),  # Sunday night UTC: week of Jan 1
        ("a3", "x2", "2024-01-08 00:00", "data_export"),  # Monday 00:00: week of Jan 8
        ("a3", "x1", "2024-02-19 12:00", "automation"),  # churn week
    ]
    t["events"] = pd.concat(
        [t["events"], frame(extra_events, list(t["events"].columns), ts_cols=["occurred_at"])],
        ignore_index=True,
    )
    t["tickets"] = pd.concat(
        [
            t["tickets"],
            frame(
                # sub-second times: 0.4 s -> 1.9 s is 1.5 s (not 1 or 2)
                [("t3", "a2", "2024-01-03 10:00:00.400", "2024-01-03 10:00:01.900", None, "bug")],
                list(t["tickets"].columns),
                ts_cols=["opened_at", "first_response_at", "closed_at"],
            ),
        ],
        ignore_index=True,
    )
    t["users"] = pd.concat(
        [
            t["users"],
            frame(
                [
                    ("w1", "a2", "key_person", "2023-02-15 00:00", "2023-02-16 00:00"),
                    ("x1", "a3", "admin", "2023-12-20 00:00", "2023-12-21 00:00"),
                    ("x2", "a3", "key_person", "2023-12-20 00:00", None),
                ],
                list(t["users"].columns),
                ts_cols=["invited_at", "activated_at"],
            ),
        ],
        ignore_index=True,
    )
    return t


# default label -> the foreign company's label(s); lists alternate over the rows.
RENAME = {
    "users": ("role", {"key_person": ["Champion"], "admin": ["Owner"], "member": ["Member"]}),
    "events": (
        "event_type",
        {
            "login": ["app_open", "Sign in"],
            "report_view": ["Report Viewed"],
            "data_export": ["csv\\export"],
            "dashboard": ["Dashboard"],
            "automation": ["自動化"],
        },
    ),
    "touchpoints": (
        "kind",
        {
            "meeting": ["Call"],
            "decision_maker_meeting": ["Exec's sync"],
            "event_attendance": ["Webinar"],
        },
    ),
    "milestones": (
        "milestone",
        {
            "first_login": ["First sign-in"],
            "onboarding_complete": ["Kickoff done"],
            "training_complete": ["Academy"],
        },
    ),
    "tickets": ("category", {"feature_request": ["Idea"], "bug": ["Bug"]}),
}
FOREIGN_VOCABULARY = {
    "billing_period": {"monthly": ["monthly"], "annual": ["annual"]},  # ingest's, ignored here
    "role": {"key_person": ["champion "], "admin": "Owner"},
    "event_type": {
        "login": ["APP_OPEN", "sign in"],
        "report_view": ["report viewed"],
        "data_export": ["CSV\\Export"],
    },
    "touchpoint_kind": {
        "meeting": ["Call"],
        "decision_maker_meeting": ["exec's sync"],
        "event_attendance": ["Webinar"],
        "qbr": [],
    },
    "milestone": {
        "first_login": ["First sign-in"],
        "onboarding_complete": ["Kickoff done"],
        "training_complete": ["academy"],
        "goal_achieved": ["Win"],
    },
    "ticket_category": {"feature_request": ["Idea"]},
}


def foreign_tables():
    """three_accounts() in another company's words (RENAME); FOREIGN_VOCABULARY maps them."""
    t = three_accounts()
    for table, (column, mapping) in RENAME.items():
        df = t[table].copy()
        values = df[column].astype(object).tolist()
        seen: dict[str, int] = {}
        for i, v in enumerate(values):
            if v in mapping:
                k = seen.get(v, 0)
                values[i] = mapping[v][k % len(mapping[v])]
                seen[v] = k + 1
        df[column] = pd.Series(values, index=df.index, dtype="string")
        t[table] = df
    return t
