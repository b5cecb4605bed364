"""Threshold choice under an alert budget, on five hand-made accounts (answers in comments)."""

import numpy as np
import pandas as pd
import pytest

from churnlab.hypotheses.alert_budget import (
    CURVE_COLUMNS,
    budget_curve,
    choose_threshold,
    suggest_with_budget,
)

H = 2  # horizon: churn in week w or w + 1


def _data():
    """Weeks 0-5, direction low, candidates 1.5 / 2.5 / 3.5.
    A churns in week 5, values 9 9 9 3 1 1
    B churns in week 5, values 9 9 9 9 2 2
    C no churn,         values 9 3 9 9 9 9
    D no churn,         values 9 9 2 9 3 9
    E no churn,         values 9 9 9 9 9 9
    churn within 2 weeks: A, B weeks 4-5 = 1, weeks 0-3 = 0; C, D, E weeks 0-4 = 0, week 5
    unknown (followed only to week 5) -> 27 known rows, 4 positive: base rate 4/27."""
    vals = {
        "A": [9, 9, 9, 3, 1, 1],
        "B": [9, 9, 9, 9, 2, 2],
        "C": [9, 3, 9, 9, 9, 9],
        "D": [9, 9, 2, 9, 3, 9],
        "E": [9, 9, 9, 9, 9, 9],
    }
    rows = []
    for acc, v in vals.items():
        churner = acc in ("A", "B")
        for w, x in enumerate(v):
            y = (1.0 if w >= 4 else 0.0) if churner else (np.nan if w == 5 else 0.0)
            rows.append(
                {"acc": acc, "week": w, "value": x, "y": y, "event": int(churner and w == 5)}
            )
    return pd.DataFrame(rows)


def _curve(df, direction="low", values=None, cands=(1.5, 2.5, 3.5)):
    v = df["value"] if values is None else values
    return budget_curve(v, list(cands), direction, df["y"], df["acc"], df["week"], df["event"], H)


def test_curve_hand_computed():
    c = _curve(_data())
    assert list(c.columns) == CURVE_COLUMNS
    # < 1.5: lit A w4-5; lighting A w4 (churns) -> precision 1; A warned 5 - 4 + 1 = 2 weeks
    # < 2.5: + B w4-5, D w2; lightings A w4, B w4, D w2 -> 2/3; A, B warned (2 weeks each)
    # < 3.5: + A w3, C w1, D w4; lightings A w3 (churn in w5 is 3 weeks on: outside the
    #        horizon), B w4, C w1, D w2, D w4 -> 1/5; only B warned (A's lighting is too early)
    assert c["share_lit"].tolist() == pytest.approx([2 / 30, 5 / 30, 8 / 30])
    assert c["lightings"].tolist() == [1, 3, 5]
    assert c["lightings_known"].tolist() == [1, 3, 5]
    assert c["precision"].tolist() == pytest.approx([1.0, 2 / 3, 0.2])
    assert c["base_rate"].tolist() == pytest.approx([4 / 27] * 3)
    assert c["lift"].tolist() == pytest.approx([27 / 4, (2 / 3) * 27 / 4, 0.2 * 27 / 4])
    assert c["churners_warned"].tolist() == [1, 2, 1]
    assert c["churners_warned_share"].tolist() == pytest.approx([0.5, 1.0, 0.5])
    assert c["median_warning_weeks"].tolist() == pytest.approx([2.0, 2.0, 2.0])
    assert not c["chosen"].any()


def test_high_direction_mirrors_low_and_row_order_does_not_matter():
    df = _data()
    low = _curve(df)
    high = _curve(df, "high", -df["value"], (-1.5, -2.5, -3.5))
    cols = [c for c in CURVE_COLUMNS if c != "threshold"]
    pd.testing.assert_frame_equal(low[cols], high[cols])
    shuffled = df.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(_curve(shuffled), low)


def test_choice_respects_budget_lightings_and_warning():
    c = _curve(_data())
    # all three are within a 30% budget; the most precise with >= 1 lighting is 1.5
    idx, rule = choose_threshold(c, max_share_lit=0.3, min_warning_weeks=1, min_lightings=1)
    assert idx == 0 and "30%" in rule
    # >= 3 lightings: 2.5 (2/3) beats 3.5 (1/5)
    assert choose_threshold(c, 0.3, 1, 3)[0] == 1
    # 15% budget + 3 lightings: 2.5 lights 16.7% -> nothing fits, and the reason says so
    idx, why = choose_threshold(c, 0.15, 1, 3)
    assert idx is None and "3 lightings" in why
    idx, why = choose_threshold(c, 0.05, 1, 1)
    assert idx is None and "every candidate lights more than 5%" in why
    idx, why = choose_threshold(c, 0.3, 3, 1)  # all warn 2 weeks
    assert idx is None and "median warning of >= 3 weeks" in why


def test_lift_below_one_is_never_chosen_and_ties_prefer_more_warned():
    curve = pd.DataFrame(
        {
            "threshold": [1.0, 2.0, 3.0],
            "share_lit": [0.1, 0.1, 0.05],
            "precision": [0.04, 0.3, 0.3],
            "lift": [0.8, 6.0, 6.0],
            "base_rate": 0.05,
            "lightings": 50,
            "lightings_known": 50,
            "churners_warned": [9, 4, 7],
            "churners_warned_share": [0.9, 0.4, 0.7],
            "median_warning_weeks": 5.0,
            "chosen": False,
        }
    )
    assert choose_threshold(curve, 0.2, 4, 20, "lift")[0] == 2
    only_bad = curve.iloc[[0]]
    idx, why = choose_threshold(only_bad, 0.2, 4, 20)
    assert idx is None and "lift <= 1" in why


def test_suggest_with_budget_marks_the_chosen_row_and_errors():
    df = _data()
    curve, choice = suggest_with_budget(
        df["value"], [1.5, 2.5, 3.5], "low", df["y"], df["acc"], df["week"], df["event"],
        horizon_weeks=H, max_share_lit=0.2, min_warning_weeks=2, min_lightings=2,
    )  # fmt: skip
    assert choice["threshold"] == 2.5 and choice["row"] == 1
    assert curve["chosen"].tolist() == [False, True, False]
    with pytest.raises(ValueError, match="direction"):
        _curve(df, "up")
    with pytest.raises(ValueError, match="objective"):
        choose_threshold(curve, objective="recall")
    with pytest.raises(ValueError, match="same length"):
        budget_curve([1.0], [0.5], "low", [0.0, 1.0], ["a"], [0], [0], H)
    with pytest.raises(ValueError, match="two rows"):
        budget_curve([1.0, 1.0], [0.5], "low", [0.0, 0.0], ["a", "a"], [0, 0], [0, 0], H)
