"""Hand-checked pieces of the simulator: calendar maths, range masks, churn draw, contracts, spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from simulate_test_world import BASE_PARAMS, make_spec

from churnlab.errors import ConfigError
from churnlab.simulate.churn import RenewalRisk, calibrate_scale, churn_counts, churn_index
from churnlab.simulate.contracts import contract_rows
from churnlab.simulate.spec import spec_from_params
from churnlab.simulate.timegrid import Grid, add_months, make_grid, range_mask

GRID = Grid(origin=pd.Timestamp("2024-01-01"), start_day=0, end_day=365, n_weeks=53)


def test_add_months_clips_to_month_end_like_billing():
    jan31 = (pd.Timestamp("2024-01-31") - GRID.origin).days
    out = add_months(GRID, np.array([jan31, jan31, jan31]), np.array([1, 2, 13]))
    dates = [GRID.origin + pd.Timedelta(days=int(d)) for d in out]
    assert dates == [
        pd.Timestamp("2024-02-29"),
        pd.Timestamp("2024-03-31"),
        pd.Timestamp("2025-02-28"),
    ]


def test_grid_starts_on_a_monday_a_year_before_start():
    grid = make_grid(make_spec())
    assert grid.origin == pd.Timestamp("2023-01-02") and grid.origin.weekday() == 0
    assert grid.start_day == 364 and grid.start_week == 52
    assert grid.end_day == (pd.Timestamp("2025-12-31") - grid.origin).days


def test_range_mask_unions_overlapping_ranges_and_clips():
    m = range_mask(2, 6, np.array([0, 0, 1]), np.array([1, 2, 4]), np.array([3, 4, 9]))
    assert m.astype(int).tolist() == [[0, 1, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]]


def _risk(u, log_mult, renew, annual=(False,)):
    n = len(u)
    return RenewalRisk(
        log_mult=np.asarray(log_mult, float),
        eligible=np.asarray(renew) <= GRID.end_day,
        period=np.where(np.asarray(annual), 6.0, 1.0),
        u=np.asarray(u, float),
        signup_day=np.zeros(n, dtype=np.int64),
        renew_day=np.asarray(renew),
        annual=np.asarray(annual),
    )


def test_churn_happens_at_the_first_renewal_whose_draw_falls_below_p():
    # p = 1 - exp(-0.1 * exp(log_mult)); log(2) doubles the hazard at the 2nd renewal
    risk = _risk(
        [[0.5, 0.15, 0.01], [0.9, 0.9, 0.9]],
        [[0, np.log(2), 0], [0, 0, 0]],
        [[31, 60, 400], [31, 60, 91]],
        annual=(False, False),
    )
    k = churn_index(risk, 0.1)
    assert k.tolist() == [1, -1]  # 0.15 < 1-exp(-0.2)=0.181; the 3rd renewal is past the end
    counts = churn_counts(risk, GRID, k)
    assert counts["churned"].tolist() == [1, 0]
    assert counts["months"][0] == pytest.approx((60 + 366) / (365.25 / 12))


def test_calibration_hits_the_target_rate():
    rng = np.random.default_rng(0)
    n, k = 4000, 12
    renew = np.repeat((np.arange(1, k + 1) * 30)[None, :], n, axis=0)
    risk = _risk(rng.random((n, k)), np.zeros((n, k)), renew, annual=np.zeros(n, bool))
    scale = calibrate_scale([risk], GRID, 0.03)
    counts = churn_counts(risk, GRID, churn_index(risk, scale))
    assert counts["churned"].sum() / counts["months"].sum() == pytest.approx(0.03, rel=0.01)
    assert scale == pytest.approx(0.03 * 30 / (365.25 / 12), rel=0.12)  # ~constant hazard


def test_contract_rows_hand_made():
    acc = pd.DataFrame(
        {
            "annual": [True, False],
            "seats0": [10, 5],
            "signup_day": [0, 10],
            "plan": ["professional", "starter"],
        }
    )
    renew = np.array([[366, 731, 1096], [41, 70, 101]])
    seats_after = np.array([[12, 12, 12], [5, 8, 8]])
    reasons = np.array(["price", None], dtype=object)
    rows = contract_rows(
        np.random.default_rng(1),
        GRID,
        acc,
        renew,
        seats_after,
        np.array([-1, 2]),
        np.array([-1, 101]),
        reasons,
    )
    a0 = rows[rows["acct"] == 0]
    assert a0[["start_day", "end_day", "seats"]].values.tolist() == [[0, 366, 10]]  # 1 running term
    assert a0["mrr"].tolist() == [10 * 45.0 * 0.85]
    a1 = rows[rows["acct"] == 1]
    # monthly: open row closed only by the seat change at day 70, then churn at day 101
    assert a1[["start_day", "end_day", "seats"]].values.tolist() == [[10, 70, 5], [70, 101, 8]]
    assert a1["cancelled_day"].tolist()[0] == -1 and 87 <= a1["cancelled_day"].tolist()[1] <= 101


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("segment_mix", {"smb": 0.5, "mid_market": 0.3, "enterprise": 0.1}, "sum to 1"),
        ("trajectory_mix", {"fast": 1.0}, "trajectory_mix"),
        ("events_partition_accounts", 300, "multiple of 250"),
        ("n_accounts", 0, "n_accounts"),
        ("end_date", "2024-02-01", "end_date"),
        ("monthly_churn_target", 0.9, "monthly_churn_target"),
        ("effects", {"nps_score": {"hazard_ratio": 2}}, "nps_score"),
    ],
)
def test_bad_simulate_params_name_the_key(key, value, match):
    params = {"base": dict(BASE_PARAMS["base"]), "simulate": dict(BASE_PARAMS["simulate"])}
    params["simulate"][key] = value
    with pytest.raises(ConfigError, match=match):
        spec_from_params(params)
