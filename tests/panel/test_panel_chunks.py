"""DuckDB may read the events in account slices (big data); the panel must not change."""

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "indicators"))
from panel_world import three_accounts, with_history  # noqa: E402

from churnlab.indicators.blocks import ACCOUNT_SLICEABLE_STEPS, Settings  # noqa: E402
from churnlab.panel.engines import finish, run_duckdb, step_plan  # noqa: E402
from churnlab.panel.query import panel_steps, select_indicators  # noqa: E402


def test_duckdb_chunked_events_give_the_same_panel():
    """Only steps that read the events table are sliced, and slices append exactly."""
    data = three_accounts()
    present = set(data)
    for as_of in ("2025-03-31", "2024-02-01"):
        data = with_history(three_accounts(), as_of)
        steps = panel_steps(select_indicators(present), Settings(as_of=as_of))
        assert ACCOUNT_SLICEABLE_STEPS <= {name for name, _ in steps}
        one = finish(run_duckdb(data, steps, events_chunks=1))
        for chunks in (2, 3):
            sliced = finish(run_duckdb(data, steps, events_chunks=chunks))
            pd.testing.assert_frame_equal(one, sliced)


def test_first_response_hours_keeps_sub_second_precision():
    data = with_history(three_accounts(), "2025-03-31")
    steps = panel_steps(select_indicators(set(three_accounts())), Settings(as_of="2025-03-31"))
    p = finish(run_duckdb(data, steps))
    row = p[(p["account_id"] == "a2") & (p["week_start"] == pd.Timestamp("2024-01-08"))]
    assert row["first_response_hours"].item() == pytest.approx(1.5 / 3600, rel=1e-9)


def test_finish_restores_row_order_when_an_engine_returns_rows_unsorted():
    data = with_history(three_accounts(), "2025-03-31")
    steps = panel_steps(select_indicators(set(three_accounts())), Settings(as_of="2025-03-31"))
    raw = run_duckdb(data, steps)
    expected = finish(raw)
    shuffled = raw.sample(frac=1, random_state=1)
    pd.testing.assert_frame_equal(finish(shuffled), expected)
    assert expected["account_id"].is_monotonic_increasing


def test_steps_read_once_run_as_views_and_tables_go_after_their_last_use():
    steps = [
        ("a", "SELECT 1 AS x"),
        ("b", "SELECT * FROM a"),
        ("c", "SELECT * FROM b UNION ALL SELECT * FROM b"),  # b read twice: a table
        ("d", "SELECT * FROM c JOIN a USING (x)"),  # c read once, by d: a view
        ("e", "SELECT 2 AS x"),  # read by nobody: dropped at once
        ("panel", "SELECT * FROM d"),  # d read by the final step (run per part): a table
    ]
    plan = step_plan(steps)
    assert plan.inline == {"c"}
    # b is used where its reader, the view c, runs: in d.
    assert plan.drop_after == {"d": ["a", "b"], "e": ["e"]}
    sliced = step_plan(steps, sliced={"c"})  # a sliced step runs per slice: never a view
    assert sliced.inline == set()
    assert sliced.drop_after == {"c": ["b"], "d": ["a", "c"], "e": ["e"]}
    assert run_duckdb({}, steps).to_dict("list") == {"x": [1, 1]}
