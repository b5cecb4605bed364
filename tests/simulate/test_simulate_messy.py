"""Messy mode: CSV exports with injected faults, each counted in _faults.json.

Recounted here from the CSV text alone (not with the ingest code), and the clean rows must be
exactly the clean-mode company of the same seed.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from simulate_test_world import make_spec

from churnlab.simulate.stage import simulate_company

OFFSET = r"[+-]\d{2}:\d{2}$"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("messy")
    simulate_company(make_spec(n_accounts=250, messy=True, messy_rate=0.02), root / "messy")
    simulate_company(make_spec(n_accounts=250), root / "clean")
    return root / "messy", root / "clean"


def recount(df: pd.DataFrame, accounts: pd.DataFrame, blank_cols: list[str], ts_col: str):
    """Reason per row, decided from the strings the way an ingest must."""
    # naive strings are UTC; parse them apart from offset strings (mixing them makes pandas
    # shift the naive ones by the first offset it meets)
    text = df[ts_col].where(df[ts_col] != "")
    aware = text.str.contains(OFFSET, regex=True, na=False)
    ts = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    ts[aware] = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
    ts[~aware] = pd.to_datetime(text[~aware], format="ISO8601", errors="coerce").dt.tz_localize(
        "UTC"
    )
    signup = pd.to_datetime(df["account_id"].map(accounts.set_index("account_id")["signup_date"]))
    reason = pd.Series("", index=df.index)
    reason[df[blank_cols].eq("").any(axis=1)] = "blank_required"
    reason[(reason == "") & ts.isna()] = "unparseable_date"
    reason[(reason == "") & signup.isna()] = "unknown_account"
    day = ts.dt.tz_convert(None).dt.normalize()
    reason[(reason == "") & (day < signup)] = "before_signup"
    reason[(reason == "") & df.duplicated()] = "duplicate"
    return reason, ts


@pytest.mark.parametrize(
    "table,blank_cols", [("events", ["event_type", "user_id"]), ("touchpoints", ["kind"])]
)
def test_fault_counts_match_inventory_and_clean_rows_are_the_clean_company(pair, table, blank_cols):
    messy, clean = pair
    faults = json.loads((messy / "_faults.json").read_text())[table]
    accounts = pd.read_csv(messy / "accounts.csv", dtype=str, keep_default_na=False)
    path = messy / table if table == "events" else messy / f"{table}.csv"
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    assert all(f.suffix == ".csv" for f in files)
    df = pd.concat(
        [pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True
    )
    reason, ts = recount(df, accounts, blank_cols, "occurred_at")
    found = reason[reason != ""].value_counts().to_dict()
    expected = {k: v for k, v in faults.items() if k != "mixed_timezone_rows"}
    assert found == expected
    for code in (
        "duplicate",
        "unknown_account",
        "unparseable_date",
        "before_signup",
        "blank_required",
    ):
        assert faults[code] > 0, code
    good = reason == ""
    mixed = df["occurred_at"].str.contains(OFFSET, regex=True)
    assert int((good & mixed).sum()) == faults["mixed_timezone_rows"] > 0
    assert not (mixed & ~good).any()  # fault copies are written in UTC: they fault one way only
    assert set(df.loc[mixed, "occurred_at"].str[-6:]) <= {"+09:00", "-05:00", "+01:00", "+08:00"}
    # what is left, with zones normalised, is the clean company row for row
    ref = (
        pd.read_parquet(clean / "events")
        if table == "events"
        else pd.read_parquet(clean / f"{table}.parquet")
    )
    kept = df[good].assign(occurred_at=ts[good].to_numpy()).reset_index(drop=True)
    assert len(kept) == len(ref)
    for col in ref.columns:
        if col == "occurred_at":
            assert (kept[col].to_numpy() == ref[col].dt.tz_convert("UTC").to_numpy()).all()
        else:
            assert (kept[col].to_numpy() == ref[col].fillna("").to_numpy()).all(), col


def test_messy_small_tables_are_csv_strings_with_blank_nulls(pair):
    messy, clean = pair
    names = {p.name for p in messy.iterdir()}
    assert not any(n.endswith(".parquet") for n in names)
    c = pd.read_csv(messy / "contracts.csv", dtype=str, keep_default_na=False)
    ref = pd.read_parquet(clean / "contracts.parquet")
    assert len(c) == len(ref)
    assert (c["end_date"] == "").sum() == ref["end_date"].isna().sum()
    assert (c["start_date"] == ref["start_date"].astype(str)).all()
    s = pd.read_csv(messy / "surveys.csv", dtype=str, keep_default_na=False)
    assert ((s["answered_at"] == "") == (s["nps_score"] == "")).all()
    assert np.isclose(pd.to_numeric(c["mrr"]).sum(), ref["mrr"].sum())
