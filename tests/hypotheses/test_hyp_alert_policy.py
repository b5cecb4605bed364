"""The lamp as an alert with an on-delay and an off-delay (issue 14: the key-person lamp
flickers, so a lighting's precision sits at the base rate). Hand-computed answers on tiny
hand-made weeks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnlab.health.alerts import confirm_lamp
from churnlab.hypotheses.alert_policy import choose_policy, policy_curve, policy_grid

RAW = np.array([1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1], bool)


@pytest.mark.parametrize(
    ("on", "off", "want"),
    [
        (1, 1, [1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1]),  # the raw lamp
        # lit in the 2nd week in a row; the lone weeks 0 and 6 never light it
        (2, 1, [0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1]),
        (3, 1, [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
        # lit at week 4; the off week 5 and the on week 6 are held; 7, 8 off -> off at 8
        (3, 2, [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]),
        # off only after 3 weeks back: weeks 7, 8, 9 -> off at 9
        (1, 3, [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1]),
    ],
)
def test_confirm_lamp_on_and_off_delays(on, off, want):
    got = confirm_lamp(RAW, np.zeros(12, int), np.arange(12), on, off)
    assert got.astype(int).tolist() == want


def test_confirm_lamp_restarts_per_subject_and_after_a_missing_week_in_any_row_order():
    # subject 0: weeks 0,1 lit, week 2 missing, week 3 lit -> the run restarts at week 3
    # subject 1: weeks 0..2 lit; its first week does not continue subject 0's run
    subj = np.array([0, 0, 0, 1, 1, 1])
    week = np.array([0, 1, 3, 0, 1, 2])
    raw = np.ones(6, bool)
    got = confirm_lamp(raw, subj, week, 2, 1)
    assert got.astype(int).tolist() == [0, 1, 0, 0, 1, 1]
    perm = np.array([5, 2, 0, 4, 1, 3])
    shuffled = confirm_lamp(raw[perm], subj[perm], week[perm], 2, 1)
    assert shuffled.tolist() == got[perm].tolist()
    # NaN = unknown = off
    with_nan = confirm_lamp(np.array([1.0, np.nan, 1.0]), np.zeros(3), np.arange(3), 1, 2)
    assert with_nan.astype(int).tolist() == [1, 1, 1]  # the unknown week is held (off-delay 2)


def test_confirm_lamp_errors():
    with pytest.raises(ValueError, match=">= 1"):
        confirm_lamp(RAW, np.zeros(12), np.arange(12), 0, 1)
    with pytest.raises(ValueError, match="same length"):
        confirm_lamp(RAW, np.zeros(11), np.arange(12), 2, 1)


def test_policy_grid_orders_least_delay_first_and_always_has_the_plain_lamp():
    assert policy_grid([3, 2], [2]) == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2)]
    with pytest.raises(ValueError):
        policy_grid([0], [1])


def _two_accounts():
    """A flickers (lit in weeks 1, 3, 5: each a lighting) and never churns; B is lit in weeks
    2, 3, 4 and churns in week 7. Horizon 6 weeks, 8 weeks of data (0..7)."""
    rows = []
    for acc, lit_weeks, churn in (("A", {1, 3, 5}, None), ("B", {2, 3, 4}, 7)):
        for w in range(8):
            rows.append((acc, w, int(w in lit_weeks), int(churn == w)))
    df = pd.DataFrame(rows, columns=["account_id", "week", "lit", "event"])
    # churn within 6 weeks, known when followed 6 weeks (last week 7) or churned in them
    y = []
    for r in df.itertuples():
        if r.account_id == "B":
            y.append(1.0 if r.week >= 2 else 0.0)  # churn week 7 <= w + 5 for w >= 2
        else:
            y.append(0.0 if r.week + 5 <= 7 else np.nan)
    df["y"] = y
    return df


def test_policy_curve_hand_computed():
    df = _two_accounts()
    curve = policy_curve(
        df["lit"].to_numpy(), df["account_id"].to_numpy(), df["week"].to_numpy(),
        df["event"].to_numpy(), df["y"].to_numpy(), 6, [(1, 1), (2, 1)],
    )  # fmt: skip
    plain, held = curve.iloc[0], curve.iloc[1]
    # plain: A lights at 1, 3, 5 (known outcomes: weeks 1 and 2 only -> 1 known, 0 churn),
    # B lights at 2 (churns). Lightings 4, known 2 (A@1, B@2), precision 1/2.
    assert (plain["lightings"], plain["lightings_known"]) == (4, 2)
    assert plain["precision"] == pytest.approx(0.5)
    # base rate: known rows = A weeks 0..2 (3) + B weeks 0..7 (8) = 11, churn rows B 2..7 = 6
    assert plain["base_rate"] == pytest.approx(6 / 11)
    assert plain["share_lit"] == pytest.approx(6 / 16)
    # B warned from its lighting at week 2: 7 - 2 + 1 = 6 weeks
    assert plain["churners_warned_share"] == 1.0
    assert plain["median_warning_weeks"] == 6.0
    # on-delay 2: A never lit; B lit at weeks 3, 4 -> one lighting at 3 (churns), warning 5
    assert (held["lightings"], held["lightings_known"]) == (1, 1)
    assert held["precision"] == 1.0
    assert held["lift"] == pytest.approx(11 / 6)
    assert held["median_warning_weeks"] == 5.0
    assert held["share_lit"] == pytest.approx(2 / 16)
    assert list(curve["on_weeks"]) == [1, 2] and not curve["chosen"].any()


def _curve(rows):
    cols = ["on_weeks", "off_weeks", "share_lit", "lift", "lightings_known",
            "median_warning_weeks"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def test_choose_policy_takes_the_highest_lift_among_designs_reaching_the_target():
    curve = _curve([
        (1, 1, 0.12, 1.05, 900, 9),
        (2, 1, 0.03, 1.6, 200, 8),
        (3, 1, 0.01, 2.1, 60, 8),   # the first to reach 2.0, only just
        (3, 2, 0.02, 2.6, 60, 8),   # the highest lift
        (4, 1, 0.005, 2.6, 40, 7),  # as high, but more delay
        (4, 2, 0.005, 3.5, 40, 3),  # higher, but warns too late
    ])  # fmt: skip
    idx, rule = choose_policy(curve, 2.0, 4, 20, 0.2)
    assert idx == 3
    assert "lit after 3 week(s)" in rule and "off after 2 week(s)" in rule


def test_choose_policy_skips_ineligible_designs_and_falls_back_to_the_plain_lamp():
    curve = _curve([
        (1, 1, 0.25, 1.5, 2000, 5),
        (2, 1, 0.20, 2.5, 10, 5),   # too few lightings
        (3, 1, 0.18, 2.5, 100, 3),  # warns too late
        (1, 4, 0.30, 2.5, 100, 5),  # lights more than the plain lamp and the budget
    ])  # fmt: skip
    idx, rule = choose_policy(curve, 2.0, 4, 20, 0.2)
    assert idx == 0
    assert "plain lamp" in rule and "best eligible design reached 1.50" in rule
    with pytest.raises(ValueError, match="plain lamp"):
        choose_policy(curve.iloc[1:], 2.0, 4, 20, 0.2)


def test_choose_policy_keeps_the_plain_lamp_when_it_already_reaches_the_target():
    curve = _curve([
        (1, 1, 0.05, 2.2, 300, 9),  # no delay needed
        (3, 1, 0.01, 3.0, 60, 7),
    ])  # fmt: skip
    idx, rule = choose_policy(curve, 2.0, 4, 20, 0.2)
    assert idx == 0 and "lit after 1 week(s)" in rule
