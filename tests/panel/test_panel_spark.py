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
from panel_world import full_tables, three_accounts  # noqa: E402

from churnlab.indicators.blocks import Settings  # noqa: E402
from churnlab.panel.engines import finish, run_duckdb, run_spark, spark_session  # noqa: E402
from churnlab.panel.query import (  # noqa: E402
    panel_sql,
    panel_steps,
    select_indicators,
    to_spark,
)

# Spark local mode takes ~0.5-3 min here (JVM start, ~35 small jobs): also marked e2e.
pytestmark = [pytest.mark.spark, pytest.mark.e2e]


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
