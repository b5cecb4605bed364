"""Contract histories on hand-made accounts: upgrades, reactivations, export shapes, and the
simulator's own monthly record (history.py), every expected value worked out by hand.

Calendar: the grid starts Monday 2024-01-01 (day 0) and the window ends 2024-12-31 (day 365).
Day numbers used below: Jan 1 = 0, Feb 1 = 31, Feb 10 = 40, Feb 15 = 45, Mar 1 = 60,
Mar 15 = 74, Mar 25 = 84, Apr 1 = 91, Jun 1 = 152, Jul 1 = 182, Nov 1 = 305, Dec 1 = 335.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from simulate_test_world import BASE_PARAMS

from churnlab.errors import ConfigError
from churnlab.simulate import history
from churnlab.simulate.spec import spec_from_params
from churnlab.simulate.timegrid import Grid, add_months

GRID = Grid(origin=pd.Timestamp("2024-01-01"), start_day=0, end_day=365, n_weeks=53)


def _accounts() -> pd.DataFrame:
    # two monthly starter accounts (25 per seat), both signed up on Jan 1
    return pd.DataFrame(
        {"annual": [False, False], "plan": ["starter", "starter"], "signup_day": [0, 0]}
    )


def _rows() -> pd.DataFrame:
    # account 0: 2 seats, running (open row); account 1: 4 seats, gave notice Mar 25, left Apr 1
    return pd.DataFrame(
        {
            "acct": [0, 1],
            "term": [0, 0],
            "start_day": [0, 0],
            "end_day": [-1, 91],
            "seats": [2, 4],
            "mrr": [50.0, 100.0],
            "cancelled_day": [-1, 84],
            "cancel_reason": [None, "price"],
        }
    )


def _draws() -> history.Draws:
    # account 0 upgrades (draw 0 < share 0.5), on day 14 + floor(0.077 * (352 - 14)) = 40,
    # adding ceil(2 * 0.2) = 1 seat; account 1 (churned Apr 1) returns 2 months later, Jun 1.
    return history.Draws(
        up=np.array([0.0, 0.99]),
        up_row=np.array([0.0, 0.0]),
        up_day=np.array([0.077, 0.0]),
        up_add=np.array([0.0, 0.0]),
        re=np.array([0.99, 0.0]),
        re_gap=np.array([0.0, 0.0]),
        re_jitter=np.array([0.0, 0.0]),
    )


def _build(shape: str) -> history.History:
    acc = _accounts()
    renew = add_months(GRID, np.zeros((2, 14), dtype=np.int64), np.tile(np.arange(1, 15), (2, 1)))
    churn_day = np.array([-1, 91])
    return history.build_history(GRID, acc, renew, _rows(), churn_day, _draws(), shape, 0.5, 0.5)


def _table(rows: pd.DataFrame) -> list[tuple]:
    cols = ["acct", "start_day", "end_day", "seats", "mrr", "cancelled_day"]
    return [tuple(r) for r in rows[cols].itertuples(index=False)]


def test_history_shape_adds_an_overlapping_upgrade_row_and_a_returning_contract():
    h = _build("history")
    assert _table(h.rows) == [
        (0, 0, -1, 2, 50.0, -1),  # the old row keeps its (open) end
        (0, 40, -1, 3, 75.0, -1),  # the upgrade overlaps it from Feb 10
        (1, 0, 91, 4, 100.0, 84),
        (1, 152, -1, 4, 100.0, -1),  # back on Jun 1 with the seats it left with
    ]
    assert h.rows["term"].tolist() == [0, 1, 0, 1]
    # the truth is non-overlapping: the upgrade splits the piece it lands in
    assert _table(h.pieces.assign(cancelled_day=-1)) == [
        (0, 0, 40, 2, 50.0, -1),
        (0, 40, -1, 3, 75.0, -1),
        (1, 0, 91, 4, 100.0, -1),
        (1, 152, -1, 4, 100.0, -1),
    ]
    assert h.pieces["spell"].tolist() == [1, 1, 1, 2]
    assert h.spells[["acct", "spell", "start_day", "end_day", "churned"]].values.tolist() == [
        [0, 1, 0, -1, False],
        [1, 1, 0, 91, True],
        [1, 2, 152, -1, False],
    ]
    assert (h.upgrade_eligible, h.reactivation_eligible) == (2, 1)


def test_log_shape_writes_completed_monthly_terms_only():
    h = _build("log_ends_mid_term")
    month = [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335]  # first days, Jan..Dec
    acc0 = [(0, month[i], month[i + 1], 2, 50.0, -1) for i in range(2)]
    acc0 += [(0, 40, 60, 3, 75.0, -1)]  # upgrade row to the end of its month
    acc0 += [(0, month[i], month[i + 1], 3, 75.0, -1) for i in range(2, 11)]
    # account 1: Jan-Mar, the last with its notice; back from Jun 1: Jun..Nov completed
    acc1 = [(1, month[i], month[i + 1], 4, 100.0, -1) for i in range(2)]
    acc1 += [(1, 60, 91, 4, 100.0, 84)]
    acc1 += [(1, month[i], month[i + 1], 4, 100.0, -1) for i in range(5, 11)]
    assert _table(h.rows) == acc0 + acc1
    # the running account's last row ends Dec 1 (in the export's last month), no successor
    assert h.rows.groupby("acct")["end_day"].max().tolist() == [335, 335]


def test_snapshot_shape_is_one_row_per_account_for_its_latest_spell():
    h = _build("snapshot")
    assert _table(h.rows) == [(0, 0, -1, 3, 75.0, -1), (1, 152, -1, 4, 100.0, -1)]
    assert h.rows["term"].tolist() == [0, 1]  # contract ids C<account>-<spell>


def test_snapshot_dates_every_churn_the_export_day_and_keeps_the_reason():
    acc = _accounts()
    renew = add_months(GRID, np.zeros((2, 14), dtype=np.int64), np.tile(np.arange(1, 15), (2, 1)))
    d = _draws()
    d.re[:] = 0.99  # nobody returns
    h = history.build_history(
        GRID, acc, renew, _rows(), np.array([-1, 91]), d, "snapshot", 0.0, 0.0
    )
    assert _table(h.rows) == [(0, 0, -1, 2, 50.0, -1), (1, 0, 365, 4, 100.0, -1)]
    assert h.rows["cancel_reason"].tolist() == [None, "price"]


def test_no_shares_no_changes():
    acc = _accounts()
    renew = add_months(GRID, np.zeros((2, 14), dtype=np.int64), np.tile(np.arange(1, 15), (2, 1)))
    h = history.build_history(
        GRID, acc, renew, _rows(), np.array([-1, 91]), _draws(), "history", 0.0, 0.0
    )
    pd.testing.assert_frame_equal(h.rows, _rows())
    assert h.upgrades.empty and (h.spells["spell"] == 1).all()


def test_monthly_counts_by_hand():
    pieces = pd.DataFrame(
        {
            "acct": [0, 0, 1, 1],
            "spell": [1, 2, 1, 1],
            "start_day": [0, 152, 45, 74],
            "end_day": [60, -1, 74, -1],
            "seats": [1, 1, 1, 1],
            "mrr": [100.0, 120.0, 50.0, 80.0],
        }
    )
    spells = pd.DataFrame(
        {
            "acct": [0, 0, 1],
            "spell": [1, 2, 1],
            "start_day": [0, 152, 45],
            "end_day": [60, -1, -1],
            "churned": [True, False, False],
        }
    )
    c = history.monthly_counts(GRID, pieces, spells)
    # Jan: account 0 (100); Feb 29: both (100 + 50); Mar 31: account 1 upgraded (80);
    # Jun 30: account 0 is back (120 + 80)
    assert c["active_accounts_end"][:7].tolist() == [1, 2, 1, 1, 1, 2, 2]
    assert c["mrr_end"][:7].tolist() == [100, 150, 80, 80, 80, 200, 200]
    assert c["new_accounts"][:3].tolist() == [1, 1, 0] and c["new_mrr"][:2].tolist() == [100, 50]
    assert c["churned_accounts"].tolist() == [0, 0, 1] + [0] * 9
    assert c["churned_mrr"][2] == 100
    assert c["reactivations"].tolist() == [0] * 5 + [1] + [0] * 6
    assert c["reactivated_mrr"][5] == 120
    record = history.monthly_record(GRID, c)
    assert record[2] == {
        "month": "2024-03",
        "active_accounts_end": 1,
        "mrr_end": 80.0,
        "new_accounts": 0,
        "new_mrr": 0.0,
        "churned_accounts": 1,
        "churned_mrr": 100.0,
        "reactivations": 0,
        "reactivated_mrr": 0.0,
    }
    assert len(record) == 12 and record[-1]["month"] == "2024-12"


@pytest.mark.parametrize(
    "key,value",
    [
        ("vocabulary", "klingon"),
        ("shape", "history "),
        ("reactivation_share", 1.5),
        ("midterm_upgrade_share", -0.1),
    ],
)
def test_bad_history_and_vocabulary_settings_name_the_key(key, value):
    params = {
        "base": dict(BASE_PARAMS["base"]),
        "simulate": {**BASE_PARAMS["simulate"], key: value},
    }
    with pytest.raises(ConfigError, match=f"simulate.{key}"):
        spec_from_params(params)


def test_new_settings_default_to_todays_company():
    spec = spec_from_params(BASE_PARAMS)
    assert (spec.vocabulary, spec.shape) == ("default", "history")
    assert spec.reactivation_share == 0.0 and spec.midterm_upgrade_share == 0.0
