"""`churnlab ingest`: data/raw/ -> validated tables in data/interim/ (CONTRACTS.md §2)."""

from __future__ import annotations

import datetime as dt
import gc
import re
import sys
import tempfile
import zoneinfo
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from churnlab.config import base_path, metrics_path
from churnlab.errors import ConfigError, UserError
from churnlab.ingest.as_of import (
    choose_as_of,
    churn_warnings,
    date_maxima,
    is_snapshot,
    parse_as_of,
)
from churnlab.ingest.checks import activity_limit, row_hashes
from churnlab.ingest.history import HistoryRules, contract_history
from churnlab.ingest.parse import DateWindow
from churnlab.ingest.quality import accounts_without_events, date_coverage, row_counts
from churnlab.ingest.read import TableFiles, find_table_files, parquet_pieces, read_part
from churnlab.ingest.schemas import TABLE_ORDER, TABLES
from churnlab.ingest.spill import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_THREADS,
    Engine,
    StagedTable,
    Summary,
    connect,
    cross_file_duplicates,
    no_rows,
    summarise,
    write_sorted,
)
from churnlab.ingest.table import (
    AccountContext,
    RowRules,
    TableState,
    check_part,
    finish_quarantine,
    finish_table,
    quarantine_duplicates,
    rejected_accounts,
)
from churnlab.ingest.vocabulary import CLOSED, vocabularies
from churnlab.io import write_json, write_metrics, write_parquet
from churnlab.progress import progress

DEFAULT_REQUIRED = ["accounts", "contracts", "events"]
# Nothing can be computed without them, whatever ingest.required_tables says.
ALWAYS_NEEDED = ("accounts", "contracts")
# Tables the stage needs whole in memory afterwards (account checks, contract history): one
# row per account / contract. Every other table is staged and sorted out of core (spill.py).
IN_MEMORY = ("accounts", "contracts")
# Most rows of a big Parquet file read and checked at a time (whole row groups; a file
# above it is split into about equal pieces): more than a simulator part of events (~3M
# rows), ~1.5 GB of memory at the peak of the checks.
PIECE_ROWS = 4_000_000
# A DuckDB memory size: 2GB, 512MB, 1.5GiB ...
_MEMORY_SIZE_RE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|[KMGT]i?B)\s*$", re.IGNORECASE)
MAX_LISTED_IDS = 50

# What a quarantine reason means, for the error when no row of a needed table passes.
REASON_HINTS = {
    "malformed_row": "lines with another number of fields than the header",
    "unparseable_date": "expected dates as YYYY-MM-DD and timestamps as ISO 8601",
    "implausible_date": (
        "dated before ingest.earliest_date or on/after ingest.latest_date (an 'unknown' "
        "sentinel such as 1900-01-01?)"
    ),
    "unparseable_number": (
        "expected plain numbers such as 1234.5, without thousands separators or currency signs"
    ),
    "blank_required": "expected a value in every row",
    "negative_mrr": "expected mrr >= 0",
    "out_of_range": "expected seats >= 1 and nps_score between 0 and 10",
    "unknown_account": "account_id not among the accepted accounts",
    "account_rejected": (
        "the account's own row is in quarantine (see its reason in _detail and in "
        "quarantine/accounts.parquet)"
    ),
    "before_signup": "dated before the account's signup_date",
    "after_contract_end": "dated after the account's last contract ended (plus ingest.grace_days)",
    "duplicate": "exact copies of an earlier row",
    "duplicate_key": "an id already used by an earlier row",
}


def _int_param(cfg: dict, key: str, default: int, minimum: int) -> int:
    value = cfg.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(
            f"params.yaml: ingest.{key} must be a whole number of days >= {minimum}, got {value!r}"
        )
    return value


def _date_param(cfg: dict, key: str, default: str) -> pd.Timestamp:
    value = cfg.get(key, default)
    if value is None:
        value = default
    if isinstance(value, dt.datetime):
        value = value.date()
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(
            f"params.yaml: ingest.{key} must be a date YYYY-MM-DD, got {value!r}"
        ) from None
    return pd.Timestamp(day)


