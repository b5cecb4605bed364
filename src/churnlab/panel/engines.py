"""Run the panel query on DuckDB (default, embedded) or on Spark (same SQL, transpiled).

Sources are interim tables given either as DataFrames (tests, notebooks) or as Parquet
paths (the stage; the engine then streams the files instead of loading them into pandas).
Both engines run in UTC so timestamp -> date casts agree.

Two ways out: with `out=` the engine itself writes the CONTRACTS §3 panel to Parquet
(`write_*`: week_start from the week index, rows ordered by account and week; DuckDB writes
one file, byte-identical run to run; Spark writes a folder of parts from its executors)
and nothing passes through pandas or the Spark driver. Without it the raw result comes
back as a DataFrame (tests, notebooks) and `finish()` gives it the same shape and dtypes.
"""

from __future__ import annotations

import itertools
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from churnlab.indicators.blocks import ACCOUNT_SLICEABLE_STEPS, EPOCH_MONDAY
from churnlab.panel.query import (
    ID_COLUMNS,
    STATIC_COLUMNS,
    SUMMARY_SQL,
    summary_from_rows,
    to_spark,
)

if TYPE_CHECKING:  # pandas / pyarrow load lazily: the DuckDB file path needs neither
    import pandas as pd
    import pyarrow as pa

    Source = pd.DataFrame | str | Path


def _is_frame(src: Any) -> bool:
    return not isinstance(src, (str, Path))


STRING_COLUMNS = ("account_id", "segment", "customer_goal", "region", "plan", "billing_period")
INT_COLUMNS = ("spell", "start", "stop", "event", "tenure_weeks")


def finish(raw: pd.DataFrame) -> pd.DataFrame:
    """Engine output -> CONTRACTS §3 panel: week_start from the week index, fixed dtypes,
    column order and row order (already sorted by the SQL; re-sorted only if not)."""
    import pandas as pd

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
    import numpy as np

    acc = account.to_numpy()
    wk = week.to_numpy()
    if len(acc) < 2:
        return True
    same = acc[1:] == acc[:-1]
    up = acc[1:] > acc[:-1]
    return bool(np.all(up | (same & (wk[1:] > wk[:-1]))))


# week_start of the integer week index `wk` (Monday-based weeks since EPOCH_MONDAY), as the
# nanosecond timestamp pandas wrote before the engine wrote the file (CONTRACTS §3).
WEEK_START_DUCKDB = f"CAST(DATE '{EPOCH_MONDAY}' + CAST(7 * wk AS INTEGER) AS TIMESTAMP_NS)"
# Spark has no nanosecond type; TIMESTAMP_NTZ is written as a zone-less (micros) timestamp.
WEEK_START_SPARK = f"CAST(DATE_ADD(DATE '{EPOCH_MONDAY}', CAST(7 * wk AS INT)) AS TIMESTAMP_NTZ)"


