"""A table's accepted rows assembled out of core: staged file by file, sorted by DuckDB.

Holding every accepted event in pandas before sorting made ingest's memory grow with the
events (10.6 GB at 50,000 accounts, issue 17). Instead each file's accepted rows are written
to a staging Parquet file as soon as they are checked (`StagedTable.add`, which also counts
what the stage reports: rows, rows per account, date extremes, non-null values). DuckDB then
finds exact duplicates across files (`cross_file_duplicates`), sorts the rest by the table's
key within `Engine.memory_limit` (spilling to its temp directory) and streams the sorted
rows back, which `write_sorted` writes in row groups of ROW_GROUP_ROWS with the same Arrow
writer and settings as `churnlab.io.write_parquet`: the file is byte-identical to writing
the whole sorted frame at once. Files already in key order one after another (the
simulator's events, by account) need neither: they are streamed through as staged.

Staged columns: the table's contract columns (dates and timestamps as int64 nanoseconds, so
DuckDB's microsecond timestamps never truncate them), `_part` (file number), `_row` (row in
the file's frame) and, for tables without an id, `_h` (the row hash of `checks.row_hashes`).
Sorting by the key and then (`_part`, `_row`) is the stable sort of the in-memory path.

DuckDB gets a fixed thread count and memory limit (`Engine`): results never depend on the
number of cores, and memory stays bounded whatever the size of the table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from churnlab.ingest.schemas import DATE, TIMESTAMP, TableSpec
from churnlab.io import write_parquet
from churnlab.progress import progress

# Arrow's default maximum row-group length, the one `DataFrame.to_parquet` (write_parquet)
# uses: writing row groups of exactly this many rows gives the same file bytes.
ROW_GROUP_ROWS = 1024 * 1024
DEFAULT_THREADS = 2
DEFAULT_MEMORY_LIMIT = "2GB"


@dataclass(frozen=True)
class Engine:
    """DuckDB settings of ingest (`ingest.duckdb_threads`, `ingest.duckdb_memory_limit`,
    `ingest.temp_dir`: where staging files and DuckDB's spill go; None = the system's)."""

    threads: int = DEFAULT_THREADS
    memory_limit: str = DEFAULT_MEMORY_LIMIT
    temp_dir: str | None = None


def connect(engine: Engine, spill_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with `engine`'s thread count and memory limit, spilling
    to `spill_dir` (created) when given. duckdb.Error on a memory limit DuckDB cannot read."""
    con = duckdb.connect()
    con.execute(f"SET threads = {int(engine.threads)}")
    con.execute(f"SET memory_limit = {_sql_text(engine.memory_limit)}")
    if spill_dir is not None:
        spill_dir.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {_sql_text(spill_dir)}")
    return con


