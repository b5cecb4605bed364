"""`account_history` of an account ingest rejected says so - reason, column, file and row from
the quarantine - instead of "no account" (a new user looked up an account whose row had an
unreadable signup date)."""

from __future__ import annotations

import pandas as pd
import pytest

from churnlab.errors import UserError
from churnlab.explore import Workspace, account_history
from churnlab.explore.account import ingest_fate
from churnlab.io import write_parquet


def _q(rows) -> pd.DataFrame:
    cols = ["account_id", "_source_file", "_source_row", "_reason", "_column", "_detail"]
    return pd.DataFrame(rows, columns=cols).astype("string")


def _workspace(root, accounts_q=None, contracts_q=None) -> Workspace:
    base = {"interim_dir": "data/interim", "processed_dir": "data/processed"}
    for table, q in (("accounts", accounts_q), ("contracts", contracts_q)):
        if q is not None:
            write_parquet(q, root / "data/interim/quarantine" / f"{table}.parquet")
    panel = pd.DataFrame(
        {"account_id": ["A1", "A2"], "week_start": pd.to_datetime(["2025-01-06"] * 2)}
    )
    return Workspace(root=root, params={"base": base}, settings=None, panel=panel, meta={},
                     known=None, testable={})  # fmt: skip


def test_rejected_account_names_reason_column_file_and_row(tmp_path):
    accounts = _q([
        (" A7 ", "data/raw/accounts.csv", "12", "unparseable_date", "signup_date", None),
        ("A1", "data/raw/accounts.csv", "3", "duplicate", None, None),
    ])  # fmt: skip
    ws = _workspace(tmp_path, accounts)
    with pytest.raises(UserError) as err:
        account_history("A7", ws)
    msg = str(err.value)
    assert "account 'A7' was rejected at ingest" in msg
    assert "unparseable_date in signup_date (data/raw/accounts.csv row 12)" in msg
    assert "no account" not in msg and "\n" not in msg


def test_account_whose_contracts_were_rejected(tmp_path):
    contracts = _q([
        ("A9", "data/raw/contracts.csv", "10", "invalid_category", "billing_period", None),
        ("A9", "data/raw/contracts.csv", "4", "negative_mrr", "mrr", None),
    ])  # fmt: skip
    ws = _workspace(tmp_path, _q([]), contracts)
    with pytest.raises(UserError, match=r"contract rows were rejected at ingest: negative_mrr "
                       r"in mrr \(data/raw/contracts.csv row 4\) and 1 more"):  # fmt: skip
        account_history("A9", ws)


def test_old_quarantine_without_column_and_truly_unknown_account(tmp_path):
    old = _q([("A7", "data/raw/accounts.csv", "2", "blank_required", None, None)]).drop(
        columns="_column"
    )
    ws = _workspace(tmp_path, old)
    with pytest.raises(UserError, match=r"rejected at ingest .*: blank_required \(data/raw/"):
        account_history("A7", ws)
    with pytest.raises(UserError, match=r"panel.parquet: no account 'A3'"):
        account_history("A3", ws)


def test_a_copy_of_an_account_row_does_not_reject_it(tmp_path):
    copy = _q([("A5", "f.csv", "9", "duplicate_key", "account_id", None)])
    assert ingest_fate("A5", copy, _q([]), tmp_path) is None
