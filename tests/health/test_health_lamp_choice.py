"""Every hypothesis that leads churn ends in lamps_used or lamps_skipped with its real reason,
and a strong lamp on a small company is not dropped for leaving few churns unlit."""

import numpy as np
import pandas as pd
from test_health_stage import TESTED, synthetic_world

from churnlab.health.lamps import lamp_table
from churnlab.health.model import fit_hazard, make_design
from churnlab.health.stage import compute_health


def small_raw(n_on_ev: int, n_off_ev: int, n_rows: int = 2000, seed: int = 3):
    """Account-weeks with one lamp: n_on_ev churns in lit weeks, n_off_ev in unlit ones."""
    rng = np.random.default_rng(seed)
    on = (rng.random(n_rows) < 0.1).astype(int)
    event = np.zeros(n_rows, dtype=int)
    lit, unlit = np.flatnonzero(on == 1), np.flatnonzero(on == 0)
    event[rng.choice(lit, n_on_ev, replace=False)] = 1
    event[rng.choice(unlit, n_off_ev, replace=False)] = 1
    raw = pd.DataFrame(
        {
            "tenure": pd.Categorical(["0-12w"] * n_rows),
            "billing_period": pd.Categorical(["monthly"] * n_rows),
            "lamp:strong": on,
        }
    )
    groups = pd.Series([f"a{i % 150}" for i in range(n_rows)])
    return raw, pd.Series(event), groups


def test_strong_lamp_with_one_unlit_churn_enters_the_model():
    # the colleague's company: 12 churns in the fitting weeks, 11 lit, 1 unlit; the old rule
    # (>= 5 churns in each state) dropped the best lamp silently
    raw, event, groups = small_raw(11, 1)
    design = make_design(raw, event, use_lamps=True)
    assert design.lamps == ["lamp:strong"]
    fit = fit_hazard(raw, event, groups, design)
    w = {r["term"]: r for r in fit.weights()}
    assert np.isfinite(w["lamp:strong"]["coef"]) and w["lamp:strong"]["hazard_ratio"] > 10


def test_lamp_that_separates_churn_is_left_out_with_its_counts():
    raw, event, groups = small_raw(12, 0)
    design = make_design(raw, event, use_lamps=True)
    assert design.lamps == []
    (drop,) = [d for d in design.dropped if d["term"] == "lamp:strong"]
    assert "no churn event with the lamp off" in drop["reason"]
    assert "12 had the lamp on and 0 off" in drop["reason"]


def test_lamp_with_too_few_lit_churns_says_so():
    raw, event, _ = small_raw(2, 10)
    design = make_design(raw, event, use_lamps=True)
    (drop,) = [d for d in design.dropped if d["term"] == "lamp:strong"]
    assert drop["reason"].startswith("too few churn events with the lamp on")
    assert "2 had the lamp on and 10 off" in drop["reason"]


def test_two_lamps_that_together_leave_no_unlit_churn_keep_the_one_catching_more():
    raw, event, _ = small_raw(9, 3)
    strong = raw["lamp:strong"].to_numpy()
    ev = event.to_numpy() == 1
    other = np.zeros(len(raw), dtype=int)
    other[ev & (strong == 0)] = 1  # the 3 churns the strong lamp misses
    other[np.flatnonzero(ev & (strong == 1))[:3]] = 1  # and 3 it catches
    other[np.flatnonzero(~ev)[:50]] = 1  # and some quiet weeks
    raw["lamp:other"] = other
    design = make_design(raw, event, use_lamps=True)
    assert design.lamps == ["lamp:strong"]  # 9 caught beats 6
    (drop,) = [d for d in design.dropped if d["term"] == "lamp:other"]
    assert "with this lamp and strong all off" in drop["reason"]


def test_every_leading_hypothesis_is_used_or_skipped_with_the_real_reason():
    world = synthetic_world(n_accounts=1200, n_weeks=60, seed=11)
    world["sep"] = world["event"].astype(float)  # on exactly in churn weeks: separates churn
    tested = [
        TESTED[0],
        {"id": "sep_high", "indicator": "sep", "direction": "high", "threshold": 0.5,
         "best_lag_weeks": 0, "verdict": "leads churn", "kind": "risk", "action": "x"},
        {"id": "monthly_more", "indicator": "attribute:billing_period", "direction": None,
         "threshold": None, "best_lag_weeks": 0, "verdict": "leads churn", "kind": "risk",
         "action": "y"},
    ]  # fmt: skip
    result, _ = compute_health(
        world, lamp_table(tested, None), horizon_weeks=8, train_fraction=0.6, red=0.25,
        amber=0.10, bootstrap_reps=5, seed=1,
    )  # fmt: skip
    used = {x["id"] for x in result["lamps_used"]}
    skipped = {x["id"]: x["reason"] for x in result["lamps_skipped"]}
    assert used == {"x_low"}
    assert set(skipped) == {"sep_high", "monthly_more"}
    assert "no churn event with the lamp off" in skipped["sep_high"]
    assert "billing_period is already a term of the score's baseline" in skipped["monthly_more"]
    msg = result["message"]
    assert "No hypothesis" not in msg and "x_low" in msg
    assert "sep_high: no churn event with the lamp off" in msg


def test_no_lamp_entering_names_each_real_cause_not_no_hypothesis():
    world = synthetic_world(n_accounts=1200, n_weeks=60, seed=11)
    world["sep"] = world["event"].astype(float)
    tested = [
        {"id": "sep_high", "indicator": "sep", "direction": "high", "threshold": 0.5,
         "best_lag_weeks": 0, "verdict": "leads churn", "kind": "risk", "action": "x"},
    ]  # fmt: skip
    result, _ = compute_health(
        world, lamp_table(tested, None), horizon_weeks=8, train_fraction=0.6, red=0.25,
        amber=0.10, bootstrap_reps=5, seed=1,
    )  # fmt: skip
    assert result["score_source"] == "baseline only"
    assert result["lamps_used"] == []
    assert [x["id"] for x in result["lamps_skipped"]] == ["sep_high"]
    msg = result["message"]
    assert msg.startswith("None of the 1 hypotheses with verdict 'leads churn' could enter")
    assert "sep_high: no churn event with the lamp off" in msg
