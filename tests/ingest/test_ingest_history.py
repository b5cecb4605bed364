"""Contract histories as spells (issue 13 items 1, 2, 5): hand-made rows, hand-computed terms."""

from __future__ import annotations

import pandas as pd
import pytest

from churnlab.ingest.history import SPELL_COLUMNS, TERM_COLUMNS, HistoryRules, contract_history

T = pd.Timestamp
NAT = pd.NaT


def _contracts(*rows) -> pd.DataFrame:
    """rows: (account, contract_id, start, end or None, mrr[, billing_period[, notice]])."""
    records = []
    for row in rows:
        account, cid, start, end, mrr, *rest = row
        period = rest[0] if rest else "monthly"
        notice = rest[1] if len(rest) > 1 else None
        records.append(
            {
                "contract_id": cid,
                "account_id": account,
                "start_date": T(start),
                "end_date": T(end) if end else NAT,
                "billing_period": period,
                "plan": "basic",
                "mrr": float(mrr),
                "seats": 3,
                "cancelled_at": T(notice) if notice else NAT,
                "cancel_reason": None,
            }
        )
    df = pd.DataFrame(records)
    df["seats"] = df["seats"].astype("Int64")
    for col in ("start_date", "end_date", "cancelled_at"):
        df[col] = df[col].astype("datetime64[ns]")
    return df


def _history(*rows, as_of="2024-06-30", gap=30, grace=35, snapshot=False):
    rules = HistoryRules(T(as_of), gap, grace, snapshot)
    return contract_history(_contracts(*rows), rules)


def _terms(terms: pd.DataFrame) -> list[tuple]:
    """(account, spell, contract, start, end or None, mrr) per term, dates as text."""
    return [
        (
            r.account_id,
            r.spell,
            r.contract_id,
            f"{r.start_date:%Y-%m-%d}",
            None if pd.isna(r.end_date) else f"{r.end_date:%Y-%m-%d}",
            r.mrr,
        )
        for r in terms.itertuples()
    ]


def _spells(spells: pd.DataFrame) -> list[tuple]:
    """(account, spell, start, end or None, churned, censored_reason) per spell."""
    return [
        (
            r.account_id,
            r.spell,
            f"{r.start_date:%Y-%m-%d}",
            None if pd.isna(r.end_date) else f"{r.end_date:%Y-%m-%d}",
            bool(r.churned),
            None if pd.isna(r.censored_reason) else r.censored_reason,
        )
        for r in spells.itertuples()
    ]


def test_churn_and_return_is_two_spells_with_one_churn_and_a_reactivation():
    # Issue 13 item 1: 2024-01-01..2024-03-01, then again from 2024-06-01 (a 92-day gap).
    terms, spells, counts = _history(
        ("A1", "C1", "2024-01-01", "2024-03-01", 100), ("A1", "C2", "2024-06-01", None, 100)
    )
    assert _terms(terms) == [
        ("A1", 1, "C1", "2024-01-01", "2024-03-01", 100.0),
        ("A1", 2, "C2", "2024-06-01", None, 100.0),
    ]
    assert _spells(spells) == [
        ("A1", 1, "2024-01-01", "2024-03-01", True, None),  # churned on 2024-03-01
        ("A1", 2, "2024-06-01", None, False, "running"),
    ]
    assert (counts["reactivations"], counts["churned_spells"], counts["gaps_bridged"]) == (1, 1, 0)
    assert list(terms.columns) == TERM_COLUMNS and list(spells.columns) == SPELL_COLUMNS


def test_two_open_rows_later_one_supersedes_from_its_start_never_summed():
    # Issue 13 item 2: 100 from 2024-01-01 and 150 from 2024-03-15, both open.
    terms, spells, counts = _history(
        ("A1", "C1", "2024-01-01", None, 100), ("A1", "C2", "2024-03-15", None, 150)
    )
    assert _terms(terms) == [
        ("A1", 1, "C1", "2024-01-01", "2024-03-15", 100.0),
        ("A1", 1, "C2", "2024-03-15", None, 150.0),
    ]
    # MRR on each day = the one term in force: 100 before 03-15, 150 from it (not 250).
    for day, mrr in [("2024-03-14", 100.0), ("2024-03-15", 150.0), ("2024-06-30", 150.0)]:
        d = T(day)
        live = terms[
            (terms["start_date"] <= d) & (terms["end_date"].isna() | (terms["end_date"] > d))
        ]
        assert live["mrr"].tolist() == [mrr], day
    assert _spells(spells) == [("A1", 1, "2024-01-01", None, False, "running")]
    # C1 superseded from 03-15 to as_of 06-30 inclusive: 17 + 30 + 31 + 30 days.
    assert (counts["overlapping_rows"], counts["superseded_days"]) == (2, 108)
    assert counts["reactivations"] == 0


