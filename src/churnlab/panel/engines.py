"""Run the panel query on DuckDB (default, embedded) or on Spark (same SQL, transpiled).

Sources are interim tables given either as DataFrames (tests, notebooks) or as Parquet
paths (the stage; DuckDB then streams the files instead of loading them into pandas).
Both engines run in UTC so timestamp -> date casts agree, and both results go through
`finish()` so the two panels compare equal row for row.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churnlab.indicators.blocks import ACCOUNT_SLICEABLE_STEPS, EPOCH_MONDAY
from churnlab.panel.query import STATIC_COLUMNS, to_spark

Source = pd.DataFrame | str | Path
ID_COLUMNS = ("account_id", "week_start", "spell", "start", "stop", "event")
STRING_COLUMNS = ("account_id", "segment", "customer_goal", "region", "plan", "billing_period")
INT_COLUMNS = ("spell", "start", "stop", "event", "tenure_weeks")


def finish(raw: pd.DataFrame) -> pd.DataFrame:
    """Engine output -> CONTRACTS §3 panel: week_start from the week index, fixed dtypes,
    column order and row order (already sorted by the SQL; re-sorted only if not)."""
    df = raw.drop(columns="wk")
    df.insert(1, "week_start", pd.Timestamp(EPOCH_MONDAY) + pd.to_timedelta(7 * raw["wk"], "D"))
    df["week_start"] = df["week_start"].astype("datetime64[ns]")
    for col in STRING_COLUMNS:
        if df[col].dtype != object or df[col].isna().any():
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    for col in INT_COLUMNS:
        df[col] = df[col].astype("int64")
    value_cols = [c for c in df.columns if c not in (*ID_COLUMNS, *STRING_COLUMNS, *INT_COLUMNS)]
    for col in value_cols:
        df[col] = df[col].astype("float64")
    order = [*ID_COLUMNS, *STATIC_COLUMNS, "tenure_weeks"]
    order += [c for c in df.columns if c not in order]
    df = df[order]
    if not _sorted(df["account_id"], raw["wk"]):
        df = df.sort_values(["account_id", "week_start"], kind="stable")
    return df.reset_index(drop=True)


def _sorted(account: pd.Series, week: pd.Series) -> bool:
    """Rows ordered by (account, week)? O(n) instead of an O(n log n) string sort."""
    acc = account.to_numpy()
    wk = week.to_numpy()
    if len(acc) < 2:
        return True
    same = acc[1:] == acc[:-1]
    up = acc[1:] > acc[:-1]
    return bool(np.all(up | (same & (wk[1:] > wk[:-1]))))


def run_duckdb(
    sources: dict[str, Source],
    sql: str | list[tuple[str, str]],
    threads: int = 2,
    memory_limit: str = "4GB",
    temp_directory: str | None = None,
    events_chunks: int | None = None,
) -> pd.DataFrame:
    """Run DuckDB SQL over the sources; returns the raw result as a DataFrame.

    `sql` is one query or a list of named steps (`panel_steps`). Steps run one by one into
    temp tables, each dropped once no later step reads it: DuckDB would otherwise inline a
    CTE at every use (the events aggregates are read three times) and keep it all in memory.

    The steps in ACCOUNT_SLICEABLE_STEPS (the raw-event scans, grouped by account_id) run
    in `events_chunks` slices of accounts (default: one per ~17M events) appended into one
    table: the per-user-week aggregation is the memory peak and its hash table shrinks with
    the slice. Exact because those steps group by account_id (tests/panel checks chunked ==
    unchunked); other steps reading events (e.g. user indicators over events) see all of them.
    """
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET preserve_insertion_order = false")
        if temp_directory:
            con.execute(f"SET temp_directory = '{temp_directory}'")
        # Spark's ADD_MONTHS (clamps to the month end), so the SQL reads the same on both.
        con.execute(
            "CREATE MACRO add_months(d, k) AS CAST(d + to_months(CAST(k AS INTEGER)) AS DATE)"
        )
        relations = {}
        for name, src in sources.items():
            if isinstance(src, pd.DataFrame):
                con.register(f"_src_{name}", src)
                relations[name] = f"SELECT * FROM _src_{name}"
            else:
                path = str(src).replace("'", "''")
                relations[name] = f"SELECT {_micros_select(src)} FROM read_parquet('{path}')"
            con.execute(f"CREATE VIEW {name} AS {relations[name]}")
        if isinstance(sql, str):
            return con.execute(sql).df()
        chunks = events_chunks or _default_chunks(sources.get("events"))
        for i, (name, step) in enumerate(sql[:-1]):
            if chunks > 1 and name in ACCOUNT_SLICEABLE_STEPS and "events" in relations:
                for k in range(chunks):
                    con.execute(
                        f"CREATE OR REPLACE VIEW events AS SELECT * FROM ({relations['events']}) e "
                        f"WHERE hash(account_id) % {chunks} = {k}"
                    )
                    verb = f"CREATE TEMP TABLE {name} AS" if k == 0 else f"INSERT INTO {name}"
                    con.execute(f"{verb} {step}")
                con.execute(f"CREATE OR REPLACE VIEW events AS {relations['events']}")
            else:
                con.execute(f"CREATE TEMP TABLE {name} AS {step}")
            for done, _ in sql[: i + 1]:
                if not any(_reads(later, done) for _, later in sql[i + 1 :]):
                    con.execute(f"DROP TABLE IF EXISTS {done}")
        return con.execute(sql[-1][1]).df()
    finally:
        con.close()


EVENTS_PER_CHUNK = 17_000_000  # 50M events -> 3 slices: 2.6 GB peak vs 4.0 unsliced, as fast


def _default_chunks(events: Source | None) -> int:
    if events is None:
        return 1
    n = len(events) if isinstance(events, pd.DataFrame) else pq.read_metadata(events).num_rows
    return max(1, -(-n // EVENTS_PER_CHUNK))


def _micros_select(path: Source) -> str:
    """Select list casting nanosecond timestamps (pandas-written Parquet) to microseconds:
    DuckDB's epoch() has no TIMESTAMP_NS / TIMESTAMPTZ_NS overload."""
    cols = []
    for field in pq.read_schema(path):
        quoted = '"' + field.name.replace('"', '""') + '"'
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns":
            target = "TIMESTAMPTZ" if field.type.tz else "TIMESTAMP"
            cols.append(f"CAST({quoted} AS {target}) AS {quoted}")
        else:
            cols.append(quoted)
    return ", ".join(cols)


