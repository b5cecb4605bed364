"""Attribute hypotheses (issue 12 §5): "accounts on plan X churn more", tested like the
others - Cox adjusted for adjust_for minus the attribute, KM from the spell's start."""

import numpy as np
import pandas as pd
import pytest

from churnlab.hypotheses.analysis import Settings, run_hypotheses
from churnlab.hypotheses.design import attribute_lamp
from churnlab.hypotheses.spec import parse_hypotheses

BASE = {"statement": "s", "stage": "renewal", "action": "a", "kind": "risk"}


def plan_world(n=1500, weeks=60, hr_basic=3.0, seed=7) -> pd.DataFrame:
    """Weekly panel: plan Basic (HR 3 vs the rest), Pro, Gold; segment depends on plan (so
    adjusting for it matters a little) and raises the hazard of 'ent' by 1.5."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(np.array(["Basic", "Pro", "Gold"]), n, p=[0.4, 0.4, 0.2])
    segment = np.where(rng.random(n) < np.where(plan == "Gold", 0.7, 0.3), "ent", "smb")
    hazard = 0.006 * np.where(plan == "Basic", hr_basic, 1.0) * np.where(segment == "ent", 1.5, 1)
    dies = rng.random((n, weeks)) < hazard[:, None]
    length = np.where(dies.any(axis=1), dies.argmax(axis=1) + 1, weeks)
    acc = np.repeat(np.arange(n), length)
    start = np.concatenate([np.arange(k) for k in length])
    last = np.zeros(len(acc), bool)
    last[np.cumsum(length) - 1] = True
    return pd.DataFrame(
        {
            "account_id": [f"A{a:05d}" for a in acc],
            "start": start,
            "stop": start + 1,
            "event": (last & dies.any(axis=1)[acc]).astype(int),
            # labels as users write them: padded, mixed case
            "plan": np.where(plan[acc] == "Basic", " basic", plan[acc]),
            "segment": segment[acc],
            "billing_period": "monthly",
        }
    )


def _hyp(**kw):
    return parse_hypotheses([{**BASE, "id": "h", "attribute": "plan", **kw}])


def _run(panel, hyps, **kw):
    s = Settings(**{"lags": [0, 4, 8], "adjust_for": ["plan", "segment"], "bootstrap_reps": 0,
                    **kw})  # fmt: skip
    return run_hypotheses(panel, hyps, {}, s)


@pytest.fixture(scope="module")
def world():
    return plan_world()


def test_attribute_lamp_matches_trimmed_case_insensitive_and_leaves_missing_unknown():
    p = pd.DataFrame({"plan": [" Basic", "BASIC ", "Pro", None, "basic plan"]})
    on, missing = attribute_lamp(p, "plan", ["basic", "Enterprise"])
    np.testing.assert_array_equal(on, [1, 1, 0, np.nan, 0])
    assert missing == ["Enterprise"]


def test_a_plan_that_churns_more_leads_churn_with_its_hazard_ratio(world):
    res = _run(world, _hyp(values=["Basic"]))
    rec = res.hypotheses[0]
    assert rec["verdict"] == "leads churn", rec["verdict_reason"]
    assert rec["verdict_reason"].startswith("accounts whose plan is Basic churn more (HR ")
    assert rec["best_lag_weeks"] == 0 and rec["headline_lag_weeks"] == 0
    assert rec["ci_low"] < 3.0 < rec["ci_high"]  # the true HR
    assert [p["lag_weeks"] for p in rec["lead_profile"]] == [0]  # lags do not apply
    # the attribute's own dummies are not adjusters (they would be collinear with the lamp)
    assert rec["lead_profile"][0]["problem"] is None
    assert rec["glm_check"]["per_lag"][0]["problem"] is None
    assert rec["indicator"] == "attribute:plan" and rec["values_not_in_data"] == []
    # KM from each spell's start, whole follow-up: Basic spells survive less
    (km,) = rec["landmark_tests"]
    assert km["landmark_week"] == 0 and km["logrank_p"] < 1e-6
    assert km["n_on"] + km["n_off"] == world["account_id"].nunique()
    assert res.tables["landmark_km"]["weeks_since_landmark"].max() == 60
    assert rec["ph_check"]["problem"] is None


def test_attribute_hazard_ratio_equals_a_one_row_per_account_cox(world):
    """A static attribute on weekly rows is the same Cox model as one row per account (all
    start at 0): checked against lifelines' CoxPHFitter (Efron ties) with the segment dummy."""
    from lifelines import CoxPHFitter

    rec = _run(world, _hyp(values=["basic"])).hypotheses[0]
    per = world.groupby("account_id").agg(
        T=("stop", "max"), E=("event", "max"), plan=("plan", "first"), segment=("segment", "first")
    )
    df = pd.DataFrame({"T": per["T"], "E": per["E"],
                       "lamp": (per["plan"].str.strip().str.lower() == "basic").astype(float),
                       "ent": (per["segment"] == "smb").astype(float)})  # fmt: skip
    cph = CoxPHFitter().fit(df, "T", "E")
    assert rec["lead_profile"][0]["coef"] == pytest.approx(cph.params_["lamp"], rel=1e-6)
    assert rec["lead_profile"][0]["se"] == pytest.approx(cph.standard_errors_["lamp"], rel=1e-5)


