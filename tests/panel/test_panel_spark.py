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
from panel_world import (  # noqa: E402
    FOREIGN_VOCABULARY,
    foreign_tables,
    full_tables,
    three_accounts,
    with_history,
)

from churnlab.indicators.blocks import Settings  # noqa: E402
from churnlab.indicators.user import compile_user_indicators, parse_user_indicators  # noqa: E402
from churnlab.indicators.vocabulary import vocabulary_from_params  # noqa: E402
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
    sql = to_spark(panel_sql(select_indicators(set(full_tables())), Settings(as_of="2024-02-14")))
    assert "EXPLODE(SEQUENCE(" in sql and "UNIX_MICROS(" in sql and "generate_series" not in sql


@pytest.mark.parametrize(
    "tables",
    ["all", "required_only"],
)
def test_duckdb_and_spark_panels_are_identical(spark, tables):
    data = three_accounts()
    if tables == "required_only":
        data = {k: data[k] for k in ("accounts", "contracts", "events")}
    steps = panel_steps(select_indicators(set(data)), Settings(as_of="2025-03-31"))
    data = with_history(data, "2025-03-31")
    duck = finish(run_duckdb(data, steps))
    spk = finish(run_spark(spark, data, steps))
    assert len(duck) > 100 and duck["event"].sum() == 2  # a2 and a3 churn
    pd.testing.assert_frame_equal(duck, spk, check_exact=False, rtol=1e-12)


USER = {
    "indicators": [
        {
            "id": "exports_3w",
            "from": "events",
            "where": {"event_type": ["CSV\\export", "Report Viewed"]},
            "measure": "count",
            "window_weeks": 3,
        },
        {"id": "users_2w", "from": "events", "measure": "distinct_users", "window_weeks": 2},
        {"id": "days_5w", "from": "events", "measure": "active_days", "window_weeks": 5},
        {
            "id": "since_exec",
            "from": "touchpoints",
            "where": {"kind": ["exec's sync"]},
            "measure": "weeks_since_last",
        },
        {
            "id": "champion_share",
            "from": "events",
            "where": {"user_id": ["w1", "X2"]},
            "measure": "share_of_users_active",
            "window_weeks": 4,
        },
        {
            "id": "answered",
            "from": "surveys",
            "time_column": "answered_at",
            "where": {"nps_score": [9, None]},
            "measure": "count",
            "window_weeks": 8,
        },
        {"id": "per_user", "ratio_of": ["exports_3w", "users_2w"]},
        {"id": "per_seat_change", "change_of": "seat_utilisation"},
        {"id": "per_user_change", "change_of": "per_user"},
    ]
}


def test_duckdb_and_spark_agree_on_user_indicators_and_foreign_words(spark):
    """User indicators and vocabulary literals (a quote, a backslash, non-ASCII) transpile."""
    user = compile_user_indicators(parse_user_indicators(USER, "indicators.yaml"))
    data = foreign_tables()
    s = Settings(as_of="2025-03-31", vocabulary=vocabulary_from_params(FOREIGN_VOCABULARY))
    steps = panel_steps(select_indicators(set(data), user), s)
    data = with_history(data, "2025-03-31")
    duck = finish(run_duckdb(data, steps))
    spk = finish(run_spark(spark, data, steps))
    assert duck["exports_3w"].sum() > 0 and duck["since_exec"].nunique() > 3
    assert duck["data_exports"].sum() > 0 and duck["weeks_since_meeting"].nunique() > 3
    pd.testing.assert_frame_equal(duck, spk, check_exact=False, rtol=1e-12)


def test_spark_stage_reads_and_writes_parquet_files_like_duckdb(spark, tmp_path, monkeypatch):
    """engine: spark reads the interim Parquet (pandas' nanosecond timestamps) on the
    executors and writes panel.parquet as a folder of parts; read back, it is DuckDB's file
    (values to 1e-12, week_start to the microsecond Spark keeps), and the meta is the same."""
    import copy
    import json

    from panel_world import write_interim  # noqa: PLC0415

    from churnlab.config import load_params
    from churnlab.panel import stage

    monkeypatch.chdir(tmp_path)
    write_interim(tmp_path / "data/interim", three_accounts(), "2025-03-31")
    params = copy.deepcopy(load_params(Path(__file__).resolve().parents[2] / "params.yaml"))
    params["panel"]["indicators_file"] = "absent.yaml"
    runs = {}
    for engine in ("duckdb", "spark"):
        params["panel"]["engine"] = engine
        stage.run(params)
        out = tmp_path / "data/processed/panel.parquet"
        runs[engine] = (
            pd.read_parquet(out),
            json.loads((tmp_path / "data/processed/panel_meta.json").read_text()),
            out.is_dir(),
        )
    (duck, duck_meta, duck_dir), (spk, spk_meta, spk_dir) = runs["duckdb"], runs["spark"]
    assert not duck_dir and spk_dir
    assert duck_meta == spk_meta and duck_meta["n_events"] == 2
    spk["week_start"] = spk["week_start"].astype("datetime64[ns]")
    pd.testing.assert_frame_equal(duck, spk, check_exact=False, rtol=1e-12)


def test_spark_job_entry_point_writes_panel_and_meta(spark, tmp_path, monkeypatch):
    """`python -m churnlab.panel.spark_job` (what spark-submit runs): files in, files out,
    the same meta as the DuckDB stage."""
    import copy
    import json

    import yaml
    from panel_world import write_interim  # noqa: PLC0415

    from churnlab.config import load_params
    from churnlab.panel import spark_job, stage

    monkeypatch.chdir(tmp_path)
    write_interim(tmp_path / "data/interim", three_accounts(), "2025-03-31")
    params = copy.deepcopy(load_params(Path(__file__).resolve().parents[2] / "params.yaml"))
    params["panel"]["indicators_file"] = "absent.yaml"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    stage.run(params)
    spark_job.main(
        [
            "--interim",
            str(tmp_path / "data/interim"),
            "--out",
            str(tmp_path / "spark_panel"),
            "--tables-json",
            str(tmp_path / "data/interim/tables.json"),
            "--params",
            str(tmp_path / "params.yaml"),
            "--meta",
            str(tmp_path / "spark_meta.json"),
        ]
    )
    duck_meta = json.loads((tmp_path / "data/processed/panel_meta.json").read_text())
    # the label check reads local files with DuckDB: the stage runs it, spark-submit does not
    duck_meta.pop("label_warnings")
    assert json.loads((tmp_path / "spark_meta.json").read_text()) == duck_meta
    spk = pd.read_parquet(tmp_path / "spark_panel")
    assert len(spk) == duck_meta["n_rows"] and list(spk.columns)[:2] == ["account_id", "week_start"]
