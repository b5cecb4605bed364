"""Repeated spells: an account that churned and came back is one subject per spell (its own
time scale from the spell's start); the account is the unit of the split and the bootstrap."""

import numpy as np
import pandas as pd
import pytest

from churnlab.hypotheses.analysis import Settings, run_hypotheses, tuning_half
from churnlab.hypotheses.design import churn_within, lag_within_spell, subject_codes
from churnlab.hypotheses.lamp_perf import build_scan, performance
from churnlab.hypotheses.landmark import landmark_groups
from churnlab.hypotheses.spec import parse_hypotheses
from churnlab.hypotheses.stage import n_spells, read_panel
from churnlab.hypotheses.synthetic import synthetic_panel
from churnlab.io import write_parquet


def two_spells() -> pd.DataFrame:
    """A: spell 1 weeks 0-2, churns at the end of week 2; comes back, spell 2 weeks 0-1,
    censored. B: one spell, weeks 0-3, censored."""
    return pd.DataFrame(
        {
            "account_id": ["A", "A", "A", "A", "A", "B", "B", "B", "B"],
            "spell": [1, 1, 1, 2, 2, 1, 1, 1, 1],
            "start": [0, 1, 2, 0, 1, 0, 1, 2, 3],
            "stop": [1, 2, 3, 1, 2, 1, 2, 3, 4],
            "event": [0, 0, 1, 0, 0, 0, 0, 0, 0],
            "x": [5.0, 6, 7, 8, 9, 1, 2, 3, 4],
        }
    )


def test_subjects_are_spells():
    np.testing.assert_array_equal(subject_codes(two_spells()), [0, 0, 0, 1, 1, 2, 2, 2, 2])
    assert n_spells(two_spells()) == 3
    assert n_spells(two_spells().drop(columns="spell")) == 2


def test_lags_never_reach_into_the_previous_spell():
    p = two_spells()
    # A's spell 2 week 0 has no week before it in its spell (week 2 of spell 1 is another
    # subject, and its start 2 is not "week -1" of spell 2 either)
    np.testing.assert_array_equal(
        lag_within_spell(p, "x", 1), [np.nan, 5, 6, np.nan, 8, np.nan, 1, 2, 3]
    )
    np.testing.assert_array_equal(
        lag_within_spell(p, "x", 2), [np.nan, np.nan, 5, np.nan, np.nan, np.nan, np.nan, 1, 2]
    )


def test_churn_within_the_horizon_is_per_spell():
    # A spell 1 churns at stop 3: weeks 1, 2 churn within 2 weeks (stop <= start + 2), week 0
    # does not (3 > 2) but was seen 2 weeks; A spell 2 is censored at stop 2: week 0 seen 2
    # weeks (0), week 1 not long enough (NaN) - spell 1's churn does not leak into spell 2.
    y = churn_within(two_spells(), 2)
    np.testing.assert_array_equal(y, [0, 1, 1, 0, np.nan, 0, 0, 0, np.nan])


def test_landmark_groups_have_one_row_per_spell():
    p = two_spells()
    g = landmark_groups(p, np.ones(len(p)), landmark=1, max_follow=10)
    assert list(zip(g["account_id"], g["spell"], strict=True)) == [("A", 1), ("A", 2), ("B", 1)]
    np.testing.assert_array_equal(g["weeks"], [2, 1, 3])
    np.testing.assert_array_equal(g["churned"], [True, False, False])


def test_recall_counts_churned_spells_and_their_own_weeks():
    p = two_spells().assign(event=[0, 0, 1, 0, 1, 0, 0, 0, 0])  # A churns in both spells
    # lamp (x > 7.5) is on only in spell 2: spell 1's churn is not caught by spell 2's weeks
    scan = build_scan(p, p["x"].to_numpy(), "high", np.array([7.5]), horizon=3)
    row = performance(scan).iloc[0]
    assert row["recall"] == pytest.approx(0.5)  # 1 of 2 churns caught
    assert row["median_warning_weeks"] == 2  # spell 2: first lit week 0, churn at stop 2
    # both churns belong to account A: a bootstrap weight on A counts both
    np.testing.assert_array_equal(scan.churner_account, [0, 0])


def test_split_keeps_an_accounts_spells_together():
    p = pd.concat([two_spells()] * 1, ignore_index=True)
    extra = two_spells().assign(account_id=lambda d: d["account_id"] + "2")
    p = pd.concat([p, extra], ignore_index=True)
    tune = tuning_half(p, seed=3)
    per_account = pd.Series(tune).groupby(p["account_id"].to_numpy()).agg(["min", "max"])
    assert (per_account["min"] == per_account["max"]).all()