def _check_column_map(column_map: dict[str, dict[str, str]]) -> None:
    """Each entry goes {their column: our column}: a target that is not a column of the
    table would blank that column silently, so it is an error; when the entry is the other
    way round ({ours: theirs}) the message says so."""
    for table, mapping in column_map.items():
        ours = TABLES[table].columns
        for theirs, target in mapping.items():
            if target in ours:
                continue
            hint = (
                f"; entries go {{their_column: our_column}}: did you mean {{{target}: {theirs}}}?"
                if theirs in ours
                else ""
            )
            raise ConfigError(
                f"params.yaml: ingest.column_map.{table} maps '{theirs}' to '{target}', which "
                f"is not a column of table '{table}' (expected one of {', '.join(ours)}){hint}"
            )


def _engine(cfg: dict) -> Engine:
    """ingest.duckdb_threads (whole number >= 1), ingest.duckdb_memory_limit (e.g. 2GB) and
    ingest.temp_dir (a folder; null = the system's temporary folder)."""
    threads = cfg.get("duckdb_threads", DEFAULT_THREADS)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ConfigError(
            f"params.yaml: ingest.duckdb_threads must be a whole number >= 1, got {threads!r}"
        )
    memory = cfg.get("duckdb_memory_limit") or DEFAULT_MEMORY_LIMIT
    if not _MEMORY_SIZE_RE.match(str(memory)):
        raise ConfigError(
            f"params.yaml: ingest.duckdb_memory_limit must be a size such as 2GB or 512MB, "
            f"got {memory!r}"
        )
    temp_dir = cfg.get("temp_dir")
    if temp_dir is not None:
        try:
            Path(str(temp_dir)).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"params.yaml: ingest.temp_dir '{temp_dir}' cannot be created ({exc.strerror}); "
                "expected a folder with room for a copy of the events"
            ) from None
    return Engine(threads, str(memory).strip(), None if temp_dir is None else str(temp_dir))


@dataclass(frozen=True)
class Settings:
    source_timezone: str
    column_map: dict[str, dict[str, str]]
    required_tables: list[str]
    encoding: str
    rules: RowRules
    as_of: pd.Timestamp | None  # base.as_of; None = the latest date in the data
    reactivation_gap_days: int
    renewal_grace_days: int
    engine: Engine = Engine()  # DuckDB threads / memory limit / temp directory

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Settings:
        """The ingest settings from the whole params dict (`ingest`, `vocabulary`,
        `base.as_of`); ConfigError naming the key on a bad value."""
        cfg = params.get("ingest") or {}
        tz = str(cfg.get("source_timezone") or "UTC")
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"params.yaml: ingest.source_timezone '{tz}' is not an IANA time zone "
                "(expected e.g. UTC, Asia/Tokyo, America/New_York)"
            ) from None
        column_map = cfg.get("column_map") or {}
        if not isinstance(column_map, dict) or not all(
            isinstance(m, dict) for m in column_map.values()
        ):
            raise ConfigError("params.yaml: ingest.column_map must be {table: {their: ours}}")
        # Honoured as given: [] is a valid choice (a snapshot), not "use the default".
        required = cfg.get("required_tables", DEFAULT_REQUIRED)
        if required is None:
            required = DEFAULT_REQUIRED
        if not isinstance(required, list):
            raise ConfigError(
                f"params.yaml: ingest.required_tables must be a list of table names "
                f"([] allowed), got {required!r}"
            )
        for key, names in (("column_map", list(column_map)), ("required_tables", required)):
            for name in names:
                if name not in TABLES:
                    raise ConfigError(
                        f"params.yaml: ingest.{key} names unknown table '{name}' "
                        f"(expected one of {', '.join(TABLES)})"
                    )
        column_map = {
            t: {str(k).strip(): str(v).strip() for k, v in m.items()} for t, m in column_map.items()
        }
        _check_column_map(column_map)
        window = DateWindow(
            _date_param(cfg, "earliest_date", "1990-01-01"),
            _date_param(cfg, "latest_date", "2090-01-01"),
        )
        if window.earliest >= window.latest:
            raise ConfigError(
                f"params.yaml: ingest.earliest_date {window.earliest:%Y-%m-%d} must be before "
                f"ingest.latest_date {window.latest:%Y-%m-%d}"
            )
        grace = _int_param(cfg, "grace_days", 30, 0)
        nulls = cfg.get("null_values") or []
        if not isinstance(nulls, list) or "" in [str(v).strip() for v in nulls]:
            raise ConfigError(
                "params.yaml: ingest.null_values must be a list of non-blank strings "
                "(blank cells are always null)"
            )
        return cls(
            source_timezone=tz,
            column_map=column_map,
            required_tables=[str(t) for t in required],
            encoding=str(cfg.get("encoding") or "utf-8"),
            rules=RowRules(
                tz, grace, tuple(str(v).strip() for v in nulls), vocabularies(params), window
            ),
            as_of=parse_as_of((params.get("base") or {}).get("as_of")),
            reactivation_gap_days=_int_param(cfg, "reactivation_gap_days", 30, 7),
            renewal_grace_days=_int_param(cfg, "renewal_grace_days", 35, 0),
            engine=_engine(cfg),
        )

    def needs(self, table: str) -> bool:
        """A table whose absence, emptiness or total rejection stops the stage."""
        return table in ALWAYS_NEEDED or table in self.required_tables


