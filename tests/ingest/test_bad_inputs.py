"""The battery of bad inputs (issue 16): the tiny clean company with ONE thing wrong.

Each case ends in exactly one of two ways:
- a one-line `UserError` whose message names the file (or params key) and says why, or
- rows quarantined with the right reason and counted, read = accepted + quarantined;
never another exception (a traceback), never a row read but found nowhere.

To add a fault: write a `mutate(raw_dir)` that breaks the clean company in one way and
append a `Case` to CASES (`error=` substrings the message must hold, or `quarantined=`
(table, reason, rows), plus an optional `check(summary, workdir)` for anything else).
"""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_testkit import clean_tables, interim, run_ingest, write_raw

from churnlab.errors import UserError
from churnlab.ingest import read, table
from churnlab.ingest.quality import RowCountMismatch

Mutation = Callable[[Path], None]
UTC = dt.UTC


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Mutation
    error: tuple[str, ...] = ()  # substrings of the one-line UserError
    quarantined: tuple[str, str, int] | None = None  # (table, reason, rows)
    ingest: dict = field(default_factory=dict)  # params `ingest` overrides
    check: Callable[[dict, Path], None] | None = None  # more assertions on tables.json


# --- helpers that break one thing --------------------------------------------------------


def set_cell(table_name: str, row: int, column: str, value: str) -> Mutation:
    def mutate(raw: Path) -> None:
        df = pd.read_csv(raw / f"{table_name}.csv", dtype=str, keep_default_na=False)
        df.loc[row, column] = value
        df.to_csv(raw / f"{table_name}.csv", index=False)

    return mutate


def add_row(table_name: str, **values: str) -> Mutation:
    """Append a copy of the table's first row with `values` changed."""

    def mutate(raw: Path) -> None:
        df = pd.read_csv(raw / f"{table_name}.csv", dtype=str, keep_default_na=False)
        row = df.iloc[[0]].copy()
        for k, v in values.items():
            row[k] = v
        pd.concat([df, row], ignore_index=True).to_csv(raw / f"{table_name}.csv", index=False)

    return mutate


def as_parquet(table_name: str, arrow_columns: dict[str, pa.Array]) -> Mutation:
    """Replace `<table>.csv` by a Parquet file whose `arrow_columns` replace the CSV's."""

    def mutate(raw: Path) -> None:
        df = pd.read_csv(raw / f"{table_name}.csv", dtype=str, keep_default_na=False)
        cols = {c: pa.array(df[c].tolist(), pa.string()) for c in df.columns}
        cols.update(arrow_columns)
        (raw / f"{table_name}.csv").unlink()
        pq.write_table(pa.table(cols), raw / f"{table_name}.parquet")

    return mutate


def events_as_parts(parts: dict[str, pd.DataFrame | bytes | str]) -> Mutation:
    """Replace events.csv by files under events/ ({relative path: frame (CSV, .gz-compressed
    when the name says so), bytes or text})."""

    def mutate(raw: Path) -> None:
        (raw / "events.csv").unlink()
        for rel, content in parts.items():
            path = raw / "events" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, pd.DataFrame):
                text = content.to_csv(index=False).encode()
                path.write_bytes(gzip.compress(text, mtime=0) if rel.endswith(".gz") else text)
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    return mutate


def rewrite_csv(table_name: str, **to_csv) -> Mutation:
    def mutate(raw: Path) -> None:
        df = pd.read_csv(raw / f"{table_name}.csv", dtype=str, keep_default_na=False)
        df.to_csv(raw / f"{table_name}.csv", index=False, **to_csv)

    return mutate


def rename_header(table_name: str, old: str, new: str) -> Mutation:
    def mutate(raw: Path) -> None:
        df = pd.read_csv(raw / f"{table_name}.csv", dtype=str, keep_default_na=False)
        df.rename(columns={old: new}).to_csv(raw / f"{table_name}.csv", index=False)

    return mutate


EVENTS = clean_tables()["events"]


def _truncated_gzip() -> bytes:
    # Enough rows that the cut falls inside the data, after a readable header line.
    data = gzip.compress(pd.concat([EVENTS] * 200).to_csv(index=False).encode(), mtime=0)
    return data[: len(data) // 2]


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), sink)
    return sink.getvalue().to_pybytes()


# --- checks on the summary ---------------------------------------------------------------


def open_ended(n: int, table_name: str = "contracts") -> Callable[[dict, Path], None]:
    def check(summary: dict, work: Path) -> None:
        assert summary["open_ended_end_dates"] == {table_name: {"end_date": n}}
        assert summary["rows"][table_name]["quarantined"] == 0

    return check