def test_an_opportunity_plan_and_a_null_plan(world):
    hyps = parse_hypotheses([
        {**BASE, "id": "gold", "attribute": "plan", "values": ["Gold"], "kind": "opportunity"},
        {**BASE, "id": "pro", "attribute": "plan", "values": ["Pro", "Gold"], "kind": "risk"},
    ])  # fmt: skip
    by_id = {r["id"]: r for r in _run(world, hyps, rule_out_hr=2.0).hypotheses}
    # Gold is no better than Pro, but both are better than Basic: versus everyone else
    # Gold churns less - an opportunity lamp in the expected direction
    assert by_id["gold"]["verdict"] == "leads churn"
    assert "churn less" in by_id["gold"]["verdict_reason"]
    # Pro / Gold vs Basic: less churn, the opposite of the stated risk
    assert by_id["pro"]["verdict"] == "opposite direction"


def test_values_not_in_the_data(world):
    rec = _run(world, _hyp(values=["Basic", "Platinum"])).hypotheses[0]
    assert rec["verdict"] == "leads churn" and rec["values_not_in_data"] == ["Platinum"]
    assert rec["verdict_reason"].endswith("; values not in the data: Platinum")
    rec = _run(world, _hyp(values=["Platinum"])).hypotheses[0]
    assert rec["verdict"] == "not testable"
    assert rec["verdict_reason"] == (
        "none of the values occur in 'plan' (the data has 'basic', 'Gold', 'Pro')"
    )
    rec = _run(world, _hyp(values=["basic", "pro", "gold"])).hypotheses[0]
    assert (
        rec["verdict"] == "not testable"
        and "the lamp is on for every account" in (rec["verdict_reason"])
    )
    hyps = parse_hypotheses([{**BASE, "id": "r", "attribute": "region", "values": ["EU"]}])
    rec = _run(world, hyps).hypotheses[0]
    assert rec["verdict"] == "not testable"
    assert rec["verdict_reason"] == "column 'region' is not in the panel"
    hyps = parse_hypotheses([{**BASE, "id": "b", "attribute": "billing_period", "values": "x"}])
    rec = _run(world, hyps).hypotheses[0]
    assert rec["verdict_reason"] == "'billing_period' has one value in the data ('monthly')"


def test_attribute_and_indicator_hypotheses_share_the_fdr_and_the_combined_model(world):
    panel = world.assign(noise=np.random.default_rng(1).normal(size=len(world)))
    hyps = parse_hypotheses(
        [{**BASE, "id": "basic", "attribute": "plan", "values": ["Basic"]},
         {**BASE, "id": "noise", "indicator": "noise", "direction": "high", "threshold": 1.0,
          "expected_lead_weeks": 4}],
        known_indicators=["noise"],
    )  # fmt: skip
    res = _run(panel, hyps)
    by_id = {r["id"]: r for r in res.hypotheses}
    assert by_id["basic"]["hypothesis_q_value"] is not None
    terms = {t["id"]: t for t in res.combined_model["terms"]}
    assert "basic" in terms and terms["basic"]["hazard_ratio"] > 2
    assert res.combined_model["problem"] is None