def run_duckdb(
    sources: dict[str, Source],
    sql: str | list[tuple[str, str]],
    threads: int = 2,
    memory_limit: str = "4GB",
    temp_directory: str | None = None,
    events_chunks: int | None = None,
    out: str | Path | None = None,
    row_keys: str | None = None,
    rows_per_part: int | None = None,
) -> pd.DataFrame | None:
    """Run DuckDB SQL over the sources; returns the raw result as a DataFrame, or with
    `out` writes the finished panel there (zstd Parquet, `write_duckdb`) and returns None.

    `sql` is one query or a list of named steps (`panel_steps`). Steps run one by one into
    temp tables, each dropped once no later step reads it: DuckDB would otherwise inline a
    CTE at every use (the events aggregates are read three times) and keep it all in memory.

    The steps in ACCOUNT_SLICEABLE_STEPS (the raw-event scans, grouped by account_id) run
    in up to `events_chunks` slices of accounts (default: one per ~17M events,
    `EVENTS_PER_CHUNK`) appended into one table: the per-user-week aggregation is the memory
    peak and its hash table shrinks with the slice. The slices are contiguous account_id
    ranges (`account_slices`), so on the account-sorted events file of ingest each slice
    reads only its own row groups and the slices together read the file once. Exact because
    those steps group by account_id (tests/panel checks sliced == unsliced); other steps
    reading events (e.g. user indicators over events) see all of them.

    `row_keys` (with `out`): SQL giving (account_id, wk) of every row of the final step
    (query.PANEL_ROW_KEYS); the sorted write then runs in parts of at most `rows_per_part`
    rows (default ROWS_PER_PART) instead of one sort of the whole result (`write_duckdb`).
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
            if _is_frame(src):
                con.register(f"_src_{name}", src)
                relations[name] = f"SELECT * FROM _src_{name}"
            else:
                path = str(src).replace("'", "''")
                relations[name] = f"SELECT {_micros_select(con, path)} FROM read_parquet('{path}')"
            con.execute(f"CREATE VIEW {name} AS {relations[name]}")
        if isinstance(sql, str):
            return _duckdb_result(con, sql, out, row_keys, rows_per_part)
        chunks = events_chunks or _default_chunks(con, "events" in relations)
        slices = ["TRUE"]
        if chunks > 1 and "events" in relations:
            slices = account_slices(con, sources["events"], chunks)
        sliced = {n for n, _ in sql[:-1] if len(slices) > 1 and n in ACCOUNT_SLICEABLE_STEPS}
        plan = step_plan(sql, sliced)
        for name, step in sql[:-1]:
            if name in sliced:
                for k, where in enumerate(slices):
                    con.execute(
                        f"CREATE OR REPLACE VIEW events AS SELECT * FROM ({relations['events']}) e "
                        f"WHERE {where}"
                    )
                    verb = f"CREATE TEMP TABLE {name} AS" if k == 0 else f"INSERT INTO {name}"
                    con.execute(f"{verb} {step}")
                con.execute(f"CREATE OR REPLACE VIEW events AS {relations['events']}")
            else:
                kind = "VIEW" if name in plan.inline else "TABLE"
                con.execute(f"CREATE TEMP {kind} {name} AS {step}")
            for done in plan.drop_after.get(name, ()):
                con.execute(f"DROP TABLE {done}")
        return _duckdb_result(con, sql[-1][1], out, row_keys, rows_per_part)
    finally:
        con.close()


def _duckdb_result(
    con: Any, final: str, out: str | Path | None, row_keys: str | None, rows_per_part: int | None
) -> pd.DataFrame | None:
    if out is None:
        return con.execute(final).df()
    write_duckdb(con, final, out, row_keys, rows_per_part)
    return None


# DuckDB's default Parquet row group, named in every COPY of the panel so that the parts of
# a parted write and the one-sort file agree on it.
ROW_GROUP_SIZE = 122_880
# Rows per sorted part of the final write: 8 row groups (~1M account-weeks). The default
# company (317k rows) is one part; 100k accounts (6.4M rows) seven, which fit the default
# 4 GB DuckDB limit (4.5 GB peak RSS, benchmarks/RESULTS.md).
ROWS_PER_PART = 8 * ROW_GROUP_SIZE


def _parquet_options() -> str:
    return f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_SIZE}"


def write_duckdb(
    con: Any,
    final: str,
    out: str | Path,
    row_keys: str | None = None,
    rows_per_part: int | None = None,
) -> None:
    """COPY the panel query's result to `out` as the CONTRACTS §3 file: `wk` becomes
    week_start (second column), rows ordered by (account_id, week_start); the same bytes on
    every run (checked in tests/panel), no pandas copy.

    Without `row_keys`, or when the result has at most `rows_per_part` rows, one COPY sorts
    the whole result. Otherwise DuckDB would have to sort the whole panel at once (at 100k
    accounts, 6.4M rows, that ran out of a 4 GB memory limit): the result is cut into
    consecutive ranges of its (account_id, wk) keys (`part_bounds`), each range is computed,
    sorted and written on its own (memory bounded by the part), and the sorted parts are
    concatenated in order into `out` (`concat_parts`). The rows are the same whatever the
    cut; so are the bytes when every part but the last is a whole number of row groups,
    which `rows_per_part` a multiple of ROW_GROUP_SIZE (as ROWS_PER_PART) gives when the
    final step has one row per key (tests/panel compares the bytes with parts of 1, 2 and 3
    row groups; the default company's file is the same with 1, 3 and 8 parts).
    """
    select = (
        f"SELECT account_id, {WEEK_START_DUCKDB} AS week_start, * EXCLUDE (account_id, wk) "
        f"FROM ({final}) p"
    )
    bounds = []
    if row_keys is not None and not _row_dependent(final):
        bounds = part_bounds(con, row_keys, rows_per_part or ROWS_PER_PART)
    if not bounds:
        con.execute(
            f"COPY ({select} ORDER BY account_id, wk) TO {_literal(out)} ({_parquet_options()})"
        )
        return
    target = Path(out)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.parts-", dir=target.parent) as tmp:
        parts = []
        for k, where in enumerate(key_ranges(bounds)):
            part = Path(tmp) / f"part-{k:05d}.parquet"
            con.execute(
                f"COPY ({select} WHERE {where} ORDER BY account_id, wk) "
                f"TO {_literal(part)} ({_parquet_options()})"
            )
            parts.append(part)
        concat_parts(con, parts, target)


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _row_dependent(final: str) -> bool:
    """Whether a row of the final query may depend on other rows (a window or an
    aggregate): then it cannot be computed in key ranges and is written in one sort."""
    return re.search(r"\bOVER\s*\(|\bGROUP\s+BY\b|\bDISTINCT\b", final, re.IGNORECASE) is not None


def part_bounds(con: Any, row_keys: str, rows_per_part: int) -> list[tuple[str, int]]:
    """(account_id, wk) of the rows at positions rows_per_part, 2 * rows_per_part, ... of
    `row_keys` in (account_id, wk) order: the first key of each part after the first.
    [] when there are at most rows_per_part rows or an account_id is null (one sort then
    keeps nulls last, as ORDER BY does). Reads only the keys: one count per account, then
    one lookup per boundary."""
    n, nulls = con.execute(
        f"SELECT COUNT(*), COUNT(*) FILTER (account_id IS NULL) FROM ({row_keys}) k"
    ).fetchone()
    if n <= rows_per_part or nulls:
        return []
    positions = list(range(rows_per_part, n, rows_per_part))
    accounts = con.execute(
        f"""WITH c AS (SELECT account_id, COUNT(*) AS n FROM ({row_keys}) k GROUP BY account_id),
        s AS (SELECT account_id, n,
                     SUM(n) OVER (ORDER BY account_id ROWS UNBOUNDED PRECEDING) - n AS before
              FROM c)
        SELECT s.account_id, p.pos - s.before FROM s
        JOIN (SELECT UNNEST(?::BIGINT[]) AS pos) p ON p.pos >= s.before AND p.pos < s.before + s.n
        ORDER BY p.pos""",
        [positions],
    ).fetchall()
    bounds = []
    for account, offset in accounts:
        (wk,) = con.execute(
            f"SELECT wk FROM ({row_keys}) k WHERE account_id = ? ORDER BY wk LIMIT 1 OFFSET ?",
            [account, int(offset)],
        ).fetchone()
        bounds.append((account, int(wk)))
    return bounds


def key_ranges(bounds: list[tuple[str, int]]) -> list[str]:
    """SQL conditions on (account_id, wk) for the consecutive key ranges [-inf, b1),
    [b1, b2), ..., [bn, +inf); each also bounds account_id alone, which DuckDB carries
    through the final step's joins on account_id to every block's scan."""
    conditions = []
    edges = [None, *bounds, None]
    for lo, hi in itertools.pairwise(edges):
        parts = []
        if lo is not None:
            acc = _literal(lo[0])
            parts.append(f"account_id >= {acc}")
            parts.append(f"(account_id > {acc} OR wk >= {int(lo[1])})")
        if hi is not None:
            acc = _literal(hi[0])
            parts.append(f"account_id <= {acc}")
            parts.append(f"(account_id < {acc} OR wk < {int(hi[1])})")
        conditions.append(" AND ".join(parts))
    return conditions


def concat_parts(con: Any, parts: list[Path], out: Path) -> None:
    """Concatenate sorted Parquet parts, in order, into one file as DuckDB would have
    written the whole (same row groups and column statistics when every part but the last
    is a whole number of row groups).

    In insertion order DuckDB reads each part's row groups in vectors of 2048 rows and cuts
    a row group once ROW_GROUP_SIZE rows have arrived, so whole row groups pass through as
    they are. A column is written REQUIRED when DuckDB's statistics say it holds no null:
    for a query those come from the query, for a Parquet part from its null counts; so a
    column that is OPTIONAL in a part (e.g. from a LEFT JOIN) but holds no null is passed
    through a CASE that the optimiser cannot fold, which keeps it OPTIONAL as in one sort.
    """
    optional: set[str] = set()
    names: list[str] = []
    for part in parts:
        rows = con.execute(
            "SELECT name, repetition_type FROM parquet_schema(?) WHERE num_children IS NULL "
            "OR num_children = 0",
            [str(part)],
        ).fetchall()
        names = names or [name for name, _ in rows]
        optional |= {name for name, kind in rows if kind == "OPTIONAL"}
    columns = []
    for name in names:
        quoted = '"' + name.replace('"', '""') + '"'
        if name in optional:
            columns.append(f"CASE WHEN random() < 0 THEN NULL ELSE {quoted} END AS {quoted}")
        else:
            columns.append(quoted)
    select = ", ".join(columns)
    union = " UNION ALL ".join(f"SELECT {select} FROM read_parquet({_literal(p)})" for p in parts)
    con.execute("SET preserve_insertion_order = true")
    try:
        con.execute(f"COPY ({union}) TO {_literal(out)} ({_parquet_options()})")
    finally:
        con.execute("SET preserve_insertion_order = false")


def summarise_duckdb(path: str | Path) -> dict[str, Any]:
    """Counts and attribute values of a written panel (one file or a folder of parts), read
    by DuckDB from the file: `SUMMARY_SQL` -> `summary_from_rows`."""
    import duckdb

    target = Path(path)
    pattern = str(target / "*.parquet") if target.is_dir() else str(target)
    quoted = pattern.replace("'", "''")
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        con.execute(f"CREATE VIEW panel AS SELECT * FROM read_parquet('{quoted}')")
        return summary_from_rows(
            con.execute(SUMMARY_SQL["counts"]).fetchone(),
            con.execute(SUMMARY_SQL["attributes"]).fetchall(),
        )
    finally:
        con.close()


EVENTS_PER_CHUNK = 17_000_000  # 50M events -> 3 slices: 2.6 GB peak vs 4.0 unsliced, as fast


def account_slices(con: Any, events: Source, chunks: int) -> list[str]:
    """SQL conditions on `account_id` that split the events into at most `chunks`
    contiguous, disjoint ranges of account_id covering every row (nulls go to the first).

    Boundaries: for a Parquet file, the account_id minimum of the row group starting nearest
    each 1/chunks of the rows (footer statistics, no scan): ingest writes events sorted by
    account_id, so DuckDB skips every row group whose min/max lies outside a slice and the
    slices read the file once between them (hash slices read it once per slice: CPU grew
    like events^2, benchmarks/RESULTS.md). For a DataFrame, the event-weighted quantiles
    of account_id. Any boundaries give an exact result (the sliced steps group by
    account_id); sorted data only makes them cheap. Without usable statistics (no stats,
    account_id not text) the slices fall back to `hash(account_id) % chunks`.
    """
    described = con.execute("DESCRIBE SELECT * FROM events").fetchall()
    kind = {name: typ for name, typ, *_ in described}.get("account_id")
    bounds = None
    if kind == "VARCHAR":
        if _is_frame(events):
            bounds = _quantile_bounds(con, chunks)
        else:
            bounds = _row_group_bounds(con, str(events), chunks)
    if bounds is None:
        return [f"hash(account_id) % {chunks} = {k}" for k in range(chunks)]
    if not bounds:  # one row group, or one account holds every share of the rows
        return ["TRUE"]
    edges = [None, *("'" + b.replace("'", "''") + "'" for b in bounds), None]
    slices = []
    for lo, hi in itertools.pairwise(edges):
        parts = ([f"account_id >= {lo}"] if lo else []) + ([f"account_id < {hi}"] if hi else [])
        where = " AND ".join(parts) or "TRUE"
        slices.append(where if lo else f"({where} OR account_id IS NULL)")
    return slices


def _row_group_bounds(con: Any, path: str, chunks: int) -> list[str] | None:
    """Slice boundaries from the Parquet footer: sorted distinct row-group minima of
    account_id, one per interior 1/chunks of the rows, above the smallest minimum (an
    empty first slice is useless); [] for one slice. None when a row group has no
    statistics."""
    groups = con.execute(
        "SELECT row_group_num_rows, stats_min_value FROM parquet_metadata(?) "
        "WHERE path_in_schema = 'account_id' ORDER BY file_name, row_group_id",
        [path],
    ).fetchall()
    if not groups or any(m is None for _, m in groups):
        return None
    starts, total = [], 0
    for n, _ in groups:
        starts.append(total)
        total += n
    picks = set()
    for k in range(1, chunks):
        target = total * k / chunks
        j = min(range(1, len(groups)), key=lambda j: abs(starts[j] - target), default=None)
        if j is not None:
            picks.add(groups[j][1])
    # Python orders str by code point, as DuckDB and Parquet order text (by UTF-8 bytes).
    lowest = min(m for _, m in groups)
    return sorted(b for b in picks if b > lowest)


def _quantile_bounds(con: Any, chunks: int) -> list[str]:
    """Event-weighted account_id quantiles at 1/chunks, 2/chunks, ... above the lowest id
    (in-memory tables)."""
    qs = ", ".join(str(k / chunks) for k in range(1, chunks))
    row = con.execute(f"SELECT quantile_disc(account_id, [{qs}]) FROM events").fetchone()
    values = sorted({b for b in (row[0] or []) if b is not None})
    lowest = con.execute("SELECT MIN(account_id) FROM events").fetchone()[0]
    return [b for b in values if lowest is not None and b > lowest]


def _default_chunks(con: Any, has_events: bool) -> int:
    if not has_events:
        return 1
    n = con.execute("SELECT COUNT(*) FROM events").fetchone()[0]  # Parquet: from the footers
    return max(1, -(-n // EVENTS_PER_CHUNK))


def _micros_select(con: Any, path: str) -> str:
    """Select list casting nanosecond timestamps (pandas-written Parquet) to microseconds:
    DuckDB's epoch() has no TIMESTAMP_NS / TIMESTAMPTZ_NS overload. `path`: SQL-quoted."""
    cols = []
    for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall():
        quoted = '"' + name.replace('"', '""') + '"'
        target = {"TIMESTAMP_NS": "TIMESTAMP", "TIMESTAMPTZ_NS": "TIMESTAMPTZ"}.get(kind)
        cols.append(f"CAST({quoted} AS {target}) AS {quoted}" if target else quoted)
    return ", ".join(cols)


class StepPlan(NamedTuple):
    inline: frozenset[str]  # steps run as views, inside the one step that reads them
    drop_after: dict[str, list[str]]  # step -> temp tables no step after it reads


def step_plan(
    steps: list[tuple[str, str]], sliced: set[str] | frozenset[str] = frozenset()
) -> StepPlan:
    """How run_duckdb runs the steps before the last. A step named exactly once in the
    later steps, by a step that is neither the final one (run once per part of the write)
    nor a sliced one (run once per slice), becomes a view: DuckDB computes it inside its
    reader's plan, once, instead of writing a temp table and reading it back. The others
    are temp tables, each dropped once the last step that reads it (directly or through
    views) has run. Names are matched as words (conservative: a column of that name counts
    as a read too).
    """
    words = [Counter(re.findall(r"\w+", sql)) for _, sql in steps]
    names = [name for name, _ in steps]
    last = len(steps) - 1
    readers = {
        i: [j for j in range(i + 1, len(steps)) if words[j][name]]
        for i, name in enumerate(names[:-1])
    }
    inline = set()
    for i, name in enumerate(names[:-1]):
        reads = readers[i]
        uses = sum(words[j][name] for j in reads)
        if name not in sliced and uses == 1 and reads[0] != last and names[reads[0]] not in sliced:
            inline.add(i)
    # Where a step's result is really used: a view is used where its readers run.
    runs_at: dict[int, list[int]] = {}
    for i in reversed(range(len(names) - 1)):
        runs_at[i] = sorted({k for j in readers[i] for k in (runs_at[j] if j in inline else [j])})
    drop_after: dict[str, list[str]] = {}
    for i, name in enumerate(names[:-1]):
        if i in inline:
            continue
        used = runs_at[i]
        if not used:
            drop_after.setdefault(name, []).append(name)
        elif used[-1] != last:
            drop_after.setdefault(names[used[-1]], []).append(name)
    return StepPlan(frozenset(names[i] for i in inline), drop_after)


def spark_session(
    app_name: str = "churnlab-panel",
    master: str | None = "local[1]",
    driver_memory: str | None = "1g",
    conf: dict[str, Any] | None = None,
) -> Any:
    """A Spark session in UTC. `master` / `driver_memory` None: left to `spark-submit`
    (its --master / --driver-memory); `conf`: more Spark settings (params
    `panel.spark_conf`), applied last. Driver memory only takes effect when this call starts
    the JVM (a local run), which is why it is a setting here and not a runtime conf."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    if driver_memory:
        builder = builder.config("spark.driver.memory", str(driver_memory))
    settings = {
        "spark.sql.session.timeZone": "UTC",
        # Pandas writes nanosecond timestamps, which Spark cannot read as timestamps: read
        # them as longs and convert on the executors (read_spark_table).
        "spark.sql.legacy.parquet.nanosAsLong": "true",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if master and master.startswith("local"):
        # Small shuffles for one machine; a cluster keeps spark-submit's / its defaults.
        settings.update(
            {
                "spark.sql.shuffle.partitions": "2",
                "spark.default.parallelism": "2",
                "spark.ui.enabled": "false",
            }
        )
    settings.update({str(k): str(v) for k, v in (conf or {}).items()})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _to_micros(table: pa.Table) -> pa.Table:
    """Spark cannot read nanosecond Parquet timestamps: cast them to microseconds."""
    import pyarrow as pa

    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns":
            field = field.with_type(pa.timestamp("us", tz=field.type.tz))
        fields.append(field)
    return table.cast(pa.schema(fields), safe=False)


def spark_uri(path: str | Path) -> str:
    """A URI as is (`s3a://...`); a local path made absolute: Spark resolves relative paths
    against its JVM's working directory, not the caller's."""
    text = str(path)
    return text if "://" in text else str(Path(text).resolve())


def read_spark_table(spark: Any, path: str | Path, time_columns: frozenset[str] = frozenset()):
    """A Parquet file or folder (local or any Hadoop file system URI) as a Spark DataFrame,
    read by the executors. Columns named in `time_columns` that arrive as longs are
    nanosecond timestamps (`nanosAsLong`, see spark_session): they become timestamps by
    floor division to microseconds (exact for times before 1970 too)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    df = spark.read.parquet(spark_uri(path))
    for field in df.schema.fields:
        if field.name in time_columns and isinstance(field.dataType, LongType):
            ns = "`" + field.name.replace("`", "``") + "`"
            # `div` truncates toward zero; step down for negative remainders (floor).
            micros = f"CASE WHEN {ns} % 1000 < 0 THEN {ns} div 1000 - 1 ELSE {ns} div 1000 END"
            df = df.withColumn(field.name, F.expr(f"timestamp_micros({micros})"))
    return df


def run_spark(
    spark: Any,
    sources: dict[str, Source],
    duckdb_sql: str | list[tuple[str, str]],
    out: str | None = None,
    time_columns: dict[str, frozenset[str]] | None = None,
) -> pd.DataFrame | None:
    """Transpile the DuckDB SQL to Spark SQL and run it on the given session.

    Path sources are read by the executors (`read_spark_table`; `time_columns`: per table,
    the timestamp columns that may be nanosecond Parquet); DataFrame sources (tests) go
    through a temporary Parquet file. With a list of steps each step is transpiled on its
    own and checkpointed on the executors as a temp view (as DuckDB materialises them): one
    giant WITH query would recompute the spine and the events aggregates at every use. With
    `out` (a path or URI) the executors write the panel there (`write_spark`) and nothing is
    collected to the driver; without it the raw result is returned as a DataFrame.
    """
    with tempfile.TemporaryDirectory(prefix="churnlab-spark-") as tmp:
        for name, src in sources.items():
            if _is_frame(src):
                import pyarrow as pa
                import pyarrow.parquet as pq

                path = Path(tmp) / f"{name}.parquet"
                pq.write_table(_to_micros(pa.Table.from_pandas(src, preserve_index=False)), path)
                df = spark.read.parquet(str(path))
            else:
                df = read_spark_table(spark, src, (time_columns or {}).get(name, frozenset()))
            df.createOrReplaceTempView(name)
        if isinstance(duckdb_sql, str):
            final = duckdb_sql
        else:
            for name, step in duckdb_sql[:-1]:
                view = spark.sql(to_spark(step)).localCheckpoint(eager=True)
                view.createOrReplaceTempView(name)
            final = duckdb_sql[-1][1]
        result = spark.sql(to_spark(final))
        if out is None:
            return result.toPandas()
        write_spark(result, out)
        return None


def write_spark(result: Any, out: str | Path) -> None:
    """Write the panel query's result (Spark DataFrame with `wk`) to `out`, a Parquet folder
    (overwritten), from the executors: week_start second, rows ordered by (account_id, wk)
    across the parts (part-00000 first), as DuckDB's single file."""
    from pyspark.sql import functions as F

    columns = [
        "account_id",
        "week_start",
        *(c for c in result.columns if c not in ("account_id", "wk")),
    ]
    (
        result.withColumn("week_start", F.expr(WEEK_START_SPARK))
        .orderBy("account_id", "wk")
        .select(*columns)
        .write.mode("overwrite")
        .parquet(spark_uri(out))
    )


def summarise_spark(spark: Any, out: str | Path) -> dict[str, Any]:
    """SUMMARY_SQL over a panel Spark wrote, computed by the executors (small results)."""
    spark.read.parquet(spark_uri(out)).createOrReplaceTempView("panel")
    counts = spark.sql(to_spark(SUMMARY_SQL["counts"])).collect()[0]
    rows = spark.sql(to_spark(SUMMARY_SQL["attributes"])).collect()
    return summary_from_rows(tuple(counts), [tuple(r) for r in rows])
