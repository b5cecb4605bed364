"""The same definitions on DuckDB and on Spark (SQLGlot-transpiled) give the same panel.

Three accounts exercise every block: a1 (panel_world: every optional table, hand-checked
in tests/indicators), a2 (annual, renewed with a downgrade, then churned) and a3 (monthly,
cancelled mid-term, events across the churn week and a Sunday-night UTC edge).
"""

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "indicators"))
from panel_world import frame, full_tables  # noqa: E402

from churnlab.indicators.blocks import Settings  # noqa: E402
from churnlab.panel.engines import finish, run_duckdb, run_spark, spark_session  # noqa: E402
from churnlab.panel.query import (  # noqa: E402
    panel_sql,
    panel_steps,
    select_indicators,
    to_spark,
)

pytestmark = pytest.mark.spark


def three_accounts():
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


@pytest.fixture(scope="module")
def spark():
    session = spark_session(master="local[1]")
    yield session
    session.stop()


def test_transpiled_sql_is_spark_sql():
    sql = to_spark(panel_sql(select_indicators(set(full_tables())), Settings()))
    assert "EXPLODE(SEQUENCE(" in sql and "UNIX_TIMESTAMP(" in sql and "generate_series" not in sql


@pytest.mark.parametrize(
    "tables",
    ["all", "required_only"],
)
def test_duckdb_and_spark_panels_are_identical(spark, tables):
    data = three_accounts()
    if tables == "required_only":
        data = {k: data[k] for k in ("accounts", "contracts", "events")}
    steps = panel_steps(select_indicators(set(data)), Settings(as_of="2025-03-31"))
    duck = finish(run_duckdb(data, steps))
    spk = finish(run_spark(spark, data, steps))
    assert len(duck) > 100 and duck["event"].sum() == 2  # a2 and a3 churn
    pd.testing.assert_frame_equal(duck, spk, check_exact=False, rtol=1e-12)
