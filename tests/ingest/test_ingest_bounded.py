"""Ingest in bounded memory (issue 17): accepted rows staged file by file and sorted out of
core give the same tables, quarantine and counts as sorting the whole table in memory."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_testkit import clean_tables, interim, run_ingest, write_raw

from churnlab.errors import ConfigError
from churnlab.ingest import spill, stage
from churnlab.ingest.schemas import STRING_DTYPE, TABLES
from churnlab.ingest.spill import Engine, StagedTable, connect, no_rows, write_sorted
from churnlab.ingest.table import sort_stable
from churnlab.io import write_parquet

EVENTS = TABLES["events"]


def _events(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """Typed events as check_part returns them (pyarrow strings, UTC nanoseconds)."""
    a, u, t, e = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "account_id": pd.array(a, dtype=STRING_DTYPE),
            "user_id": pd.array(u, dtype=STRING_DTYPE),
            "occurred_at": pd.to_datetime(list(t), utc=True).astype("datetime64[ns, UTC]"),
            "event_type": pd.array(e, dtype=STRING_DTYPE),
        }
    )


def _bytes(path) -> bytes:
    return path.read_bytes()


# --- the order check ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # ties on every key are in order (a stable sort keeps them as they are)
        ([("A1", "1"), ("A1", "1"), ("A2", "0")], True),
        ([("A1", "2"), ("A1", "1")], False),  # second key decides within the first
        ([("A1", "9"), ("A2", "1")], True),  # first key decides, second ignored
        ([("A2", "1"), ("A10", "1")], False),  # bytes, not numbers: "A10" < "A2"
        ([("A1", None), ("A2", "1")], False),  # a null key: leave it to the sort
    ],
)
def test_in_order_compares_key_by_key(rows, expected):
    table = pa.table({"k1": [r[0] for r in rows], "k2": [r[1] for r in rows]})
    assert spill._in_order(table, ["k1", "k2"]) is expected


def test_staged_files_are_in_order_only_when_each_file_starts_above_the_last():
    def staged(parts, tmp):
        s = StagedTable(EVENTS, tmp)
        for i, rows in enumerate(parts):
            s.add(i, _events(rows), np.arange(len(rows), dtype=np.uint64))
        return s

    a = ("A1", "U1", "2024-01-01", "login")
    b = ("A1", "U1", "2024-01-02", "login")
    c = ("A2", "U1", "2024-01-01", "login")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        assert staged([[a, b], [c]], Path(tmp) / "1").in_order
        # The same row at the end of one file and the start of the next could be a copy.
        assert not staged([[a, b], [b, c]], Path(tmp) / "2").in_order
        assert not staged([[c], [a, b]], Path(tmp) / "3").in_order
        assert not staged([[b, a]], Path(tmp) / "4").in_order


# --- sorted writing -------------------------------------------------------------------------


def _big_events(n: int, seed: int) -> pd.DataFrame:
    """n typed events with many ties on the key (few accounts, users, types, seconds)."""
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 50, n) * 1_000_000_000 + 1_700_000_000_000_000_000
    return pd.DataFrame(
        {
            "account_id": pd.array(rng.choice(["A1", "A2", "A10"], n), dtype=STRING_DTYPE),
            "user_id": pd.array(rng.choice(["U1", "U2"], n), dtype=STRING_DTYPE),
            "occurred_at": pd.to_datetime(seconds, utc=True).astype("datetime64[ns, UTC]"),
            "event_type": pd.array(rng.choice(["login", "x"], n), dtype=STRING_DTYPE),
        }
    )


@pytest.mark.parametrize("presorted", [False, True])
def test_write_sorted_gives_the_bytes_of_sorting_in_memory(tmp_path, presorted):
    # Over one row group (1,048,576 rows), unsorted (DuckDB's sort, ties by file and row)
    # and already sorted (streamed through): the file write_parquet writes for the table
    # concatenated and sorted stably in memory, byte for byte.
    parts = [_big_events(700_000, 1), _big_events(500_000, 2)]
    if presorted:
        whole = sort_stable(pd.concat(parts, ignore_index=True), list(EVENTS.sort))
        # Split where the key changes: a tie across two files could be a copy (sorted then).
        keys = whole[list(EVENTS.sort)]
        cut = int(np.flatnonzero((keys.shift() != keys).any(axis=1).to_numpy()[700_000:])[0])
        cut += 700_000
        parts = [whole.iloc[:cut], whole.iloc[cut:].reset_index(drop=True)]
    expected = sort_stable(pd.concat(parts, ignore_index=True), list(EVENTS.sort))
    write_parquet(expected, tmp_path / "expected.parquet")
    staged = StagedTable(EVENTS, tmp_path / "staging")
    for i, part in enumerate(parts):
        staged.add(i, part, None)
    assert staged.in_order is presorted
    con = connect(Engine(threads=2, memory_limit="256MB"), tmp_path / "spill")
    write_sorted(con, staged, no_rows(), tmp_path / "out.parquet")
    assert _bytes(tmp_path / "out.parquet") == _bytes(tmp_path / "expected.parquet")


def test_write_sorted_of_nothing_is_the_empty_table(tmp_path):
    empty = _events([("A1", "U1", "2024-01-01", "login")]).iloc[:0]
    staged = StagedTable(EVENTS, tmp_path / "staging")
    staged.add(0, empty, None)
    write_sorted(None, staged, no_rows(), tmp_path / "out.parquet")
    write_parquet(empty, tmp_path / "expected.parquet")
    assert _bytes(tmp_path / "out.parquet") == _bytes(tmp_path / "expected.parquet")


def test_engine_settings_reach_duckdb(tmp_path):
    con = connect(Engine(threads=1, memory_limit="300MB"), tmp_path / "spill")
    threads, limit, temp = con.execute(
        "SELECT current_setting('threads'), current_setting('memory_limit'), "
        "current_setting('temp_directory')"
    ).fetchone()
    assert threads == 1
    assert limit.replace(" ", "") in ("286.1MiB", "300.0MB", "300MB")
    assert temp == str(tmp_path / "spill")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("duckdb_threads", 0, "ingest.duckdb_threads must be a whole number >= 1, got 0"),
        ("duckdb_threads", True, "ingest.duckdb_threads must be a whole number >= 1, got True"),
        ("duckdb_memory_limit", "lots", "ingest.duckdb_memory_limit must be a size such as"),
    ],
)
def test_bad_engine_params_name_the_key(key, value, expected):
    with pytest.raises(ConfigError, match=expected):
        stage.Settings.from_params({"ingest": {key: value}})


def test_engine_defaults_and_values():
    assert stage.Settings.from_params({}).engine == Engine(2, "2GB", None)
    got = stage.Settings.from_params(
        {"ingest": {"duckdb_threads": 1, "duckdb_memory_limit": "512MB", "temp_dir": "/x"}}
    ).engine
    assert got == Engine(1, "512MB", "/x")


# --- the stage: files out of order, copies across files, pieces of a big file ----------------


def _event_parts(raw, parts: dict[str, pd.DataFrame]) -> None:
    (raw / "events.csv").unlink(missing_ok=True)
    shutil.rmtree(raw / "events", ignore_errors=True)
    (raw / "events").mkdir()
    for name, frame in parts.items():
        frame.to_csv(raw / "events" / name, index=False)


def test_files_out_of_order_with_a_copy_across_files(tmp_path):
    # part-1 starts before part-0 ends (DuckDB sorts), and repeats part-0's first row
    # (an overlapping re-export): the copy is quarantined with its own file and row, the
    # row counts add up, and the events come out sorted, the copy once.
    ev = clean_tables()["events"]
    raw = tmp_path / "data/raw"
    write_raw(raw, clean_tables())
    _event_parts(raw, {"part-0.csv": ev.iloc[[0, 4]], "part-1.csv": ev.iloc[[2, 0, 1, 3]]})
    summary = run_ingest(tmp_path, None)
    rows = summary["rows"]["events"]
    assert (rows["read"], rows["accepted"], rows["quarantined"]) == (6, 5, 1)
    assert rows["by_reason"]["duplicate"] == 1
    assert summary["accounts_without_events"] == 0
    q = interim(tmp_path, "events", quarantine=True)
    assert q[["_source_file", "_source_row", "_reason"]].values.tolist() == [
        ["data/raw/events/part-1.csv", 2, "duplicate"]
    ]
    assert q["occurred_at"].tolist() == ["2024-01-05T10:00:00+09:00"]  # as the user wrote it
    out = interim(tmp_path, "events")
    assert out["account_id"].tolist() == ["A1", "A1", "A2", "A2", "A3"]
    # A1's two events: 01:00 UTC (the +09:00 one) before 10:00 UTC (naive = UTC).
    assert out["user_id"].tolist() == ["U1", "U2", "U3", "U3", "U4"]
    assert summary["date_coverage"]["events"] == ["2024-01-05", "2024-03-05"]


def test_copy_across_files_takes_back_its_local_time_note(tmp_path):
    # 02:30 on 31 March 2024 does not exist in Berlin (clocks jump 02:00 -> 03:00): read as
    # 03:00 and counted once per accepted row. Its copy in a later file is quarantined, so
    # the count is 1, not 2.
    tables = clean_tables()
    ev = pd.DataFrame(
        {
            "account_id": ["A3", "A3"],
            "user_id": ["U4", "U4"],
            "occurred_at": ["2024-03-31 02:30:00", "2024-04-02 10:00:00"],
            "event_type": ["login", "login"],
        }
    )
    raw = tmp_path / "data/raw"
    write_raw(raw, tables)
    _event_parts(raw, {"part-0.csv": ev, "part-1.csv": ev.iloc[[0]]})
    summary = run_ingest(tmp_path, None, ingest={"source_timezone": "Europe/Berlin"})
    assert summary["rows"]["events"]["by_reason"]["duplicate"] == 1
    assert summary["local_time_adjustments"]["events"] == {
        "occurred_at": {"nonexistent_shifted_forward": 1}
    }


def test_big_parquet_file_is_checked_piece_by_piece_with_the_same_result(tmp_path, monkeypatch):
    # One Parquet file of 7 events in row groups of 2, with a copy of row 1 at row 6 (in
    # another piece) and a row of an unknown account: read whole, or in pieces of at least
    # 3 rows (row groups [0, 1], [2, 3]), every output is the same, byte for byte.
    ev = clean_tables()["events"]
    rows = pd.concat([ev, ev.iloc[[0]], ev.iloc[[1]].assign(account_id="A9")], ignore_index=True)
    rows = rows.iloc[[5, 1, 2, 3, 4, 0, 6]].reset_index(drop=True)  # the copy (row 6) after 1
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), buf, row_group_size=2)
    outputs = {}
    for piece_rows in (1_000_000, 3):
        monkeypatch.setattr(stage, "PIECE_ROWS", piece_rows)
        work = tmp_path / str(piece_rows)
        raw = work / "data/raw"
        write_raw(raw, clean_tables())
        (raw / "events.csv").unlink()
        (raw / "events.parquet").write_bytes(buf.getvalue())
        summary = run_ingest(work, None)
        outputs[piece_rows] = {
            p.relative_to(work): p.read_bytes()
            for p in sorted((work / "data/interim").rglob("*"))
            if p.is_file()
        }
    rows_summary = summary["rows"]["events"]
    assert (rows_summary["read"], rows_summary["accepted"]) == (7, 5)
    assert rows_summary["by_reason"]["duplicate"] == 1
    assert rows_summary["by_reason"]["unknown_account"] == 1
    assert summary["rows_read_by_file"]["events"] == {"data/raw/events.parquet": 7}
    q = interim(tmp_path / "3", "events", quarantine=True)
    assert q[["_source_row", "_reason"]].values.tolist() == [
        [6, "duplicate"],
        [7, "unknown_account"],
    ]
    assert outputs[3] == outputs[1_000_000]


def test_parquet_pieces_keep_row_groups_whole(tmp_path):
    from churnlab.ingest.read import parquet_pieces

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": list(range(7))}), path, row_group_size=2)  # 2, 2, 2, 1
    # A piece takes whole row groups until it holds rows / ceil(rows / max_rows) rows:
    assert parquet_pieces(path, 3) == [[0, 1], [2, 3]]  # 7 / 3 = 2.3 rows: 4, then 3
    assert parquet_pieces(path, 2) == [[0], [1], [2], [3]]  # 7 / 4 = 1.75 rows
    assert parquet_pieces(path, 6) == [[0, 1], [2, 3]]  # 7 / 2 = 3.5 rows
    assert parquet_pieces(path, 7) is None  # one piece: read whole
    assert parquet_pieces(tmp_path / "t.csv", 1) is None


def test_results_do_not_depend_on_duckdb_threads(tmp_path):
    ev = clean_tables()["events"]
    outputs = []
    for threads in (1, 2):
        work = tmp_path / str(threads)
        raw = work / "data/raw"
        write_raw(raw, clean_tables())
        _event_parts(raw, {"part-0.csv": ev.iloc[[4, 0]], "part-1.csv": ev.iloc[[3, 1, 2, 0]]})
        run_ingest(work, None, ingest={"duckdb_threads": threads, "duckdb_memory_limit": "256MB"})
        outputs.append([p.read_bytes() for p in sorted((work / "data/interim").rglob("*.parquet"))])
    assert outputs[0] == outputs[1]


def test_temp_dir_is_used_and_left_empty(tmp_path):
    scratch = tmp_path / "scratch"
    summary = run_ingest(tmp_path, clean_tables(), ingest={"temp_dir": str(scratch)})
    assert summary["rows"]["events"]["accepted"] == 5
    assert scratch.is_dir() and not any(scratch.iterdir())  # staging removed at the end


def test_temp_dir_that_cannot_be_made_is_a_config_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"ingest.temp_dir '.*file/sub' cannot be created"):
        stage.Settings.from_params({"ingest": {"temp_dir": str(tmp_path / "file/sub")}})
