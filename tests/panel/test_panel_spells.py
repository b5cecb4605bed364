"""Spine v2: spells and contract pieces from ingest (spells.parquet, contract_terms.parquet).

Hand-made histories as ingest v2 writes them: a churn followed by a reactivation, an
overlapping mid-term upgrade, a renewal not observable yet; the panel's rows, spells,
start/stop, events and contract values are worked out by hand.
"""

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "indicators"))
from panel_world import (  # noqa: E402
    CONTRACT_COLUMNS,
    CONTRACT_DATE_COLUMNS,
    base_tables,
    build,
    frame,
    spells_frame,
    terms_frame,
)

from churnlab.errors import UserError  # noqa: E402
from churnlab.indicators.user import compile_user_indicators, parse_user_indicators  # noqa: E402
from churnlab.panel.stage import check_spells  # noqa: E402


def world(terms, spells, events=()):
    t = base_tables()
    # contracts.parquet is not read by the panel any more (contract_terms is); keep one row.
    t["contracts"] = frame(
        [("c1", "a1", "2024-01-03", None, "monthly", "pro", 100.0, 5, None, None)],
        CONTRACT_COLUMNS,
        date_cols=CONTRACT_DATE_COLUMNS,
    )
    t["events"] = frame(
        list(events),
        ["account_id", "user_id", "occurred_at", "event_type"],
        ts_cols=["occurred_at"],
    )
    t["contract_terms"] = terms_frame(terms)
    t["spells"] = spells_frame(spells)
    return t


def weeks(p):
    return p["week_start"].dt.strftime("%m-%d").tolist()


@pytest.fixture(scope="module")
def reactivated():
    """c1 from Wed Jan 3, churned Wed Mar 6 (a gap longer than reactivation_gap_days);
    c2 from Wed Jun 5, running at as-of Wed Jul 10. A login on Apr 10, in the gap."""
    t = world(
        [
            ("a1", 1, "c1", "2024-01-03", "2024-03-06", "2024-01-03", "monthly", "pro", 100, 5),
            ("a1", 2, "c2", "2024-06-05", None, "2024-06-05", "monthly", "lite", 60, 3),
        ],
        [
            ("a1", 1, "2024-01-03", "2024-03-06", True, None),
            ("a1", 2, "2024-06-05", None, False, "running"),
        ],
        [("a1", "u1", "2024-01-10 09:00", "login"), ("a1", "u1", "2024-04-10 09:00", "login")],
    )
    user = compile_user_indicators(
        parse_user_indicators(
            {
                "indicators": [
                    {
                        "id": "logins_12w",
                        "from": "events",
                        "where": {"event_type": ["login"]},
                        "measure": "count",
                        "window_weeks": 12,
                    }
                ]
            },
            "indicators.yaml",
        )
    )
    return build(t, as_of="2024-07-10", user=user)


def test_reactivated_account_has_two_spells_and_no_rows_in_the_gap(reactivated):
    p = reactivated
    first = ["01-01", "01-08", "01-15", "01-22", "01-29", "02-05", "02-12", "02-19", "02-26"]
    assert weeks(p) == [*first, "03-04", "06-03", "06-10", "06-17", "06-24", "07-01", "07-08"]
    assert p["spell"].tolist() == [1] * 10 + [2] * 6
    # start/stop count weeks since the spell's first week
    assert p["start"].tolist() == list(range(10)) + list(range(6))
    assert (p["stop"] == p["start"] + 1).all() and p["tenure_weeks"].equals(p["start"])
    # the churn of spell 1 (Wed Mar 6) is an event in its week; spell 2 is running
    assert p["event"].tolist() == [0] * 9 + [1] + [0] * 6
    assert p["mrr"].tolist() == [100.0] * 10 + [60.0] * 6
    assert p["plan"].tolist() == ["pro"] * 10 + ["lite"] * 6


def test_indicators_after_a_reactivation_use_calendar_weeks(reactivated):
    p = reactivated.set_index("week_start")
    jun3 = pd.Timestamp("2024-06-03")
    # last login Wed Apr 10 (in the gap) -> Mon Jun 3 is 54 days later
    assert p.loc[jun3, "weeks_since_last_login"] == pytest.approx(54 / 7)
    # 12 weeks before Jun 3 = Mar 11 .. Jun 2: the gap's login counts, Jan 10 does not
    assert p.loc[jun3, "logins_12w"] == 1
    assert p.loc[pd.Timestamp("2024-03-04"), "logins_12w"] == 1  # Jan 10 (week Jan 8)
    # MRR change is measured within the spell: 0 at the reactivation
    assert p.loc[jun3, "mrr_change"] == 0
    # monthly renewal from c2's own start (Jun 5): Mon Jun 3 -> Fri Jul 5 = 32 days
    assert p.loc[jun3, "weeks_to_renewal"] == pytest.approx(32 / 7)