def _reads(sql: str, name: str) -> bool:
    """Whether the name occurs as a word (conservative: a column of that name counts too)."""
    return re.search(rf"\b{re.escape(name)}\b", sql) is not None


def spark_session(app_name: str = "churnlab-panel", master: str = "local[1]") -> Any:
    """A small local Spark session in UTC (tests and single-machine runs)."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _to_micros(table: pa.Table) -> pa.Table:
    """Spark cannot read nanosecond Parquet timestamps: cast them to microseconds."""
    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns":
            field = field.with_type(pa.timestamp("us", tz=field.type.tz))
        fields.append(field)
    return table.cast(pa.schema(fields), safe=False)


def run_spark(
    spark: Any, sources: dict[str, Source], duckdb_sql: str | list[tuple[str, str]]
) -> pd.DataFrame:
    """Transpile the DuckDB SQL to Spark SQL and run it on the given session.

    With a list of steps each step is transpiled on its own and checkpointed as a temp view
    (as DuckDB materialises them): one giant WITH query would recompute the spine and the
    events aggregates at every use and take minutes even on tiny data in local mode.
    """
    with tempfile.TemporaryDirectory(prefix="churnlab-spark-") as tmp:
        for name, src in sources.items():
            if isinstance(src, pd.DataFrame):
                table = pa.Table.from_pandas(src, preserve_index=False)
            else:
                table = pq.read_table(src)
            path = Path(tmp) / f"{name}.parquet"
            pq.write_table(_to_micros(table), path)
            spark.read.parquet(str(path)).createOrReplaceTempView(name)
        if isinstance(duckdb_sql, str):
            return spark.sql(to_spark(duckdb_sql)).toPandas()
        for name, step in duckdb_sql[:-1]:
            spark.sql(to_spark(step)).localCheckpoint(eager=True).createOrReplaceTempView(name)
        return spark.sql(to_spark(duckdb_sql[-1][1])).toPandas()