def test_stage_reads_spells_in_order(tmp_path):
    shuffled = two_spells().sample(frac=1.0, random_state=1)
    write_parquet(shuffled, tmp_path / "panel.parquet")
    back = read_panel(tmp_path / "panel.parquet", [])
    pd.testing.assert_frame_equal(back, two_spells(), check_dtype=False)


def _returning_world() -> pd.DataFrame:
    """Spell 1 from one synthetic world; the accounts that churned come back for a spell 2
    drawn from another world (same mechanism)."""
    first = synthetic_panel(n_accounts=500, n_weeks=50, seed=31).assign(spell=1)
    churned = set(first.loc[first["event"] == 1, "account_id"])
    second = synthetic_panel(n_accounts=500, n_weeks=40, seed=32).assign(spell=2)
    second = second[second["account_id"].isin(churned)]
    return pd.concat([first, second], ignore_index=True)


def _returning_and_separate():
    """The returning world, the same rows with every spell 2 relabelled as its own account,
    one lead hypothesis on `leader` and the settings both tests use."""
    panel = _returning_world()
    separate = panel.assign(
        account_id=np.where(panel["spell"] == 2, panel["account_id"] + "_back", panel["account_id"])
    ).drop(columns="spell")
    (hyp,) = parse_hypotheses(
        [{"id": "lead", "statement": "s", "stage": "adoption", "indicator": "leader",
          "direction": "low", "threshold": 0.65, "expected_lead_weeks": 8, "action": "a",
          "kind": "risk"}],
        known_indicators=["leader"],
    )  # fmt: skip
    return (
        panel,
        separate,
        hyp,
        Settings(lags=[0, 4, 8], adjust_for=["billing_period"], bootstrap_reps=0),
    )


def test_each_spell_is_its_own_subject_in_cox():
    """Relabelling every spell 2 as a separate account changes nothing in the Cox lead
    profile's estimates (each spell is its own subject at risk from its start), while the
    account counts, the GLM's clusters and the Cox variance (clustered on account when an
    account has several spells: test_hyp_cluster_spells.py) see the account."""
    panel, separate, hyp, s = _returning_and_separate()
    assert panel.groupby("account_id")["spell"].nunique().max() == 2
    a = run_hypotheses(panel, [hyp], {"leader": None}, s).hypotheses[0]
    b = run_hypotheses(separate, [hyp], {"leader": None}, s).hypotheses[0]
    for pa, pb in zip(a["lead_profile"], b["lead_profile"], strict=True):
        assert pa["coef"] == pytest.approx(pb["coef"], rel=1e-9)
        assert pa["se"] != pytest.approx(pb["se"], rel=1e-6)  # clustered vs model-based
        assert pa["n_rows"] == pb["n_rows"] and pa["n_events"] == pb["n_events"]
        assert pa["n_accounts"] < pb["n_accounts"]  # returning accounts counted once
    assert a["recall"] == pytest.approx(b["recall"])
    assert a["landmark_tests"] == b["landmark_tests"]
    assert (a["cox_variance"], b["cox_variance"]) == ("robust, clustered on account", "model-based")
    assert a["verdict"] == "leads churn", a["verdict_reason"]


def test_ph_check_and_combined_model_cluster_on_account_with_repeated_spells():
    """The PH check and the combined model follow the lead profile's variance rule: with an
    account holding two spells their SEs are the account-clustered sandwich (same estimates
    as when every spell is its own account, other SEs), and each says which variance it used."""
    panel, separate, hyp, s = _returning_and_separate()
    ra = run_hypotheses(panel, [hyp], {"leader": None}, s)
    rb = run_hypotheses(separate, [hyp], {"leader": None}, s)
    pa, pb = ra.hypotheses[0]["ph_check"], rb.hypotheses[0]["ph_check"]
    assert (pa["cox_variance"], pb["cox_variance"]) == (
        "robust, clustered on account",
        "model-based",
    )
    assert pa["interaction_coef"] == pytest.approx(pb["interaction_coef"], rel=1e-9)
    assert pa["p_value"] != pytest.approx(pb["p_value"], rel=1e-6)
    ca, cb = ra.combined_model, rb.combined_model
    assert (ca["cox_variance"], cb["cox_variance"]) == (
        "robust, clustered on account",
        "model-based",
    )
    (ta,), (tb,) = ca["terms"], cb["terms"]
    assert ta["coef"] == pytest.approx(tb["coef"], rel=1e-9)
    assert ta["se"] != pytest.approx(tb["se"], rel=1e-6)