def test_contained_row_in_force_then_the_earlier_row_resumes():
    # An annual term with a three-month add-on row inside it.
    terms, spells, counts = _history(
        ("A1", "C1", "2024-01-01", "2025-01-01", 100, "annual"),
        ("A1", "C2", "2024-04-01", "2024-07-01", 130, "annual"),
        as_of="2024-09-30",
    )
    assert _terms(terms) == [
        ("A1", 1, "C1", "2024-01-01", "2024-04-01", 100.0),
        ("A1", 1, "C2", "2024-04-01", "2024-07-01", 130.0),
        ("A1", 1, "C1", "2024-07-01", "2025-01-01", 100.0),
    ]
    # The resumed piece keeps its row's own start (renewal anniversaries).
    assert terms["contract_start"].tolist() == [T("2024-01-01"), T("2024-04-01"), T("2024-01-01")]
    # Running at as_of: the term ends after it.
    assert _spells(spells) == [("A1", 1, "2024-01-01", None, False, "running")]
    assert (counts["overlapping_rows"], counts["superseded_days"]) == (2, 30 + 31 + 30)


def test_later_row_outliving_the_earlier_one_takes_over_from_its_start():
    terms, _, _ = _history(
        ("A1", "C1", "2024-01-01", "2024-06-01", 100), ("A1", "C2", "2024-03-01", "2024-09-01", 90)
    )
    assert _terms(terms) == [
        ("A1", 1, "C1", "2024-01-01", "2024-03-01", 100.0),
        ("A1", 1, "C2", "2024-03-01", "2024-09-01", 90.0),
    ]


def test_rows_starting_the_same_day_larger_contract_id_is_in_force():
    terms, _, counts = _history(
        ("A1", "C2", "2024-01-01", None, 200), ("A1", "C1", "2024-01-01", None, 100)
    )
    assert _terms(terms) == [("A1", 1, "C2", "2024-01-01", None, 200.0)]
    assert counts["overlapping_rows"] == 2


@pytest.mark.parametrize(
    ("second_start", "bridged"),
    [("2024-02-21", True), ("2024-03-02", True), ("2024-03-03", False)],  # gaps 20, 30, 31 days
)
def test_gap_up_to_reactivation_gap_days_is_bridged(second_start, bridged):
    terms, spells, counts = _history(
        ("A1", "C1", "2024-01-01", "2024-02-01", 100), ("A1", "C2", second_start, None, 120)
    )
    if bridged:  # the term before the gap runs on to the next start
        assert _terms(terms) == [
            ("A1", 1, "C1", "2024-01-01", second_start, 100.0),
            ("A1", 1, "C2", second_start, None, 120.0),
        ]
        assert _spells(spells) == [("A1", 1, "2024-01-01", None, False, "running")]
        assert (counts["gaps_bridged"], counts["reactivations"]) == (1, 0)
    else:
        assert _spells(spells) == [
            ("A1", 1, "2024-01-01", "2024-02-01", True, None),
            ("A1", 2, second_start, None, False, "running"),
        ]
        assert (counts["gaps_bridged"], counts["reactivations"]) == (0, 1)


def test_back_to_back_renewals_are_one_spell_and_no_gap():
    terms, spells, counts = _history(
        ("A1", "C1", "2024-01-01", "2024-02-01", 100),
        ("A1", "C2", "2024-02-01", "2024-03-01", 100),
        ("A1", "C3", "2024-03-01", "2024-04-01", 110, "monthly", "2024-03-20"),
    )
    assert [t[1:5] for t in _terms(terms)] == [
        (1, "C1", "2024-01-01", "2024-02-01"),
        (1, "C2", "2024-02-01", "2024-03-01"),
        (1, "C3", "2024-03-01", "2024-04-01"),
    ]
    assert _spells(spells) == [("A1", 1, "2024-01-01", "2024-04-01", True, None)]
    assert spells["cancelled_at"].tolist() == [T("2024-03-20")]
    assert (counts["gaps_bridged"], counts["overlapping_rows"]) == (0, 0)


