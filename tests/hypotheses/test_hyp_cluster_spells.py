"""Accounts that churn and come back: several spells (subjects) per account are not
independent, so the lead profile's Cox variance is clustered on account (Lin & Wei 1989, R's
`coxph(..., cluster = account_id)`); with one spell per account the model-based variance
stays (lead.lead_profile explains why).

The clustered variance of our counting-process fitter is checked against lifelines'
`CoxPHFitter(robust=True, cluster_col=)`, which has no (start, stop] rows: each subject's one
row there is cut into many (start, stop] pieces here, which must not change anything (a
subject's score residuals add up over its pieces), and against the jackknife of accounts on
the Stanford heart data (R's reference counting-process data).
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from scipy import stats

from churnlab.hypotheses.analysis import Settings, run_hypotheses
from churnlab.hypotheses.cox import fit_cox
from churnlab.hypotheses.design import adjustment_columns, lamp
from churnlab.hypotheses.lead import (
    MODEL_VARIANCE,
    ROBUST_VARIANCE,
    lead_profile,
    repeated_spells,
)
from churnlab.hypotheses.spec import parse_hypotheses
from churnlab.hypotheses.synthetic import synthetic_panel

REFERENCE = Path("../shared/reference")


def _spells(seed: int = 0, n_accounts: int = 150) -> pd.DataFrame:
    """One row per spell, tie-free times: 1-3 spells per account, an account frailty and an
    account trait x2 shared by its spells (so they are dependent, as a returning customer's
    are), x1 drawn per spell."""
    rng = np.random.default_rng(seed)
    n_spells = rng.integers(1, 4, n_accounts)
    account = np.repeat(np.arange(n_accounts), n_spells)
    frailty = rng.gamma(0.5, 2.0, n_accounts)[account]
    n = len(account)
    x1 = rng.normal(size=n)
    x2 = (rng.random(n_accounts) < 0.4).astype(float)[account]
    t = rng.exponential(1 / (frailty * np.exp(0.5 * x1 + 0.7 * x2)))
    c = rng.exponential(2, size=n)
    return pd.DataFrame(
        {"T": np.minimum(t, c), "E": (t <= c).astype(int), "x1": x1, "x2": x2, "acc": account}
    )


def _cut(df: pd.DataFrame, width: float) -> pd.DataFrame:
    """Each spell's (0, T] as (start, stop] pieces of `width` (counting-process form), the
    event on the last piece only."""
    parts = []
    for _, r in df.iterrows():
        edges = np.append(np.arange(0.0, r["T"], width), r["T"])
        k = len(edges) - 1
        parts.append(
            pd.DataFrame(
                {
                    "start": edges[:-1],
                    "stop": edges[1:],
                    "E": np.r_[np.zeros(k - 1, int), int(r["E"])],
                    "x1": r["x1"],
                    "x2": r["x2"],
                    "acc": int(r["acc"]),
                }
            )  # fmt: skip
        )
    return pd.concat(parts, ignore_index=True)


def test_clustered_variance_on_split_rows_equals_lifelines_on_whole_spells():
    df = _spells()
    assert df.groupby("acc").size().max() == 3 and not df["T"].duplicated().any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CoxPHFitter().fit(
            df[["T", "E", "x1", "x2", "acc"]], "T", "E", robust=True, cluster_col="acc"
        )
    long = _cut(df, 0.1)
    assert len(long) > 5 * len(df)
    ours = fit_cox(
        long["start"], long["stop"], long["E"], long[["x1", "x2"]].to_numpy(),
        cluster=long["acc"].to_numpy(), tol=1e-12,
    )  # fmt: skip
    np.testing.assert_allclose(ours.coef, ref.params_.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.se, ref.standard_errors_.to_numpy(), rtol=1e-5)
    # the dependence is real here: the account trait's model-based SE is clearly too small
    assert ours.se[1] > 1.2 * ours.naive_se[1]


def test_clustered_variance_is_close_to_the_jackknife_of_accounts_on_heart():
    """R's robust variance is the approximate (infinitesimal) jackknife D'D; the exact
    leave-one-patient-out jackknife on R's counting-process heart data (103 patients, a
    second row after transplant) agrees within 10%. The model-based SEs are R's coxph's."""
    path = REFERENCE / "survival__heart.csv"
    assert path.exists(), f"{path.resolve()} is missing: the R reference data must sit beside"
    heart = pd.read_csv(path)
    x = heart[["age", "year", "surgery", "transplant"]].astype(float).to_numpy()
    start, stop, event = heart["start"], heart["stop"], heart["event"] == 1
    fit = fit_cox(start, stop, event, x, cluster=heart["id"].to_numpy(), tol=1e-12)
    np.testing.assert_allclose(
        fit.naive_se, [0.013714115, 0.070467980, 0.367225996, 0.313754798], rtol=1e-4
    )
    shifts = []
    for pid in heart["id"].unique():
        keep = (heart["id"] != pid).to_numpy()
        shifts.append(fit_cox(start[keep], stop[keep], event[keep], x[keep], tol=1e-12).coef)
    jackknife = np.sqrt(((np.array(shifts) - fit.coef) ** 2).sum(axis=0))
    np.testing.assert_allclose(fit.se, jackknife, rtol=0.1)


def _returning(seed: int = 31) -> pd.DataFrame:
    """Spell 1 of 500 synthetic accounts; those that churned come back for a spell 2."""
    first = synthetic_panel(n_accounts=500, n_weeks=50, seed=seed).assign(spell=1)
    churned = set(first.loc[first["event"] == 1, "account_id"])
    second = synthetic_panel(n_accounts=500, n_weeks=40, seed=seed + 1).assign(spell=2)
    second = second[second["account_id"].isin(churned)]
    panel = pd.concat([first, second], ignore_index=True)
    return panel.sort_values(["account_id", "spell", "start"], kind="stable").reset_index(drop=True)


def test_repeated_spells_is_about_accounts_with_several_spells():
    panel = _returning()
    assert repeated_spells(panel)
    assert not repeated_spells(panel[panel["spell"] == 1])
    assert not repeated_spells(panel.drop(columns="spell"))  # no spell column: one each
    relabelled = panel.assign(account_id=panel["account_id"] + "_" + panel["spell"].astype(str))
    assert not repeated_spells(relabelled)
    assert not repeated_spells(panel.iloc[:0])


def _profile(panel: pd.DataFrame, **kw) -> pd.DataFrame:
    adjust, names, _ = adjustment_columns(panel, ["billing_period"])
    return lead_profile(panel, "leader", "low", 0.65, [0, 4], adjust, names, 20, 50, **kw)


def test_lead_profile_clusters_on_account_when_an_account_has_several_spells():
    """Lag 0 by hand: the SE is the account-clustered sandwich, the CI and Wald p use it, and
    p_value is the likelihood-ratio statistic divided by (robust / model-based variance)."""
    panel = _returning()
    prof = _profile(panel)  # auto: repeated spells -> robust
    adjust, _, _ = adjustment_columns(panel, ["billing_period"])
    x = lamp(panel["leader"].to_numpy(), "low", 0.65)
    args = (panel["start"], panel["stop"], panel["event"], np.column_stack([x, adjust]))
    acc = pd.factorize(panel["account_id"])[0]
    full = fit_cox(*args, cluster=acc)
    reduced = fit_cox(*args[:3], adjust)
    row = prof.iloc[0]
    assert row["se"] == pytest.approx(full.se[0], rel=1e-9)
    assert row["se"] != pytest.approx(full.naive_se[0], rel=1e-3)
    assert row["ci_high"] == pytest.approx(np.exp(full.coef[0] + 1.959963984540054 * full.se[0]))
    assert row["wald_p_value"] == pytest.approx(2 * stats.norm.sf(abs(full.coef[0] / full.se[0])))
    lr = 2 * (full.loglik - reduced.loglik) * (full.naive_se[0] / full.se[0]) ** 2
    assert row["p_value"] == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-6)
    # the same rows forced to the model-based variance: same coefficients, other SEs
    model = _profile(panel, robust=False)
    np.testing.assert_allclose(model["coef"], prof["coef"], rtol=1e-12)
    assert model.iloc[0]["se"] == pytest.approx(full.naive_se[0], rel=1e-9)


def test_one_spell_per_account_keeps_the_model_based_variance_exactly():
    panel = _returning()
    single = panel.assign(account_id=panel["account_id"] + "_" + panel["spell"].astype(str))
    auto, model = _profile(single), _profile(single, robust=False)
    pd.testing.assert_frame_equal(auto, model)  # bit for bit: single-spell outputs unchanged
    # the spells as separate accounts: same subjects, so the same coefficients and model SEs
    # as the returning accounts' model-based fit
    np.testing.assert_allclose(auto["coef"], _profile(panel)["coef"], rtol=1e-9)
    np.testing.assert_allclose(auto["se"], _profile(panel, robust=False)["se"], rtol=1e-9)


def test_an_account_counted_twice_is_not_twice_the_evidence():
    """Every spell written twice under the same account (a second identical spell): the
    model-based SE shrinks by about sqrt(2) - false precision - while the clustered SE and
    the adjusted likelihood-ratio p stay about those of the account counted once (not
    exactly: the doubled churns are ties, which Efron's rule treats a little differently)."""
    once = _returning().query("spell == 1")
    twice = pd.concat([once, once.assign(spell=2)], ignore_index=True).sort_values(
        ["account_id", "spell", "start"], kind="stable", ignore_index=True
    )
    a, b = _profile(once, robust=True), _profile(twice)
    np.testing.assert_allclose(b["coef"], a["coef"], rtol=0.02)
    np.testing.assert_allclose(b["se"], a["se"], rtol=0.02)
    np.testing.assert_allclose(np.log(b["p_value"]), np.log(a["p_value"]), rtol=0.05)
    naive = _profile(twice, robust=False)
    np.testing.assert_allclose(naive["se"] * np.sqrt(2), _profile(once)["se"], rtol=0.02)


def _hypothesis():
    (hyp,) = parse_hypotheses(
        [{"id": "lead", "statement": "s", "stage": "adoption", "indicator": "leader",
          "direction": "low", "threshold": 0.65, "expected_lead_weeks": 8, "action": "a",
          "kind": "risk"}],
        known_indicators=["leader"],
    )  # fmt: skip
    return hyp


def test_the_record_says_which_variance_was_used():
    s = Settings(lags=[0, 4, 8], adjust_for=["billing_period"], bootstrap_reps=0)
    panel = _returning()
    single = panel[panel["spell"] == 1]
    (a,) = run_hypotheses(panel, [_hypothesis()], {"leader": None}, s).hypotheses
    (b,) = run_hypotheses(single, [_hypothesis()], {"leader": None}, s).hypotheses
    assert a["cox_variance"] == ROBUST_VARIANCE == "robust, clustered on account"
    assert b["cox_variance"] == MODEL_VARIANCE == "model-based"
    assert a["verdict"] == "leads churn", a["verdict_reason"]
    (c,) = run_hypotheses(
        panel, [_hypothesis()], {"leader": None}, s.__class__(**{**vars(s), "lags": [0]})
    ).hypotheses
    assert c["lead_profile"][0]["se"] == pytest.approx(a["lead_profile"][0]["se"], rel=1e-12)
