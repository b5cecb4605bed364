"""A new user's 300-account company, in their own words (session 21 findings): the quarantine
column read as ingest wrote it, the user's labels on every page, a health validation that
cannot be judged says why, and warning times of attribute lamps that cannot be misread."""

from __future__ import annotations

import pandas as pd
import pytest

from churnlab.reports import frames
from churnlab.reports import quarantine as rq


def _quarantine(rows, with_column=True) -> pd.DataFrame:
    cols = ["_table", "_reason", "_column", "_source_file", "_source_row", "start_date",
            "end_date", "mrr", "seats", "billing_period"]  # fmt: skip
    q = pd.DataFrame(rows, columns=cols).astype("string")
    return q if with_column else q.drop(columns="_column")


def test_quarantine_column_is_read_not_parsed_again(monkeypatch):
    def boom(*_):
        raise AssertionError("rows parsed again although ingest named the column")

    monkeypatch.setattr(rq, "table_reason_columns", boom)
    q = _quarantine([
        ("contracts", "unparseable_date", "start_date, end_date", "c.csv", "2", "x", "y", "1",
         "1", "monthly"),
        ("contracts", "negative_mrr", "mrr", "c.csv", "3", "2024-01-01", None, "-5", "1",
         "monthly"),
        ("contracts", "duplicate", None, "c.csv", "4", "2024-01-01", None, "5", "1", "monthly"),
    ])  # fmt: skip
    assert rq.reason_columns(q).tolist() == ["start_date, end_date", "mrr", ""]
    tables = {"rows": {"contracts": {"by_reason": {"unparseable_date": 1, "negative_mrr": 1,
                                                   "duplicate": 1}}}}  # fmt: skip
    reasons = frames.quarantine_reasons(tables, q)
    assert set(zip(reasons["reason"], reasons["column"], strict=True)) == {
        ("unparseable_date", "start_date, end_date"), ("negative_mrr", "mrr"), ("duplicate", ""),
    }  # fmt: skip


def test_old_quarantine_files_without_column_are_still_parsed():
    q = _quarantine(
        [("contracts", "negative_mrr", None, "c.csv", "3", "2024-01-01", None, "-5", "1", "monthly")],
        with_column=False,
    )  # fmt: skip
    assert rq.reason_columns(q).tolist() == ["mrr"]
    # a table written by an older ingest beside a newer one: only its rows are parsed
    new = _quarantine(
        [("contracts", "out_of_range", "seats", "c.csv", "5", "2024-01-01", None, "5", "0", "monthly")]
    )  # fmt: skip
    mixed = pd.concat([new, q.assign(_table="contracts")], ignore_index=True)
    assert rq.reason_columns(mixed).tolist() == ["seats", "mrr"]


@pytest.mark.parametrize("with_column", [True, False])
def test_row_reasons_have_no_column(with_column):
    q = _quarantine([("events", "malformed_row", None, "e.csv", "9", None, None, None, None,
                      None)], with_column)  # fmt: skip
    assert rq.reason_columns(q).tolist() == [""]
