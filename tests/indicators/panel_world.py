"""A tiny hand-made company for the indicator and panel tests: one account, every table.

Calendar (2024): Mon 1 Jan = week A (wk 2808), Mon 8 Jan = B, Mon 15 Jan = C, Mon 22 Jan = D,
Mon 29 Jan = E, Mon 5 Feb = F. The contract starts Wed 3 Jan, so the first panel week is A.
"""

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


def build(tables, as_of="2024-02-14", **settings):
    """Run the DuckDB panel over hand-made tables, all catalog indicators whose tables exist."""
    s = Settings(as_of=as_of, **settings)
    sql = panel_steps(select_indicators(set(tables)), s)
    return finish(run_duckdb(tables, sql, threads=1))


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
