"""Issue 17: the health GLM fitted on grouped rows (one row per distinct pattern of covariates
and outcome, its count as a frequency weight) gives the row-by-row fit's coefficients and
account-clustered SEs."""

import numpy as np
import pandas as pd
import pytest

from churnlab.health.lamps import lamp_table
from churnlab.health.model import (
    Design,
    fit_hazard,
    make_design,
    raw_features,
    row_patterns,
)


def test_row_patterns_by_hand():
    # columns: billing=annual (dummy), lamp:a, then the outcome
    # rows 0 and 3: (0, 1, 0); rows 1 and 4: (1, 0, 0); row 2: (1, 0, 1); row 5: (0, 1, 1)
    # packed bits (dummy 1, lamp 2, outcome 4): 2, 1, 5, 2, 1, 6 -> sorted words 1, 2, 5, 6
    raw = pd.DataFrame(
        {
            "billing_period": pd.Categorical(["m", "annual", "annual", "m", "annual", "m"]),
            "lamp:a": np.array([1, 0, 0, 1, 0, 1], dtype=np.int8),
        }
    )
    design = Design(levels={"billing_period": ["annual"]}, lamps=["lamp:a"])
    pattern, first = row_patterns(design, raw, pd.Series([0, 0, 1, 0, 0, 1]))
    assert pattern.tolist() == [1, 0, 2, 1, 0, 3]
    assert first.tolist() == [1, 0, 2, 5]
    # a column that is not 0/1 cannot be pooled
    raw["lamp:a"] = [0.5, 0, 0, 1, 0, 1]
    assert row_patterns(design, raw, pd.Series([0] * 6)) is None


def test_more_than_63_columns_pack_into_several_words():
    rng = np.random.default_rng(4)
    names = [f"lamp:{j}" for j in range(70)]
    rows = rng.integers(0, 2, (6, 70)).astype(np.int8)
    rows[3] = rows[0]
    rows[5, :] = rows[1, :]
    rows[5, 68] = 1 - rows[1, 68]  # differs only in the second word
    raw = pd.DataFrame(np.r_[rows, rows], columns=names)
    event = pd.Series([0] * 6 + [1] * 6)
    pattern, first = row_patterns(Design(lamps=names), raw, event)
    # equal rows (and outcomes) share a pattern, all others differ
    keys = [tuple(r) + (e,) for r, e in zip(raw.to_numpy(), event, strict=True)]
    for i in range(12):
        for j in range(12):
            assert (pattern[i] == pattern[j]) == (keys[i] == keys[j])
    assert len(first) == len(set(keys)) == 10


def _both_fits(raw, event, groups, design):
    grouped = fit_hazard(raw, event, groups, design, grouped=True)
    rows = fit_hazard(raw, event, groups, design, grouped=False)
    return grouped, rows


@pytest.fixture(scope="module")
def world():
    from test_health_stage import TESTED, synthetic_world

    panel = synthetic_world(n_accounts=600, n_weeks=50, seed=9)
    return panel, lamp_table(TESTED[:1], None)


def test_grouped_fit_equals_the_row_fit_without_renewal_weeks(world):
    # no weeks_to_renewal in the panel: renewal "not used", every week is at risk
    panel, lamps = world
    raw = raw_features(panel, lamps)
    design = make_design(raw, panel["event"], use_lamps=True)
    assert design.renewal == "not used" and design.lamps == ["lamp:x_low"]
    pattern, first = row_patterns(design, raw, panel["event"])
    assert len(first) < len(raw) / 100  # 5 tenure bands x 2 billing x lamp x outcome
    grouped, rows = _both_fits(raw, panel["event"], panel["account_id"], design)
    assert grouped.coef == pytest.approx(rows.coef, abs=1e-8)
    assert grouped.se == pytest.approx(rows.se, abs=1e-8)
    assert grouped.converged and rows.converged


def test_grouped_fit_equals_the_row_fit_with_renewal_as_a_term(world):
    # churn in and outside the weeks a term ends: the renewal week is a term of the model;
    # a term ends every 4th week of tenure here
    panel, lamps = world
    raw = raw_features(panel, lamps)
    raw["renewal"] = (panel["tenure_weeks"] % 4 == 0).astype(float)
    design = make_design(raw, panel["event"], use_lamps=True)
    assert design.renewal == "term" and "renewal_week" in design.columns()
    # fit_hazard groups by itself when every week is at risk
    auto = fit_hazard(raw, panel["event"], panel["account_id"], design)
    grouped, rows = _both_fits(raw, panel["event"], panel["account_id"], design)
    assert auto.coef.tolist() == grouped.coef.tolist()
    assert grouped.coef == pytest.approx(rows.coef, abs=1e-8)
    assert grouped.se == pytest.approx(rows.se, abs=1e-8)


def test_a_runaway_lamp_is_dropped_the_same_way_when_grouped(world):
    # a lamp lit in exactly the churn weeks separates churn: its weight runs off, it is
    # dropped with its reason and the model refitted, grouped or not
    panel, lamps = world
    raw = raw_features(panel, lamps)
    raw["lamp:oracle"] = panel["event"].astype(np.int8)
    raw.loc[raw.index[:3], "lamp:oracle"] = 1  # three lit weeks without churn
    design_g = Design(levels={"tenure": []}, reference={"tenure": "0-12w"})
    design_g.lamps = ["lamp:x_low", "lamp:oracle"]
    design_r = Design(levels={"tenure": []}, reference={"tenure": "0-12w"})
    design_r.lamps = ["lamp:x_low", "lamp:oracle"]
    grouped = fit_hazard(raw, panel["event"], panel["account_id"], design_g, grouped=True)
    rows = fit_hazard(raw, panel["event"], panel["account_id"], design_r, grouped=False)
    assert design_g.lamps == design_r.lamps == ["lamp:x_low"]
    assert design_g.dropped[0]["term"] == "lamp:oracle"
    assert grouped.coef == pytest.approx(rows.coef, abs=1e-8)