def _sql_text(value: object) -> str:
    """A SQL string literal (a quote in a path is doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def _time_columns(spec: TableSpec) -> list[str]:
    return [c for c, col in spec.columns.items() if col.kind in (DATE, TIMESTAMP)]


def _in_order(table: pa.Table, keys: list[str]) -> bool:
    """True when the rows are sorted by `keys` (ascending, ties allowed) with no null key:
    each row <= the next, compared key by key from the last (Arrow compares strings by
    their bytes, as DuckDB's ORDER BY and Arrow's sort do)."""
    if table.num_rows < 2:
        return not any(table.column(k).null_count for k in keys)
    if any(table.column(k).null_count for k in keys):
        return False
    n = table.num_rows
    ok = None
    for k in reversed(keys):
        col = table.column(k)
        a, b = col.slice(0, n - 1), col.slice(1)
        if ok is None:  # the last key: a tie on every key is in order
            ok = pc.less_equal(a, b)
        else:
            ok = pc.or_(pc.less(a, b), pc.and_(pc.equal(a, b), ok))
    return bool(pc.all(ok).as_py())


def _key(table: pa.Table, keys: list[str], row: int) -> tuple:
    return tuple(table.column(k)[row].as_py() for k in keys)


@dataclass
class StagedTable:
    """The accepted rows of one table, one staging Parquet file per raw file, with what
    the stage reports about them (counted as they are staged, so nothing reads them whole).

    `in_order` stays True while every file's rows are sorted by the table's key and each
    file's first key is above the last one before it: then the staged rows are the sorted
    table already (no copy can span two files: copies have equal keys), and `write_sorted`
    streams them through without DuckDB.
    """

    spec: TableSpec
    folder: Path
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    template: pd.DataFrame | None = None  # 0-row typed frame: dtypes of the output
    in_order: bool = True
    last_key: tuple | None = None
    low: dict[str, int] = field(default_factory=dict)  # time column -> min, int64 ns
    high: dict[str, int] = field(default_factory=dict)  # time column -> max
    present: Counter = field(default_factory=Counter)  # column -> non-null values
    per_account: list[pd.Series] = field(default_factory=list)  # rows by account_id, per file

    def add(self, part: int, accepted: pd.DataFrame, hashes: np.ndarray | None) -> None:
        """Stage the typed accepted rows of file number `part` (index: row in the file's
        frame) with their row hashes (None for tables with an id)."""
        if self.template is None:  # built from dtypes: a 0-row slice would pin the file
            self.template = pd.DataFrame(
                {c: pd.Series(dtype=accepted[c].dtype) for c in self.spec.columns}
            )
        if not len(accepted):
            return
        table = pa.Table.from_pandas(accepted[list(self.spec.columns)], preserve_index=False)
        for name in _time_columns(self.spec):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, pc.cast(table.column(i), pa.int64()))
            low, high = pc.min_max(table.column(i)).values()
            if low.is_valid:
                self.low[name] = min(self.low.get(name, low.as_py()), low.as_py())
                self.high[name] = max(self.high.get(name, high.as_py()), high.as_py())
        for name in self.spec.columns:
            self.present[name] += table.num_rows - table.column(name).null_count
        if "account_id" in self.spec.columns:
            counts = pc.value_counts(table.column("account_id")).flatten()
            self.per_account.append(
                pd.Series(counts[1].to_numpy(), index=counts[0].to_pandas(), dtype=np.int64)
            )
        keys = list(self.spec.sort)
        if self.in_order:
            ordered = _in_order(table, keys)
            first = _key(table, keys, 0) if ordered else None
            self.in_order = ordered and (self.last_key is None or self.last_key < first)
            self.last_key = _key(table, keys, table.num_rows - 1) if self.in_order else None
        table = table.append_column("_part", pa.array(np.full(len(accepted), part, np.int32)))
        table = table.append_column("_row", pa.array(accepted.index.to_numpy(np.int64)))
        if hashes is not None:
            table = table.append_column("_h", pa.array(hashes, pa.uint64()))
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"part-{part:05d}.parquet"
        pq.write_table(table, path, compression="none")  # read once, soon: save the CPU
        self.files.append(path)
        self.rows += len(accepted)

    def source(self) -> str:
        """The staged rows as a DuckDB table expression."""
        listed = ", ".join(_sql_text(p) for p in self.files)
        return f"read_parquet([{listed}])"


def no_rows() -> pd.DataFrame:
    """An empty (`_part`, `_row`, `account_id`) frame: no staged row to leave out."""
    return pd.DataFrame(
        {
            "_part": np.array([], np.int32),
            "_row": np.array([], np.int64),
            "account_id": pd.array([], dtype="string"),
        }
    )


def cross_file_duplicates(con: duckdb.DuckDBPyConnection, staged: StagedTable) -> pd.DataFrame:
    """Staged rows (`_part`, `_row`, `account_id`; sorted) whose row hash equals that of an
    earlier staged row: exact copies of a row kept from an earlier file (copies within one
    file were quarantined when it was checked, so an earlier equal row is always in an
    earlier file). The same rule as the in-memory check (checks.duplicate_mask), over the
    whole table. None possible when the staged rows are in order (see StagedTable)."""
    if len(staged.files) < 2 or staged.in_order:
        return no_rows()
    src = staged.source()
    account = '"account_id"' if "account_id" in staged.spec.columns else "NULL"
    return con.execute(
        f"""
        SELECT _part, _row, account_id FROM (
            SELECT _part, _row, {account} AS account_id,
                   row_number() OVER (PARTITION BY _h ORDER BY _part, _row) AS n
            FROM {src}
            WHERE _h IN (SELECT _h FROM {src} GROUP BY _h HAVING count(*) > 1)
        ) WHERE n > 1
        ORDER BY _part, _row
        """
    ).df()


def _accepted(con: duckdb.DuckDBPyConnection, staged: StagedTable, drop: pd.DataFrame) -> str:
    """The staged rows minus `drop` (`_part`, `_row`), as a DuckDB table expression."""
    if not len(drop):
        return staged.source()
    con.register("_dropped", drop[["_part", "_row"]])
    return f"(SELECT * FROM {staged.source()} ANTI JOIN _dropped USING (_part, _row))"


@dataclass
class Summary:
    """What the stage reports about a table without reading it whole."""

    accepted: int
    # Two rows, the minimum and the maximum of every date / timestamp column, in the
    # output's dtypes (so quality.date_coverage and as_of.date_maxima read it as the
    # table); empty when no row was accepted.
    extremes: pd.DataFrame
    per_account: pd.Series | None  # accepted rows per account_id (tables with accounts)
    all_null: set[str]  # columns with no value in any accepted row


def _instant(ns: int | None, dtype) -> pd.Timestamp:
    """int64 nanoseconds (None = no value) as a Timestamp of a datetime64[ns] dtype."""
    if ns is None:
        return pd.NaT
    return pd.Timestamp(ns, unit="ns", tz="UTC" if isinstance(dtype, pd.DatetimeTZDtype) else None)


def summarise(staged: StagedTable, drop: pd.DataFrame) -> Summary:
    """Counts, rows per account, date extremes and all-null columns of the accepted rows:
    the staged rows minus `drop` (copies of staged rows, so extremes and nulls stay)."""
    spec = staged.spec
    template = staged.template if staged.template is not None else pd.DataFrame()
    times = _time_columns(spec)
    n = staged.rows - len(drop)
    extremes = template.iloc[:0][[c for c in times if c in template]]
    if n:
        extremes = pd.DataFrame(
            {
                c: pd.Series(
                    [_instant(v.get(c), template[c].dtype) for v in (staged.low, staged.high)],
                    dtype=template[c].dtype,
                )
                for c in times
            },
            index=range(2),
        )
    per_account = None
    if "account_id" in spec.columns:
        per_account = pd.Series(dtype=np.int64)
        if staged.per_account:
            per_account = pd.concat(staged.per_account).groupby(level=0, sort=True).sum()
        if len(drop):
            per_account = per_account.sub(
                drop["account_id"].astype(object).value_counts(), fill_value=0
            ).astype(np.int64)
            per_account = per_account[per_account > 0]
    all_null = {c for c in spec.columns if staged.present[c] == 0}
    return Summary(n, extremes, per_account, all_null)


def _output_schema(template: pd.DataFrame) -> pa.Schema:
    """The Arrow schema (with pandas metadata) `write_parquet` gives a frame of these dtypes."""
    return pa.Schema.from_pandas(template.reset_index(drop=True), preserve_index=False)


def _as_output(batches: list[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    """DuckDB's batches cast to the output schema (int64 nanoseconds back to datetimes,
    strings to the large strings of pandas' pyarrow dtype), one chunk per column."""
    table = pa.Table.from_batches(batches)
    columns = [pc.cast(table.column(f.name), f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema).combine_chunks()


def _write_batches(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, path: Path, total: int, desc: str
) -> None:
    """Write `batches` (sorted rows, staging types) to `path` in row groups of exactly
    ROW_GROUP_ROWS rows, cast to `schema`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        pq.ParquetWriter(path, schema, compression="zstd") as writer,
        progress(total=total, desc=desc, unit="row", unit_scale=True) as bar,
    ):
        buffered: list[pa.RecordBatch] = []
        n = 0
        for batch in batches:
            buffered.append(batch)
            n += batch.num_rows
            while n >= ROW_GROUP_ROWS:
                table = pa.Table.from_batches(buffered)
                writer.write_table(_as_output(table.slice(0, ROW_GROUP_ROWS).to_batches(), schema))
                bar.update(ROW_GROUP_ROWS)
                rest = table.slice(ROW_GROUP_ROWS)
                buffered, n = rest.to_batches(), rest.num_rows
        if n:
            writer.write_table(_as_output(buffered, schema))
            bar.update(n)


def _staged_batches(staged: StagedTable) -> Iterator[pa.RecordBatch]:
    """The staged rows file by file, in order (the contract columns only)."""
    for path in staged.files:
        yield from pq.ParquetFile(path).iter_batches(
            batch_size=ROW_GROUP_ROWS, columns=list(staged.spec.columns)
        )


def write_sorted(
    con: duckdb.DuckDBPyConnection, staged: StagedTable, drop: pd.DataFrame, path: Path
) -> None:
    """Write the accepted rows (staged minus `drop`) to `path`, sorted by the table's key
    (nulls last), ties in file and row order: the bytes `write_parquet` writes for the
    table sorted in memory (table.sort_stable), in row groups of ROW_GROUP_ROWS. Rows
    staged in order are streamed through; others are sorted by DuckDB (out of core)."""
    spec = staged.spec
    if not staged.files or staged.rows == len(drop):
        write_parquet(staged.template.iloc[:0], path)  # no accepted row: pandas' empty file
        return
    schema = _output_schema(staged.template)
    total = staged.rows - len(drop)
    if staged.in_order and not len(drop):
        _write_batches(_staged_batches(staged), schema, path, total, f"ingest {spec.name}: write")
        return
    columns = ", ".join(f'"{c}"' for c in spec.columns)
    order = ", ".join(f'"{k}" ASC NULLS LAST' for k in spec.sort) + ", _part, _row"
    src = _accepted(con, staged, drop)
    # A relation streams its rows in order (a DB-API result would copy them all first).
    reader = con.sql(f"SELECT {columns} FROM {src} ORDER BY {order}").to_arrow_reader(
        ROW_GROUP_ROWS
    )
    _write_batches(reader, schema, path, total, f"ingest {spec.name}: sort and write")
