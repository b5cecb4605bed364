"""Round trip with the simulator: messy-mode CSV exports ingest to exactly the clean company."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from churnlab.ingest.stage import run as ingest
from churnlab.io import read_json
from churnlab.simulate.stage import run as simulate

PROJECT_PARAMS = Path("params.yaml").resolve()  # pytest runs from the project root


def _company(workdir: Path, messy: bool) -> dict:
    params = yaml.safe_load(PROJECT_PARAMS.read_text(encoding="utf-8"))
    params = copy.deepcopy(params)
    params["simulate"].update(n_accounts=40, messy=messy, messy_rate=0.02)
    workdir.mkdir()
    old = os.getcwd()
    os.chdir(workdir)
    try:
        simulate(params)
        ingest(params)
    finally:
        os.chdir(old)
    return read_json(workdir / "data/interim/tables.json")


@pytest.fixture(scope="module")
def companies(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    clean = _company(root / "clean", messy=False)
    messy = _company(root / "messy", messy=True)
    return root, clean, messy


def test_every_injected_fault_is_quarantined_under_its_reason(companies):
    root, _, messy = companies
    faults = read_json(root / "messy/data/raw/_faults.json")
    assert faults, "the simulator's messy mode injected nothing"
    for table, rows in messy["rows"].items():
        injected = {k: v for k, v in faults.get(table, {}).items() if k != "mixed_timezone_rows"}
        got = {k: v for k, v in rows["by_reason"].items() if v}
        assert got == {k: v for k, v in injected.items() if v}, table
        assert rows["read"] == rows["accepted"] + rows["quarantined"]


def test_accepted_rows_are_exactly_the_clean_company(companies):
    root, clean, messy = companies
    assert clean["present"] == messy["present"]
    for table in clean["present"]:
        a = pd.read_parquet(root / f"clean/data/interim/{table}.parquet")
        b = pd.read_parquet(root / f"messy/data/interim/{table}.parquet")
        pd.testing.assert_frame_equal(a, b, check_dtype=True, obj=table)
        assert clean["rows"][table]["quarantined"] == 0


def test_mixed_offset_rows_are_accepted_at_the_right_instant(companies):
    root, _, _ = companies
    faults = read_json(root / "messy/data/raw/_faults.json")
    raw = pd.concat(
        pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in sorted((root / "messy/data/raw/events").glob("*.csv"))
    )
    offset = raw["occurred_at"].str.contains(r"[+-]\d{2}:\d{2}$", regex=True)
    assert offset.sum() == faults["events"]["mixed_timezone_rows"] > 0
    sample = raw[offset]
    instants = pd.to_datetime(sample["occurred_at"], format="ISO8601", utc=True)
    # Independent oracle: shift the local wall time back by its own offset.
    wall = pd.to_datetime(sample["occurred_at"].str[:-6], format="ISO8601")
    sign = sample["occurred_at"].str[-6].map({"+": 1, "-": -1})
    minutes = sample["occurred_at"].str[-5:-3].astype(int) * 60 + sample["occurred_at"].str[
        -2:
    ].astype(int)
    oracle = (wall - pd.to_timedelta(sign * minutes, unit="min")).dt.tz_localize("UTC")
    assert (instants.to_numpy() == oracle.to_numpy()).all()
    accepted = pd.read_parquet(root / "messy/data/interim/events.parquet")
    keys = pd.MultiIndex.from_frame(accepted[["account_id", "user_id", "occurred_at"]])
    wanted = pd.MultiIndex.from_arrays(
        [sample["account_id"], sample["user_id"], pd.DatetimeIndex(oracle.to_numpy())]
    )
    assert wanted.isin(keys).all()