def test_overlapping_rows_give_the_later_mrr_and_the_earlier_row_resumes():
    # c1 Jan 1 .. open at 100; c2 (an upgrade) Fri Mar 15 .. Wed May 15 at 150; ingest's
    # pieces: c1 to Mar 15, c2 to May 15, then c1 again (its own start stays Jan 1).
    t = world(
        [
            ("a1", 1, "c1", "2024-01-01", "2024-03-15", "2024-01-01", "monthly", "pro", 100, 5),
            ("a1", 1, "c2", "2024-03-15", "2024-05-15", "2024-03-15", "monthly", "max", 150, 9),
            ("a1", 1, "c1", "2024-05-15", None, "2024-01-01", "monthly", "pro", 100, 5),
        ],
        [("a1", 1, "2024-01-01", None, False, "running")],
    )
    p = build(t, as_of="2024-06-30").set_index("week_start")
    assert p.loc["2024-03-11", ["mrr", "seats", "plan"]].tolist() == [100.0, 5.0, "pro"]
    assert p.loc["2024-03-18", ["mrr", "seats", "plan"]].tolist() == [150.0, 9.0, "max"]
    assert p.loc["2024-05-20", ["mrr", "plan"]].tolist() == [100.0, "pro"]
    # Apr 8 vs 4 weeks earlier (Mar 11): 150 / 100 - 1
    assert p.loc["2024-04-08", "mrr_change"] == pytest.approx(0.5)
    # renewals: c2 monthly from Mar 15 -> Mon Mar 18 to Mon Apr 15 = 28 days; the resumed c1
    # from Jan 1 -> Mon May 20 to Sat Jun 1 = 12 days
    assert p.loc["2024-03-18", "weeks_to_renewal"] == pytest.approx(4.0)
    assert p.loc["2024-05-20", "weeks_to_renewal"] == pytest.approx(12 / 7)
    assert p["event"].sum() == 0 and (p["spell"] == 1).all()


def test_renewal_not_observable_is_censored_at_as_of_without_event():
    # A monthly term ended Fri Jun 28 without notice, as-of Jul 10 within the grace period:
    # ingest censors the spell; the panel runs it to the as-of week with no event.
    t = world(
        [("a1", 1, "c1", "2024-05-28", "2024-06-28", "2024-05-28", "monthly", "pro", 80, 2)],
        [("a1", 1, "2024-05-28", "2024-06-28", False, "renewal_not_observable")],
    )
    p = build(t, as_of="2024-07-10")
    assert weeks(p)[-1] == "07-08" and p["event"].sum() == 0


def test_spell_churned_on_as_of_day_is_an_event_and_later_spells_are_not_known():
    t = world(
        [
            ("a1", 1, "c1", "2024-01-01", "2024-02-05", "2024-01-01", "monthly", "pro", 50, 2),
            ("a1", 2, "c2", "2024-04-01", None, "2024-04-01", "monthly", "pro", 50, 2),
        ],
        [
            ("a1", 1, "2024-01-01", "2024-02-05", True, None),
            ("a1", 2, "2024-04-01", None, False, "running"),
        ],
    )
    p = build(t, as_of="2024-02-05")
    assert weeks(p) == ["01-01", "01-08", "01-15", "01-22", "01-29", "02-05"]
    assert p["event"].tolist() == [0, 0, 0, 0, 0, 1]


def _write_spells(tmp_path, rows):
    path = tmp_path / "spells.parquet"
    spells_frame(rows).to_parquet(path)
    return path


def test_check_spells_accepts_ingest_shapes_and_rejects_overlaps(tmp_path):
    ok = [
        ("a1", 1, "2024-01-03", "2024-03-06", True, None),
        ("a1", 2, "2024-06-05", None, False, "running"),
        ("a2", 1, "2024-01-01", None, False, "running"),
    ]
    assert check_spells(_write_spells(tmp_path, ok)) == 3
    for bad in (
        [ok[0], ("a1", 2, "2024-03-07", None, False, "running")],  # same week as the churn
        [("a1", 1, "2024-01-03", None, False, "running"), ok[1]],  # spell 1 not churned
        [ok[0], ("a1", 3, "2024-06-05", None, False, "running")],  # numbering gap
        [("a1", 2, "2024-01-03", None, False, "running")],  # no spell 1
    ):
        with pytest.raises(UserError, match=r"spells\.parquet: account 'a1'"):
            check_spells(_write_spells(tmp_path, bad))