def a1_running(summary: dict, work: Path) -> None:
    """A1's contract C2 was made open-ended: A1's spell runs at as_of."""
    open_ended(1)(summary, work)
    c = interim(work, "contracts").set_index("contract_id")
    assert pd.isna(c.loc["C2", "end_date"])
    spells = interim(work, "spells").set_index("account_id")
    assert spells.loc["A1", "censored_reason"] == "running"


def rows_by_file(expected: dict[str, int]) -> Callable[[dict, Path], None]:
    def check(summary: dict, work: Path) -> None:
        assert summary["rows_read_by_file"]["events"] == expected
        assert summary["rows"]["events"]["read"] == sum(expected.values())

    return check


def _hive(summary: dict, work: Path) -> None:
    rows_by_file(
        {
            "data/raw/events/year=2024/month=1/part-0.csv": 2,
            "data/raw/events/year=2024/month=2/part-0.csv.gz": 3,
        }
    )(summary, work)
    assert summary["partition_columns"]["events"] == {"used": [], "ignored": ["month", "year"]}
    assert [w["code"] for w in summary["warnings"]][:1] == ["partition_keys_ignored"]
    assert summary["files_ignored"]["events"] == ["data/raw/events/_SUCCESS"]
    assert summary["rows"]["events"]["accepted"] == 5


def _partition_account(summary: dict, work: Path) -> None:
    assert summary["partition_columns"]["events"] == {"used": ["account_id"], "ignored": []}
    ev = interim(work, "events")
    assert sorted(ev["account_id"]) == ["A1", "A1", "A2", "A2", "A3"]


def _semicolon(summary: dict, work: Path) -> None:
    assert summary["csv_delimiters"] == {"accounts": {"data/raw/accounts.csv": ";"}}
    assert "csv_delimiter_detected" in [w["code"] for w in summary["warnings"]]
    assert summary["rows"]["accounts"]["accepted"] == 3


def _dst(summary: dict, work: Path) -> None:
    assert summary["local_time_adjustments"] == {
        "events": {"occurred_at": {"ambiguous_read_as_first": 1, "nonexistent_shifted_forward": 1}}
    }
    ev = interim(work, "events").set_index("user_id")["occurred_at"]
    assert ev["U2"] == pd.Timestamp("2024-03-10 07:00", tz="UTC")  # 02:30 -> 03:00 EDT
    assert ev["U1"] == pd.Timestamp("2024-11-03 05:30", tz="UTC")  # the first 01:30 (EDT)


def _column_map_unmatched(summary: dict, work: Path) -> None:
    (warning,) = [w for w in summary["warnings"] if w["code"] == "column_map_unmatched"]
    assert "'Tier'" in warning["message"] and "'plan'" in warning["message"]


def _lowercase_rfc3339(summary: dict, work: Path) -> None:
    ev = interim(work, "events").set_index("user_id")["occurred_at"]
    assert ev["U1"] == pd.Timestamp("2024-01-05 01:00", tz="UTC")


def _huge_field(summary: dict, work: Path) -> None:
    names = interim(work, "accounts").set_index("account_id")["name"]
    assert len(names["A1"]) == 4_000_000


def _cascade(summary: dict, work: Path) -> None:
    assert summary["rejected_account_cascade"]["account_rows_by_reason"] == {"implausible_date": 1}
    assert summary["rows"]["events"]["by_reason"]["unknown_account"] == 0


# --- the battery -------------------------------------------------------------------------