def test_renewal_not_observable_yet_is_censored_not_churned():
    # Issue 13 item 5. as_of 2024-06-30, grace 35 days: ends in (2024-05-26, 2024-06-30].
    _, spells, counts = _history(
        ("A1", "C1", "2024-05-01", "2024-06-01", 100),  # no notice, ends in the grace: censored
        ("A2", "C2", "2024-05-01", "2024-06-01", 100, "monthly", "2024-05-15"),  # notice: churn
        ("A3", "C3", "2024-04-20", "2024-05-20", 100),  # ended before the grace: churn
        ("A4", "C4", "2024-04-26", "2024-05-26", 100),  # exactly as_of - 35: churn
        ("A5", "C5", "2024-05-30", "2024-06-30", 100),  # ends on as_of: censored
        ("A6", "C6", "2024-06-01", "2024-07-01", 100),  # ends after as_of: running
    )
    assert [(s[0], s[3], s[4], s[5]) for s in _spells(spells)] == [
        ("A1", "2024-06-01", False, "renewal_not_observable"),
        ("A2", "2024-06-01", True, None),
        ("A3", "2024-05-20", True, None),
        ("A4", "2024-05-26", True, None),
        ("A5", "2024-06-30", False, "renewal_not_observable"),
        ("A6", None, False, "running"),
    ]
    assert counts["spells_censored_at_end"] == 2 and counts["churned_spells"] == 3


def test_snapshot_end_dates_are_churn_records_never_censored():
    _, spells, counts = _history(
        ("A1", "C1", "2023-05-01", "2024-06-30", 100),
        ("A2", "C2", "2022-01-01", None, 80),
        snapshot=True,
    )
    assert _spells(spells) == [
        ("A1", 1, "2023-05-01", "2024-06-30", True, None),
        ("A2", 1, "2022-01-01", None, False, "running"),
    ]
    assert counts["spells_censored_at_end"] == 0


def test_only_the_last_spell_can_be_censored():
    # Spell 1 ends 2024-05-01 and the account is back on 2024-06-10 (40 days later): spell 1
    # has a successor, so it is a churn even with grace 90 and no notice.
    _, spells, _ = _history(
        ("A1", "C1", "2024-01-01", "2024-05-01", 100),
        ("A1", "C2", "2024-06-10", "2024-06-20", 100),
        grace=90,
    )
    assert [(s[1], s[4], s[5]) for s in _spells(spells)] == [
        (1, True, None),
        (2, False, "renewal_not_observable"),
    ]


def test_rows_and_notices_after_as_of_are_not_known_yet():
    terms, spells, counts = _history(
        ("A1", "C1", "2024-01-01", "2024-06-15", 100, "monthly", "2024-07-05"),
        ("A1", "C2", "2024-07-01", None, 100),  # starts after as_of: dropped
        as_of="2024-06-30",
    )
    assert _terms(terms) == [("A1", 1, "C1", "2024-01-01", "2024-06-15", 100.0)]
    # The notice is dated after as_of, so at as_of there was none: censored, notice null.
    assert _spells(spells) == [
        ("A1", 1, "2024-01-01", "2024-06-15", False, "renewal_not_observable")
    ]
    assert spells["cancelled_at"].isna().all()
    assert (counts["rows_used"], counts["rows_starting_after_as_of"]) == (1, 1)


def test_accounts_left_without_a_spell_are_counted():
    _, spells, counts = _history(
        ("A1", "C1", "2024-08-01", None, 100),  # starts after as_of
        ("A2", "C2", "2024-03-01", "2024-03-01", 100),  # lasts 0 days
        ("A3", "C3", "2024-03-01", None, 100),
    )
    assert spells["account_id"].tolist() == ["A3"]
    assert counts["accounts_without_spell"] == 2


def test_types_sorting_and_empty_input():
    terms, spells, counts = _history(
        ("B2", "C9", "2024-02-01", None, 50), ("A1", "C1", "2024-01-01", None, 100)
    )
    assert terms["account_id"].tolist() == ["A1", "B2"]
    assert str(terms["spell"].dtype) == "int64" and str(terms["seats"].dtype) == "float64"
    assert str(terms["start_date"].dtype) == "datetime64[ns]"
    assert str(spells["churned"].dtype) == "bool"
    empty_terms, empty_spells, zero = _history(("A1", "C1", "2025-01-01", None, 1))
    assert empty_terms.empty and empty_spells.empty
    assert list(empty_terms.columns) == TERM_COLUMNS and zero["spells"] == 0