@dataclass
class TableResult:
    """One table after ingest, with what tables.json reports about its files."""

    typed: pd.DataFrame | None  # accepted rows, sorted (IN_MEMORY tables; else None)
    quarantine: pd.DataFrame
    missing_columns: list[str]  # optional columns no file had
    state: TableState  # what rejected rows failed on, notes, cascade, rows read per file
    summary: Summary | None = None  # accepted rows, date extremes, rows per account
    staged: StagedTable | None = None  # accepted rows staged out of core (not IN_MEMORY)
    dropped: pd.DataFrame | None = None  # staged rows found to be duplicates (_part, _row)
    mapped: set[str] = field(default_factory=set)  # column_map keys some file had
    headers: dict[str, list[str]] = field(default_factory=dict)  # file -> its header
    delimiters: dict[str, str] = field(default_factory=dict)  # file -> delimiter if not ","
    partition_columns: set[str] = field(default_factory=set)
    partition_ignored: set[str] = field(default_factory=set)

    def write(self, con: duckdb.DuckDBPyConnection | None, path: Path) -> None:
        """Write the accepted rows, sorted, to `path` (the same bytes either way)."""
        if self.typed is not None:
            write_parquet(self.typed, path)
        else:
            write_sorted(con, self.staged, self.dropped, path)


def _summary_in_memory(typed: pd.DataFrame) -> Summary:
    per_account = typed["account_id"].value_counts() if "account_id" in typed else None
    return Summary(
        accepted=len(typed),
        extremes=typed,  # date_coverage / date_maxima take min / max themselves
        per_account=per_account,
        all_null={c for c in typed.columns if typed[c].isna().all()},
    )


def ingest_table(
    found: TableFiles,
    table: str,
    ctx: AccountContext,
    settings: Settings,
    con: duckdb.DuckDBPyConnection | None = None,
    staging: Path | None = None,
) -> TableResult:
    """Read, check and split every file of one table. With a DuckDB connection `con` and a
    `staging` folder, accepted rows of tables other than IN_MEMORY go to staging files and
    are written later by `TableResult.write` (bounded memory); otherwise they are kept."""
    with _young_objects_only():
        return _ingest_table(found, table, ctx, settings, con, staging)