CASES = [
    # Tracebacks that must be one line.
    Case(
        "truncated_gzip_part",
        events_as_parts({"part-0.csv": EVENTS, "part-1.csv.gz": _truncated_gzip()}),
        error=("data/raw/events/part-1.csv.gz", "damaged or cut short"),
    ),
    Case(
        "gzip_suffix_on_plain_text",
        events_as_parts({"part-0.csv.gz": EVENTS.to_csv(index=False)}),
        error=("data/raw/events/part-0.csv.gz", "cannot read as gzip"),
    ),
    Case(
        "truncated_parquet_part",
        events_as_parts({"part-0.parquet": _parquet_bytes(EVENTS)[:200]}),
        error=("data/raw/events/part-0.parquet", "Parquet"),
    ),
    Case(
        "parquet_date32_year_2999_end_date_is_open",
        as_parquet(
            "contracts",
            {
                "end_date": pa.array(
                    [pd.Timestamp("2024-02-01").date(), pd.Timestamp("2999-12-31").date()]
                    + [pd.Timestamp("2024-06-01").date(), pd.Timestamp("2025-03-01").date()],
                    pa.date32(),
                )
            },
        ),
        check=a1_running,
    ),
    Case(
        "parquet_timestamp_year_2300_is_implausible",
        as_parquet(
            "tickets",
            {
                "opened_at": pa.array(
                    [dt.datetime(2024, 1, 10, 10, tzinfo=UTC), dt.datetime(2300, 1, 1, tzinfo=UTC)],
                    pa.timestamp("us", tz="UTC"),
                ),
            },
        ),
        quarantined=("tickets", "implausible_date", 1),
    ),
    Case(
        "csv_end_date_2999_is_open",
        set_cell("contracts", 1, "end_date", "2999-12-31"),
        check=a1_running,
    ),
    Case(
        "csv_end_date_9999_is_open",
        set_cell("contracts", 1, "end_date", "9999-12-31"),
        check=a1_running,
    ),
    Case(
        "csm_assignment_end_9999_is_open",
        lambda raw: pd.DataFrame(
            {
                "account_id": ["A1"],
                "csm_id": ["S1"],
                "start_date": ["2024-01-01"],
                "end_date": ["9999-12-31"],
            }
        ).to_csv(raw / "csm_assignments.csv", index=False),
        check=open_ended(1, "csm_assignments"),
    ),
    Case(
        "cancelled_at_2999_is_implausible",
        add_row("contracts", contract_id="C9", cancelled_at="2999-01-01"),
        quarantined=("contracts", "implausible_date", 1),
    ),
    # Accepted when it should not be.
    Case(
        "contract_start_1900_is_implausible",
        add_row("contracts", contract_id="C9", start_date="1900-01-01"),
        quarantined=("contracts", "implausible_date", 1),
    ),
    Case(
        "event_in_year_2300_is_implausible",
        add_row("events", occurred_at="2300-01-01T00:00:00Z"),
        quarantined=("events", "implausible_date", 1),
    ),
    Case(
        "earliest_date_param_moves_the_window",
        lambda raw: None,
        ingest={"earliest_date": "2024-01-02"},
        # A1 signed up on 2024-01-01, a day before the window opens.
        quarantined=("accounts", "implausible_date", 1),
    ),
    *[
        Case(
            f"clock_word_{word}",
            add_row("events", occurred_at=word),
            quarantined=("events", "unparseable_date", 1),
        )
        for word in ("now", "today", "yesterday", "tomorrow", "NOW")
    ],
    Case(
        "clock_word_in_a_date_column",
        add_row("contracts", contract_id="C9", start_date="today"),
        quarantined=("contracts", "unparseable_date", 1),
    ),
    Case(
        "non_scalar_parquet_list_column",
        as_parquet(
            "accounts",
            {"name": pa.array([["Acme"], ["株式会社テスト"], ["Zeta"]], pa.list_(pa.string()))},
        ),
        error=("data/raw/accounts.parquet", "column 'name'", "list"),
    ),
    Case(
        "non_scalar_parquet_struct_column",
        as_parquet(
            "accounts",
            {"account_id": pa.array([{"id": "A1"}, {"id": "A2"}, {"id": "A3"}])},
        ),
        error=("data/raw/accounts.parquet", "column 'account_id'", "struct"),
    ),
    # Rows read but found nowhere.
    Case(
        "hive_partition_folders_are_read",
        events_as_parts(
            {
                "year=2024/month=1/part-0.csv": EVENTS.iloc[:2],
                "year=2024/month=2/part-0.csv.gz": EVENTS.iloc[2:],
                "_SUCCESS": "",
            }
        ),
        check=_hive,
    ),
    Case(
        "partition_key_that_is_a_contract_column_becomes_the_column",
        events_as_parts(
            {
                f"account_id={acc}/part-0.parquet": _parquet_bytes(
                    EVENTS[EVENTS["account_id"] == acc].drop(columns="account_id")
                )
                for acc in ("A1", "A2", "A3")
            }
        ),
        check=_partition_account,
    ),
    Case(
        "stray_file_in_a_partition_folder_is_an_error",
        events_as_parts({"year=2024/part-0.csv": EVENTS, "year=2024/notes.txt": "hello"}),
        error=("data/raw/events/year=2024/notes.txt", "unsupported file type"),
    ),
    Case(
        "account_row_rejected_cascades_with_its_own_reason",
        set_cell("accounts", 1, "signup_date", "1900-01-01"),
        quarantined=("events", "account_rejected", 2),
        check=_cascade,
    ),
    # Messages that could say more.
    Case(
        "shift_jis_names_row_column_and_encoding",
        rewrite_csv("accounts", encoding="cp932"),
        error=("data/raw/accounts.csv", "row 2", "column 'name'", "ingest.encoding: cp932"),
    ),
    Case("semicolon_delimited_csv_is_detected", rewrite_csv("accounts", sep=";"), check=_semicolon),
    Case(
        "header_differs_only_in_case",
        rename_header("contracts", "mrr", "MRR"),
        error=("data/raw/contracts.csv", "'mrr'", "'MRR' differs from 'mrr' only in case"),
    ),
    Case(
        "column_map_entry_matching_no_file_warns",
        lambda raw: None,
        ingest={"column_map": {"contracts": {"Tier": "plan"}}},
        check=_column_map_unmatched,
    ),
    Case(
        "column_map_entry_for_a_required_column_that_does_not_match",
        rename_header("events", "occurred_at", "Timestamp"),
        ingest={"column_map": {"events": {"timestamp": "occurred_at"}}},
        error=(
            "maps 'timestamp' to 'occurred_at'",
            "no column 'timestamp'",
            "Timestamp",
            "only in case",
            "{Timestamp: occurred_at}",
        ),
    ),
    Case(
        "reversed_column_map",
        rename_header("contracts", "plan", "Tier"),
        ingest={"column_map": {"contracts": {"plan": "Tier"}}},
        error=("ingest.column_map.contracts", "did you mean {Tier: plan}?"),
    ),
    Case(
        "rfc3339_lowercase_t_and_z_are_accepted",
        set_cell("events", 0, "occurred_at", "2024-01-05t01:00:00z"),
        check=_lowercase_rfc3339,
    ),
    Case(
        "huge_single_field_is_read",
        set_cell("accounts", 0, "name", "x" * 4_000_000),
        check=_huge_field,
    ),
    Case(
        "dst_gap_and_fold_are_counted",
        lambda raw: (
            set_cell("events", 0, "occurred_at", "2024-11-03 01:30:00")(raw),
            set_cell("events", 1, "occurred_at", "2024-03-10 02:30:00")(raw),
        ),
        ingest={"source_timezone": "America/New_York"},
        check=_dst,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(tmp_path, case: Case):
    raw = tmp_path / "data/raw"
    write_raw(raw, clean_tables())
    case.mutate(raw)
    if case.error:
        with pytest.raises(UserError) as info:  # any other exception fails the test
            run_ingest(tmp_path, None, ingest=case.ingest)
        message = str(info.value)
        assert "\n" not in message, message
        for part in case.error:
            assert part in message, message
        return
    summary = run_ingest(tmp_path, None, ingest=case.ingest)
    for name, rows in summary["rows"].items():
        assert rows["read"] == rows["accepted"] + rows["quarantined"], name
        assert sum(summary["rows_read_by_file"][name].values()) == rows["read"], name
    if case.quarantined:
        name, reason, n = case.quarantined
        assert summary["rows"][name]["by_reason"][reason] == n, summary["rows"][name]
        q = interim(tmp_path, name, quarantine=True)
        assert (q["_reason"] == reason).sum() == n
    if case.check:
        case.check(summary, tmp_path)


def test_unclosed_quote_over_the_block_size_explains_itself(tmp_path, monkeypatch):
    # Arrow's own text ("straddling object ... block size") says nothing to a user; the
    # usual cause is a quote that never closes, so the rest of the file is one value.
    monkeypatch.setattr(read, "CSV_BLOCK_SIZE", 1 << 20)
    raw = tmp_path / "data/raw"
    write_raw(raw, clean_tables())
    set_cell("accounts", 0, "name", "y" * 3_000_000)(raw)
    with pytest.raises(UserError) as info:
        run_ingest(tmp_path, None)
    msg = str(info.value)
    assert "data/raw/accounts.csv" in msg and "longer than 1 MB" in msg and "quote" in msg


def test_rows_lost_on_the_way_are_a_bug_not_silence(tmp_path, monkeypatch):
    # Rows read are counted by the reader; if validation loses one, the stage must stop.
    real = table.check_part

    def lossy(part, *args, **kwargs):
        ok, q = real(part, *args, **kwargs)
        return (ok.iloc[1:], q) if part.path.name == "events.csv" else (ok, q)

    monkeypatch.setattr("churnlab.ingest.stage.check_part", lossy)
    with pytest.raises(RowCountMismatch, match="table 'events': the files hold 5 rows"):
        run_ingest(tmp_path, clean_tables())


def test_parquet_rows_read_come_from_the_file_metadata(tmp_path):
    raw = tmp_path / "data/raw"
    write_raw(raw, clean_tables())
    events_as_parts({"part-0.parquet": _parquet_bytes(EVENTS)})(raw)
    summary = run_ingest(tmp_path, None)
    assert summary["rows_read_by_file"]["events"] == {"data/raw/events/part-0.parquet": 5}
