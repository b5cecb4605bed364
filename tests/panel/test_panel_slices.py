"""The raw-event steps run in contiguous account_id ranges read from the events file's
row-group statistics (engines.account_slices); the panel must not change with the slicing."""

import json
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "indicators"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_panel  # noqa: E402
from panel_world import three_accounts, with_history  # noqa: E402

import churnlab.panel.engines as engines  # noqa: E402
from churnlab.indicators.blocks import Settings  # noqa: E402
from churnlab.panel.engines import account_slices, finish, run_duckdb  # noqa: E402
from churnlab.panel.query import PANEL_ROW_KEYS, panel_steps, select_indicators  # noqa: E402

AS_OF = "2025-03-31"

# Ids that sort differently by length, case and script: Python (code points), DuckDB and
# Parquet statistics (UTF-8 bytes) all give this order; a locale or a "natural" sort would
# not (a10 before a9, Z before a, é and 日本 after z).
ODD_IDS = {"a1": "a10", "a2": "a9", "a3": "日本"}


def events_file(tmp_path, account_ids, row_group_size):
    """One event per id given (in that order, which must be sorted), `row_group_size` rows
    per row group, written as ingest writes events (sorted by account_id)."""
    table = pa.table(
        {
            "account_id": account_ids,
            "user_id": ["u"] * len(account_ids),
            "occurred_at": pa.array([0] * len(account_ids), pa.timestamp("ns", tz="UTC")),
            "event_type": ["login"] * len(account_ids),
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def slice_counts(path, slices):
    """Events per slice, read back with DuckDB from the file."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{path}')")
    return [con.execute(f"SELECT COUNT(*) FROM events WHERE {w}").fetchone()[0] for w in slices]


def connected(path):
    con = duckdb.connect()
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{path}')")
    return con


def test_boundaries_are_row_group_minima_nearest_each_share_of_the_rows(tmp_path):
    # 12 events, row groups of 3: [A A B] [B B C] [C D D] [E F F]; row groups start at rows
    # 0, 3, 6, 9. Two slices: half = row 6 -> boundary C (min of the third group).
    ids = ["A", "A", "B", "B", "B", "C", "C", "D", "D", "E", "F", "F"]
    path = events_file(tmp_path, ids, 3)
    two = account_slices(connected(path), path, 2)
    assert two == ["(account_id < 'C' OR account_id IS NULL)", "account_id >= 'C'"]
    assert slice_counts(path, two) == [5, 7]
    # Four slices: rows 3, 6, 9 -> B, C, E.
    four = account_slices(connected(path), path, 4)
    assert slice_counts(path, four) == [2, 3, 4, 3]


def test_an_account_straddling_row_groups_lands_whole_in_one_slice(tmp_path):
    # B's events span the first two row groups ([A B B] [B B C]); the boundary at row 3 is
    # B, so all four B events are in the second slice, none in the first.
    ids = ["A", "B", "B", "B", "B", "C"]
    path = events_file(tmp_path, ids, 3)
    slices = account_slices(connected(path), path, 2)
    assert slices == ["(account_id < 'B' OR account_id IS NULL)", "account_id >= 'B'"]
    assert slice_counts(path, slices) == [1, 5]


def test_odd_ids_sort_by_code_point_and_slices_cover_every_event_once(tmp_path):
    ids = sorted(["Z", "a10", "a10", "a9", "a9", "é", "日本", "日本", "it's"])
    assert ids == ["Z", "a10", "a10", "a9", "a9", "it's", "é", "日本", "日本"]
    path = events_file(tmp_path, ids, 2)
    for chunks in (2, 3, 5, 9):
        slices = account_slices(connected(path), path, chunks)
        counts = slice_counts(path, slices)
        assert sum(counts) == len(ids)
        assert len(slices) <= chunks
    # 3 slices of 9 rows, row groups start at 0, 2, 4, 6, 8: rows 3 and 6 -> the groups
    # starting at 2 (a10, tie with 4 -> the first) and 6 (é).
    three = account_slices(connected(path), path, 3)
    assert three == [
        "(account_id < 'a10' OR account_id IS NULL)",
        "account_id >= 'a10' AND account_id < 'é'",
        "account_id >= 'é'",
    ]
    assert slice_counts(path, three) == [1, 5, 3]


def test_an_apostrophe_in_a_boundary_is_quoted(tmp_path):
    ids = ["a", "a", "it's", "it's"]
    path = events_file(tmp_path, ids, 2)
    slices = account_slices(connected(path), path, 2)
    assert slices[1] == "account_id >= 'it''s'"
    assert slice_counts(path, slices) == [2, 2]


def test_one_row_group_or_one_account_gives_one_slice(tmp_path):
    path = events_file(tmp_path, ["A", "B", "C"], 10)
    assert account_slices(connected(path), path, 3) == ["TRUE"]
    path = events_file(tmp_path, ["A"] * 6, 2)
    assert account_slices(connected(path), path, 3) == ["TRUE"]


def test_frames_slice_at_event_weighted_quantiles():
    # 12 events, half of them A's: the 1/4 and 1/2 quantiles are A (the lowest id, no
    # boundary below it), the 3/4 quantile is the 9th event, D.
    events = pd.DataFrame({"account_id": ["A"] * 6 + ["B", "C", "D", "E", "F", "G"]})
    con = duckdb.connect()
    con.register("_ev", events)
    con.execute("CREATE VIEW events AS SELECT * FROM _ev")
    assert account_slices(con, events, 2) == ["TRUE"]
    slices = account_slices(con, events, 4)
    assert slices == ["(account_id < 'D' OR account_id IS NULL)", "account_id >= 'D'"]
    counts = [con.execute(f"SELECT COUNT(*) FROM events WHERE {w}").fetchone()[0] for w in slices]
    assert counts == [8, 4]


def test_null_ids_go_to_the_first_slice_and_non_text_ids_to_hash_slices(tmp_path):
    # Row groups [null A] [A B] [B C]: minima A, A, B (statistics skip nulls); boundary B.
    path = events_file(tmp_path, [None, "A", "A", "B", "B", "C"], 2)
    slices = account_slices(connected(path), path, 3)
    assert slice_counts(path, slices) == [3, 3]  # null, A, A | B, B, C
    con = duckdb.connect()
    con.execute("CREATE VIEW events AS SELECT range AS account_id FROM range(10)")
    assert account_slices(con, pd.DataFrame(), 2) == [
        "hash(account_id) % 2 = 0",
        "hash(account_id) % 2 = 1",
    ]


def odd_company(tmp_path, row_group_size):
    """three_accounts with odd ids; events as a Parquet file sorted by account_id, small
    row groups so accounts straddle them; the other tables stay DataFrames."""
    data = with_history(three_accounts(), AS_OF)
    renamed = {}
    for name, df in data.items():
        df = df.copy()
        df["account_id"] = (
            df["account_id"].astype(object).map(ODD_IDS).astype(df["account_id"].dtype)
        )
        renamed[name] = df
    events = renamed["events"].sort_values(
        ["account_id", "occurred_at", "user_id", "event_type"], kind="stable"
    )
    path = tmp_path / "events.parquet"
    pq.write_table(
        pa.Table.from_pandas(events, preserve_index=False), path, row_group_size=row_group_size
    )
    return {**renamed, "events": path}, set(three_accounts())


@pytest.mark.parametrize("row_group_size", [4, 5])
def test_several_slices_give_the_same_panel_as_one(tmp_path, row_group_size):
    # 22 events: a10 has 7, a9 12, 日本 3; groups of 4 or 5 rows cut through a9's events.
    sources, present = odd_company(tmp_path, row_group_size)
    steps = panel_steps(select_indicators(present), Settings(as_of=AS_OF))
    one = finish(run_duckdb(sources, steps, events_chunks=1))
    assert list(one["account_id"].unique()) == ["a10", "a9", "日本"]
    for chunks in (2, 3, 6):
        sliced = finish(run_duckdb(sources, steps, events_chunks=chunks))
        pd.testing.assert_frame_equal(one, sliced, check_exact=True)


def test_the_written_panel_is_byte_identical_with_slices(tmp_path, monkeypatch):
    """The stage's path: the engine writes the file; EVENTS_PER_CHUNK sets the slice count."""
    sources, present = odd_company(tmp_path, 4)
    steps = panel_steps(select_indicators(present), Settings(as_of=AS_OF))
    run_duckdb(sources, steps, out=tmp_path / "one.parquet")
    # 22 events -> 11 slices asked; row groups of 4 start at a10, a10, a9, a9, a9, 日本, so
    # there are three: one per account.
    monkeypatch.setattr(engines, "EVENTS_PER_CHUNK", 2)
    assert account_slices(connected(sources["events"]), sources["events"], 11) == [
        "(account_id < 'a9' OR account_id IS NULL)",
        "account_id >= 'a9' AND account_id < '日本'",
        "account_id >= '日本'",
    ]
    run_duckdb(sources, steps, out=tmp_path / "sliced.parquet")
    one = (tmp_path / "one.parquet").read_bytes()
    assert one == (tmp_path / "sliced.parquet").read_bytes()


# The final write in parts (engines.write_duckdb): consecutive (account_id, wk) key ranges,
# each sorted and written on its own, then concatenated; the file must not change.


def keys_table(pairs):
    con = duckdb.connect()
    con.execute("CREATE TABLE spine (account_id VARCHAR, wk BIGINT, spell BIGINT)")
    con.executemany("INSERT INTO spine VALUES (?, ?, ?)", pairs)
    return con


def test_part_bounds_are_the_keys_at_each_multiple_of_the_part_size():
    # Panel rows in key order: A:10 11 12 | B:10 11 | C:12 13 14 15 (9 rows; B's week 12 has
    # no spell and is no panel row). Parts of 4: rows 4 and 8 (0-based) -> B wk 11, C wk 15.
    rows = [("A", 10, 1), ("A", 11, 1), ("A", 12, 1), ("B", 10, 1), ("B", 11, 1)]
    rows += [("B", 12, None), ("C", 12, 1), ("C", 13, 1), ("C", 14, 1), ("C", 15, 2)]
    con = keys_table(rows)
    assert engines.part_bounds(con, PANEL_ROW_KEYS, 4) == [("B", 11), ("C", 15)]
    assert engines.part_bounds(con, PANEL_ROW_KEYS, 3) == [("B", 10), ("C", 13)]
    assert engines.part_bounds(con, PANEL_ROW_KEYS, 9) == []  # one part: one sort
    ranges = engines.key_ranges([("B", 11), ("C", 15)])
    counts = [
        con.execute(f"SELECT COUNT(*) FROM ({PANEL_ROW_KEYS}) k WHERE {w}").fetchone()[0]
        for w in ranges
    ]
    assert counts == [4, 4, 1]


def test_a_null_account_id_keeps_the_one_sort():
    con = keys_table([("A", 1, 1), ("A", 2, 1), (None, 1, 1)])
    assert engines.part_bounds(con, PANEL_ROW_KEYS, 1) == []


def test_an_apostrophe_in_a_part_bound_is_quoted():
    con = keys_table([("a", 1, 1), ("it's", 1, 1), ("it's", 2, 1)])
    assert engines.part_bounds(con, PANEL_ROW_KEYS, 2) == [("it's", 2)]
    ranges = engines.key_ranges([("it's", 2)])
    counts = [
        con.execute(f"SELECT COUNT(*) FROM ({PANEL_ROW_KEYS}) k WHERE {w}").fetchone()[0]
        for w in ranges
    ]
    assert counts == [2, 1]


def _write_in_parts(sources, steps, out, chunks: int, rows: int) -> None:
    """The panel written as the stage writes it (row keys given), in parts of `rows` rows."""
    run_duckdb(
        sources, steps, events_chunks=chunks, out=out, row_keys=PANEL_ROW_KEYS,
        rows_per_part=rows,
    )  # fmt: skip


@pytest.mark.parametrize("chunks", [1, 4, 8])
def test_the_panel_written_in_parts_has_the_rows_of_one_sort(tmp_path, chunks):
    # Parts of 5, 17 and 64 rows cut through accounts (never whole row groups): the rows,
    # their order and the schema are those of the one-sort file.
    sources, present = odd_company(tmp_path, 4)
    steps = panel_steps(select_indicators(present), Settings(as_of=AS_OF))
    run_duckdb(sources, steps, out=tmp_path / "one.parquet")
    one = pq.read_table(tmp_path / "one.parquet")
    assert one.num_rows > 64
    for rows in (5, 17, 64):
        out = tmp_path / f"parts{rows}.parquet"
        _write_in_parts(sources, steps, out, chunks, rows)
        parted = pq.read_table(out)
        assert parted.schema.equals(one.schema)
        assert parted.equals(one)
    assert not list(tmp_path.glob(".*parts-*"))  # the parts are gone


def test_parts_of_whole_row_groups_give_the_same_bytes(tmp_path, monkeypatch):
    """Row groups of 2048 rows (DuckDB's vector) so that a small company has several: parts
    of 1, 2 or 3 row groups (and 4 or 8 event slices) write the one-sort file's bytes."""
    world = tmp_path / "world"
    bench_panel.generate(world, 150_000)  # 60 accounts, ~5,000 panel rows
    present = set(json.loads((world / "tables.json").read_text())["present"])
    tables = ["accounts", "contract_terms", "spells", *sorted(present - {"accounts", "contracts"})]
    sources = {t: world / f"{t}.parquet" for t in tables}
    steps = panel_steps(select_indicators(present), Settings(as_of="2025-12-31"))
    monkeypatch.setattr(engines, "ROW_GROUP_SIZE", 2048)
    run_duckdb(sources, steps, out=tmp_path / "one.parquet")
    one = (tmp_path / "one.parquet").read_bytes()
    assert pq.read_metadata(tmp_path / "one.parquet").num_row_groups >= 3
    for rows, chunks in ((2048, 1), (4096, 4), (6144, 8)):
        out = tmp_path / f"parts{rows}.parquet"
        _write_in_parts(sources, steps, out, chunks, rows)
        assert out.read_bytes() == one, rows