@contextmanager
def _young_objects_only() -> Iterator[None]:
    """Cycle collections inside examine only objects made after entry (`gc.freeze`: the
    long-lived ones, modules and the like, are set aside until exit)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _ingest_table(
    found: TableFiles,
    table: str,
    ctx: AccountContext,
    settings: Settings,
    con: duckdb.DuckDBPyConnection | None,
    staging: Path | None,
) -> TableResult:
    spec = TABLES[table]
    in_memory = staging is None or table in IN_MEMORY
    # Duplicates across files: remembered per kept row where rows are entities (an id);
    # found by DuckDB over the staged rows otherwise (events: millions of rows).
    state = TableState(seen_in_memory=in_memory or spec.key is not None)
    staged = None if in_memory else StagedTable(spec, staging / table)
    column_map = settings.column_map.get(table, {})
    result = TableResult(None, pd.DataFrame(), [], state, staged=staged)
    accepted, quarantined, absent = [], [], set()
    # What is read and checked at a time: a file, or a piece of a big Parquet file of a
    # table without an id (copies across pieces are found like copies across files).
    pieces: list[tuple[Path, list[int] | None]] = []
    for path in found.parts:
        split = None if spec.key is not None else parquet_pieces(path, PIECE_ROWS)
        pieces += [(path, groups) for groups in split] if split else [(path, None)]
    unit = "piece" if len(pieces) > 1 else "table"
    for i, (path, groups) in enumerate(progress(pieces, desc=f"ingest {table}", unit=unit)):
        part = read_part(
            path, spec, column_map, settings.encoding, found.partitions.get(path), groups
        )
        state.rows_read[str(path)] = state.rows_read.get(str(path), 0) + part.rows_read
        result.mapped.update(part.mapped)
        result.headers[str(path)] = part.headers
        if part.delimiter != ",":
            result.delimiters[str(path)] = part.delimiter
        result.partition_columns.update(part.partition_columns)
        result.partition_ignored.update(part.partition_ignored)
        ok, q = check_part(part, spec, ctx, state, settings.rules, more_files=i < len(pieces) - 1)
        if staged is None:
            accepted.append(ok)
        else:
            hashes = None
            if not state.seen_in_memory:
                hashes = state.kept_hashes
                if len(hashes) != len(ok):  # a caller changed the rows: hash them again
                    hashes = row_hashes(ok, spec)
            staged.add(i, ok, hashes)
        quarantined.append(q)
        absent.update(part.added_columns)
        # One file's rows at a time: pandas' cached accessors (`.str`, `.dt`) make reference
        # cycles around a file's columns, which would wait for a full collection (kept
        # ~300 MB a file of events alive). Collected here, over the objects made since
        # the table began (`_young_objects_only`: a full collection costs ~0.2 s).
        del part, ok, q
        gc.collect()
    if staged is None:
        result.typed, result.quarantine = finish_table(accepted, quarantined, spec)
        result.summary = _summary_in_memory(result.typed)
    else:
        result.dropped = no_rows()
        if not state.seen_in_memory:
            result.dropped = cross_file_duplicates(con, staged)
            for number, rows in result.dropped.groupby("_part", sort=True):
                path, groups = pieces[int(number)]
                part = read_part(
                    path, spec, column_map, settings.encoding, found.partitions.get(path), groups
                )
                rows = rows["_row"].to_numpy()
                quarantined.append(quarantine_duplicates(part, rows, spec, state, settings.rules))
        result.quarantine = finish_quarantine(quarantined)
        result.summary = summarise(staged, result.dropped)
    # A column counts as missing when no file of the table has it.
    result.missing_columns = [
        c for c in spec.columns if c in absent and c in result.summary.all_null
    ]
    return result


def file_warnings(table: str, result: TableResult, column_map: dict[str, str]) -> list[dict]:
    """Warnings about a table's files: column_map entries no file matched (with a hint when
    a header differs only in case), partition folders that are not contract columns, CSV
    delimiters other than a comma."""
    out = []
    headers = sorted({h for hs in result.headers.values() for h in hs})
    for theirs, ours in column_map.items():
        if theirs in result.mapped:
            continue
        same_case = [h for h in headers if h.lower() == theirs.lower()]
        hint = (
            f"; header '{same_case[0]}' differs only in case (headers are matched exactly)"
            if same_case
            else ""
        )
        out.append(
            {
                "code": "column_map_unmatched",
                "message": f"ingest.column_map.{table} maps '{theirs}' to '{ours}', but no "
                f"file of table '{table}' has a column '{theirs}' (columns: "
                f"{', '.join(headers)}){hint}; the entry did nothing",
            }
        )
    if result.partition_ignored:
        out.append(
            {
                "code": "partition_keys_ignored",
                "message": f"partition folders of table '{table}' name "
                f"{', '.join(sorted(result.partition_ignored))}, which are not columns of "
                f"'{table}': ignored (map one with ingest.column_map.{table} if it is)",
            }
        )
    for path, delimiter in sorted(result.delimiters.items()):
        out.append(
            {
                "code": "csv_delimiter_detected",
                "message": f"{path}: the header splits on {delimiter!r}, not on commas: read "
                f"with {delimiter!r} as the delimiter",
            }
        )
    return out


def nothing_passed_message(
    path: Path, table: str, counts: dict, state: TableState, quarantine_path: Path
) -> str:
    """One line: the file, the commonest reason, the column it was found in, its commonest
    values, what was expected and (for a closed category) the param that maps labels."""
    top = max(counts["by_reason"], key=counts["by_reason"].get)
    column, rows, values = state.where(top)
    detail = top
    if column:
        quoted = ", ".join(f"'{v}'" for v in values)
        detail += f" in column '{column}' ({rows} of {counts['read']} rows"
        detail += f", e.g. {quoted})" if quoted else ")"
    spec = TABLES[table]
    col = spec.columns.get(column)
    if top == "invalid_category" and col is not None and col.allowed:
        hint = (
            f"allowed: {', '.join(col.allowed)}; map your own labels to them with "
            f"vocabulary.{col.vocabulary} in params.yaml"
            if col.vocabulary in CLOSED
            else f"allowed: {', '.join(col.allowed)}"
        )
    elif top == "time_order" and column:
        earlier = next((a for a, b in spec.time_order if b == column), "its start")
        hint = f"'{column}' is before '{earlier}'"
    else:
        hint = REASON_HINTS.get(top, "")
    return (
        f"{path}: none of the {counts['read']} rows of required table '{table}' passed "
        f"validation (most common reason: {detail}{'; ' + hint if hint else ''}; every row's "
        f"reason in {quarantine_path})"
    )


def run(params: dict) -> None:
    settings = Settings.from_params(params)
    raw_dir = base_path(params, "raw_dir")
    out_dir = base_path(params, "interim_dir")
    if not raw_dir.is_dir():
        raise UserError(f"{raw_dir}: raw data folder not found (expected base.raw_dir to exist)")
    files = {t: find_table_files(raw_dir, t) for t in TABLE_ORDER}
    for table in ALWAYS_NEEDED:
        if files[table] is None and table not in settings.required_tables:
            raise UserError(
                f"{raw_dir}/{table}.csv: table '{table}' not found; ingest always needs "
                f"accounts and contracts (expected {table}.csv, {table}.parquet or a folder "
                f"{table}/ in {raw_dir})"
            )
    missing = [t for t in settings.required_tables if files[t] is None]
    if missing:
        raise UserError(
            f"{raw_dir}/{missing[0]}.csv: required table '{missing[0]}' not found (expected "
            f"{missing[0]}.csv, {missing[0]}.parquet or a folder {missing[0]}/ in {raw_dir}; "
            "list the tables you have in ingest.required_tables)"
        )

    ctx = AccountContext()
    summary: dict[str, Any] = {
        "rows": {},
        "date_coverage": {},
        "files": {},
        "rows_read_by_file": {},
        "files_ignored": {},
        "partition_columns": {},
        "csv_delimiters": {},
        "open_ended_end_dates": {},
        "local_time_adjustments": {},
        "missing_optional_columns": {},
    }
    present = [t for t in TABLE_ORDER if files[t] is not None]
    accounts = contracts = contracts_quarantined = events_per_account = None
    maxima: dict[str, dict[str, pd.Timestamp]] = {}
    file_notes: list[dict[str, str]] = []
    # Staging files and DuckDB's spill live in one temporary folder, removed at the end.
    with (
        tempfile.TemporaryDirectory(prefix="churnlab-ingest-", dir=settings.engine.temp_dir) as tmp,
        closing(connect(settings.engine, Path(tmp) / "duckdb")) as con,
    ):
        for table in present:
            found = files[table]
            result = ingest_table(found, table, ctx, settings, con, Path(tmp) / "staging")
            quarantine, state, done = result.quarantine, result.state, result.summary
            counts = row_counts(table, done.accepted, quarantine, sum(state.rows_read.values()))
            if counts["read"] == 0 and settings.needs(table):
                raise UserError(
                    f"{found.parts[0]}: required table '{table}' has no data rows "
                    "(expected a header and at least one row)"
                )
            result.write(con, out_dir / f"{table}.parquet")
            q_path = out_dir / "quarantine" / f"{table}.parquet"
            write_parquet(quarantine, q_path)
            if counts["accepted"] == 0 and settings.needs(table):
                raise UserError(
                    nothing_passed_message(found.parts[0], table, counts, state, q_path)
                )
            summary["rows"][table] = counts
            summary["date_coverage"][table] = date_coverage(done.extremes, TABLES[table])
            summary["files"][table] = [str(p) for p in found.parts]
            summary["rows_read_by_file"][table] = dict(sorted(state.rows_read.items()))
            if found.ignored:
                summary["files_ignored"][table] = [str(p) for p in found.ignored]
            if result.partition_columns or result.partition_ignored:
                summary["partition_columns"][table] = {
                    "used": sorted(result.partition_columns),
                    "ignored": sorted(result.partition_ignored),
                }
            if result.delimiters:
                summary["csv_delimiters"][table] = dict(sorted(result.delimiters.items()))
            _add_notes(summary, table, state)
            file_notes += file_warnings(table, result, settings.column_map.get(table, {}))
            if result.missing_columns:
                summary["missing_optional_columns"][table] = result.missing_columns
            maxima[table] = date_maxima(table, done.extremes)
            if table == "accounts":
                accounts = result.typed
                ctx.accounts = accounts[["account_id", "signup_date"]]
                ctx.rejected = rejected_accounts(accounts, quarantine)
            elif table == "contracts":
                contracts = result.typed
                contracts_quarantined = quarantine
                ctx.activity_limit = activity_limit(
                    contracts, settings.rules.grace_days, settings.renewal_grace_days
                )
            elif table == "events":
                events_per_account = done.per_account
    summary["rejected_account_cascade"] = cascade_summary(ctx.rejected, summary["rows"])

    # Outputs of tables absent this time must not linger from an earlier run.
    for table in TABLE_ORDER:
        if files[table] is None:
            for stale in (
                out_dir / f"{table}.parquet",
                out_dir / "quarantine" / f"{table}.parquet",
            ):
                stale.unlink(missing_ok=True)

    snapshot = is_snapshot({t: c["accepted"] for t, c in summary["rows"].items()})
    as_of, source = choose_as_of(settings.as_of, maxima, snapshot)
    terms, spells, history = contract_history(
        contracts,
        HistoryRules(
            as_of=as_of,
            reactivation_gap_days=settings.reactivation_gap_days,
            renewal_grace_days=settings.renewal_grace_days,
            snapshot=snapshot,
        ),
    )
    write_parquet(terms, out_dir / "contract_terms.parquet")
    write_parquet(spells, out_dir / "spells.parquet")
    history.update(without_contract(accounts, contracts, events_per_account))
    history.update(partly_quarantined(contracts, contracts_quarantined))

    summary["present"] = present
    summary["missing_optional"] = [t for t in TABLE_ORDER if files[t] is None]
    summary["accounts_without_events"] = (
        accounts_without_events(accounts, events_per_account.index)
        if events_per_account is not None
        else None
    )
    summary["source_timezone"] = settings.source_timezone
    summary["as_of"] = as_of.strftime("%Y-%m-%d")
    summary["as_of_source"] = source
    summary["snapshot"] = snapshot
    summary["contract_history"] = history
    first_day = terms["start_date"].min() if len(terms) else None
    summary["warnings"] = (
        file_notes + churn_warnings(spells, as_of, first_day) + incomplete_history_warning(history)
    )
    for warning in file_notes:  # the user should not have to open tables.json to see these
        print(f"churnlab ingest: warning: {warning['message']}", file=sys.stderr)
    write_json(out_dir / "tables.json", summary)
    write_metrics(metrics_path("ingest"), _metrics(summary))
    # a new user saw warnings but never that rows were quarantined: one line says it
    print(f"churnlab ingest: {quarantine_line(summary['rows'], out_dir)}", file=sys.stderr)


def quarantine_line(rows: dict[str, dict], out_dir: Path) -> str:
    """One line: rows read / accepted / quarantined over all tables, with the reasons.

    Args:
        rows: tables.json "rows" ({table: {read, accepted, quarantined, by_reason}}).
        out_dir: the interim folder (named for where the quarantine is).
    """
    read = sum(c["read"] for c in rows.values())
    accepted = sum(c["accepted"] for c in rows.values())
    quarantined = sum(c["quarantined"] for c in rows.values())
    line = f"{read:,} rows read, {accepted:,} accepted, {quarantined:,} quarantined"
    if not quarantined:
        return line
    reasons: dict[str, int] = {}
    for c in rows.values():
        for reason, n in c["by_reason"].items():
            if n:
                reasons[reason] = reasons.get(reason, 0) + n
    listed = ", ".join(f"{k} {v:,}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return f"{line} ({listed}): see {out_dir / 'quarantine'} and the data-quality report"


def _add_notes(summary: dict, table: str, state: TableState) -> None:
    """Accepted rows read by a documented rule, into tables.json: far-future end dates read
    as open-ended ({table: {column: rows}}) and naive wall times that do not exist or exist
    twice in ingest.source_timezone ({table: {column: {nonexistent_shifted_forward,
    ambiguous_read_as_first}}}). Zero counts are left out."""
    names = {
        "dst_shifted": "nonexistent_shifted_forward",
        "dst_ambiguous": "ambiguous_read_as_first",
    }
    for (note, column), n in sorted(state.notes.items()):
        if not n:
            continue
        if note == "open_ended":
            summary["open_ended_end_dates"].setdefault(table, {})[column] = n
        else:
            by_column = summary["local_time_adjustments"].setdefault(table, {})
            by_column.setdefault(column, {})[names[note]] = n


def cascade_summary(rejected: pd.DataFrame | None, rows: dict[str, dict]) -> dict[str, Any]:
    """How many rows of other tables were quarantined as account_rejected because how many
    account rows were: {"account_rows": n accounts whose only rows were rejected,
    "account_rows_by_reason": {reason: n}, "rows": total, "rows_by_table": {table: n > 0}}."""
    by_reason = Counter() if rejected is None else Counter(rejected["_reason"].astype(str))
    by_table = {
        t: c["by_reason"].get("account_rejected", 0)
        for t, c in rows.items()
        if c["by_reason"].get("account_rejected", 0)
    }
    return {
        "account_rows": int(sum(by_reason.values())),
        "account_rows_by_reason": dict(sorted(by_reason.items())),
        "rows": int(sum(by_table.values())),
        "rows_by_table": by_table,
    }


def without_contract(
    accounts: pd.DataFrame, contracts: pd.DataFrame, events_per_account: pd.Series | None
) -> dict[str, Any]:
    """Accepted accounts with no accepted contract row (e.g. their only row was quarantined):
    how many, the first MAX_LISTED_IDS ids (sorted), and how many accepted events they have
    (`events_per_account`: accepted events by account_id; None without an events table).
    Downstream they have no spell, so they and their events are in no panel row and no KPI."""
    lost = accounts.loc[~accounts["account_id"].isin(contracts["account_id"]), "account_id"]
    ids = sorted(lost.astype(str))
    n_events = None
    if events_per_account is not None:
        n_events = int(events_per_account[events_per_account.index.isin(lost)].sum())
    return {
        "accounts_without_contract": len(ids),
        "accounts_without_contract_ids": ids[:MAX_LISTED_IDS],
        "events_of_accounts_without_contract": n_events,
    }


def partly_quarantined(contracts: pd.DataFrame, quarantined: pd.DataFrame | None) -> dict[str, Any]:
    """Accounts with some contract rows accepted and some quarantined: their history has a
    hole, so a spell may end in a false churn (the renewal row was rejected) or start as a
    false new customer. Counted and listed (first MAX_LISTED_IDS) so the reports can say so."""
    if quarantined is None or not len(quarantined) or "account_id" not in quarantined:
        ids: list[str] = []
    else:
        rejected = set(quarantined["account_id"].dropna().astype(str).str.strip())
        ids = sorted(set(contracts["account_id"].astype(str)) & rejected)
    return {
        "accounts_with_quarantined_contract_rows": len(ids),
        "accounts_with_quarantined_contract_rows_ids": ids[:MAX_LISTED_IDS],
    }


def incomplete_history_warning(history: dict[str, Any]) -> list[dict[str, str]]:
    """A warning when quarantined contract rows leave holes in accepted histories."""
    n = history.get("accounts_with_quarantined_contract_rows", 0)
    if not n:
        return []
    ids = history["accounts_with_quarantined_contract_rows_ids"]
    shown = ", ".join(ids[:5]) + (", ..." if n > 5 else "")
    return [
        {
            "code": "incomplete_contract_history",
            "message": f"{n} account(s) ({shown}) have contract rows in quarantine beside "
            "accepted ones: their history has a hole, so a churn, a reactivation or a new "
            "customer may be an artefact of the rejected row. Fix the rows listed in "
            "data/interim/quarantine/contracts.parquet and run again.",
        }
    ]


def _metrics(summary: dict) -> dict:
    """The small DVC metrics file: counts only, zero reasons dropped to keep it readable."""
    rows = {
        t: {
            "read": c["read"],
            "accepted": c["accepted"],
            "quarantined": c["quarantined"],
            "quarantined_by_reason": {k: v for k, v in c["by_reason"].items() if v},
        }
        for t, c in summary["rows"].items()
    }
    by_reason: dict[str, int] = {}
    for c in summary["rows"].values():
        for k, v in c["by_reason"].items():
            if v:
                by_reason[k] = by_reason.get(k, 0) + v
    return {
        "tables": rows,
        "quarantined_by_reason": by_reason,
        "accounts_without_events": summary["accounts_without_events"],
        "date_coverage": summary["date_coverage"],
        "tables_missing_optional": len(summary["missing_optional"]),
        "as_of": summary["as_of"],
        "snapshot": summary["snapshot"],
        "contract_history": {
            k: v for k, v in summary["contract_history"].items() if not k.endswith("_ids")
        },
        "warnings": [w["code"] for w in summary["warnings"]],
        "rejected_account_cascade": {
            k: summary["rejected_account_cascade"][k] for k in ("account_rows", "rows")
        },
        "open_ended_end_dates": sum(
            n for cols in summary["open_ended_end_dates"].values() for n in cols.values()
        ),
        "local_time_adjustments": sum(
            n
            for cols in summary["local_time_adjustments"].values()
            for kinds in cols.values()
            for n in kinds.values()
        ),
    }
