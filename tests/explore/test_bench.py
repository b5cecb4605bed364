"""The bench equals the hypotheses stage, places a new idea in the family, guards its inputs."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from churnlab.errors import ConfigError, UserError
from churnlab.explore import (
    open_workspace,
    plot_landmark_km,
    plot_lead_profile,
    plot_threshold_tradeoff,
    try_hypothesis,
)
from churnlab.hypotheses.analysis import Settings
from churnlab.hypotheses.family import family_selection
from churnlab.hypotheses.spec import Hypothesis
from churnlab.io import _plain
from churnlab.project import MissingInputError

NEW_IDEA = {
    "id": "login_gap", "statement": "Users stop logging in.", "stage": "adoption",
    "indicator": "weeks_since_last_login", "direction": "high", "threshold": "suggest",
    "expected_lead_weeks": 4, "action": "Call the admin.", "kind": "risk",
}  # fmt: skip


def stage_output(root):
    return json.loads((root / "models/hypotheses.json").read_text(encoding="utf-8"))


def entry(root, hid):
    items = yaml.safe_load((root / "hypotheses.yaml").read_text(encoding="utf-8"))["hypotheses"]
    return next(h for h in items if h["id"] == hid)


def as_json(obj):
    return json.loads(json.dumps(_plain(obj), sort_keys=True))


@pytest.mark.parametrize(
    "hid",
    [
        "slow_onboarding",  # suggested threshold: tuning half / test half
        "key_person_usage_drop",  # suggested, alert budget
        "low_license_activation",  # configured threshold
        "month_to_month_churns_more",  # attribute
    ],
)
def test_bench_record_equals_the_stage_record(finished_project, workspace, hid):
    """An existing hypothesis tried on the bench gives the stage's record, every field:
    lead profile HRs / p / q, threshold and its CI, verdict, reason, alerts, landmark tests."""
    stage = next(r for r in stage_output(finished_project)["hypotheses"] if r["id"] == hid)
    result = try_hypothesis(entry(finished_project, hid), workspace)
    assert as_json(result.record) == as_json(stage)
    # the same numbers in the bench's tables
    prof = pd.DataFrame(stage["lead_profile"])
    np.testing.assert_array_equal(result.lead_profile["hazard_ratio"], prof["hazard_ratio"])
    np.testing.assert_array_equal(result.lead_profile["p_value"], prof["p_value"])
    np.testing.assert_array_equal(
        result.lead_profile["q_value"], prof["q_value"].astype(float).to_numpy()
    )
    row = result.verdict.iloc[0]
    assert row["verdict"] == stage["verdict"]
    assert row["threshold"] == stage["threshold"] or (
        row["threshold"] is None and stage["threshold"] is None
    )
    fam = result.family.set_index("id")
    assert fam.loc[hid, "hypothesis_q_value"] == stage["hypothesis_q_value"]
    assert not fam["changed"].any()  # the same family: no verdict moves


def test_suggested_threshold_curve_is_the_stages(finished_project, workspace):
    curves = pd.read_parquet(
        finished_project / "data/processed/hypothesis_tables/threshold_curves.parquet"
    )
    stage = curves[curves["id"] == "slow_onboarding"].drop(columns="id").reset_index(drop=True)
    result = try_hypothesis(entry(finished_project, "slow_onboarding"), workspace)
    pd.testing.assert_frame_equal(result.threshold_curve, stage)
    assert result.threshold_curve["chosen"].sum() == 1


def test_configured_threshold_curve_marks_the_configured_value(finished_project, workspace):
    result = try_hypothesis(entry(finished_project, "low_license_activation"), workspace)
    chosen = result.threshold_curve[result.threshold_curve["chosen"]]
    assert chosen["threshold"].tolist() == [0.5]
    # on every account: its lamp-on share is the record's (measured on every account too)
    assert chosen["lamp_on_share"].iloc[0] == pytest.approx(result.record["lamp_on_share"])


def test_a_new_idea_joins_the_family(finished_project, workspace):
    stored = stage_output(finished_project)["hypotheses"]
    result = try_hypothesis(NEW_IDEA, workspace)
    fam = result.family
    assert fam["id"].tolist()[-1] == "login_gap" and fam["is_new"].sum() == 1
    assert set(fam["id"]) == {r["id"] for r in stored if r["lead_profile"]} | {"login_gap"}
    assert fam["m"].iloc[0] == fam["hypothesis_p_value"].notna().sum()
    assert fam["R"].iloc[0] == fam["selected"].sum()
    new = fam.set_index("id").loc["login_gap"]
    assert result.record["hypothesis_q_value"] == new["hypothesis_q_value"]
    assert result.verdict.iloc[0]["verdict"] == new["verdict"]
    # judged alone, its own p-values are the same; only q-values move
    alone = try_hypothesis(NEW_IDEA, workspace, family=False)
    np.testing.assert_array_equal(alone.lead_profile["p_value"], result.lead_profile["p_value"])
    np.testing.assert_array_equal(
        alone.lead_profile["q_value_alone"], result.lead_profile["q_value_alone"]
    )
    assert alone.family.empty and any("judged alone" in n for n in alone.notes)


def test_bench_only_lags_are_noted(workspace):
    result = try_hypothesis({**NEW_IDEA, "lags": [0, 2]}, workspace, family=False)
    assert result.lead_profile["lag_weeks"].tolist() == [0, 2]
    assert any("lags [0, 2] are the bench's" in n for n in result.notes)


def test_figures_are_matplotlib_figures(workspace):
    result = try_hypothesis(NEW_IDEA, workspace)
    fig = plot_lead_profile(result)
    assert isinstance(fig, Figure)
    fitted = result.lead_profile["hazard_ratio"].notna().sum()
    points = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    plotted = sum(len(c.get_offsets()) for c in points)
    assert plotted == fitted
    assert isinstance(plot_threshold_tradeoff(result), Figure)
    km = plot_landmark_km(result)
    assert len(km.axes) == result.landmark_km["landmark_week"].nunique()


def test_unknown_indicator_and_bad_lags_are_one_line_errors(workspace):
    with pytest.raises(ConfigError, match=r"field 'indicator': unknown indicator id 'login_gapz'"):
        try_hypothesis({**NEW_IDEA, "indicator": "login_gapz"}, workspace, family=False)
    with pytest.raises(ConfigError, match=r"did you mean 'weeks_since_last_login'"):
        try_hypothesis({**NEW_IDEA, "indicator": "weeks_since_last_logn"}, workspace)
    with pytest.raises(ConfigError, match=r"field 'lags'"):
        try_hypothesis({**NEW_IDEA, "lags": [-1]}, workspace)
    with pytest.raises(ConfigError, match="not valid YAML"):
        try_hypothesis("id: [unclosed", workspace)


def test_yaml_text_and_a_pasted_list_item_are_ideas(workspace):
    text = yaml.safe_dump([NEW_IDEA], sort_keys=False)  # as copied from hypotheses.yaml
    a = try_hypothesis(text, workspace, family=False)
    b = try_hypothesis(NEW_IDEA, workspace, family=False)
    np.testing.assert_array_equal(a.lead_profile["p_value"], b.lead_profile["p_value"])


def test_missing_inputs_name_the_stage(finished_project, tmp_path):
    for name in ("params.yaml", "dvc.yaml", "hypotheses.yaml"):
        shutil.copy(finished_project / name, tmp_path / name)
    with pytest.raises(MissingInputError, match=r"dvc repro panel"):
        open_workspace(tmp_path)
    processed = tmp_path / "data/processed"
    processed.mkdir(parents=True)
    for name in ("panel.parquet", "panel_meta.json"):
        shutil.copy(finished_project / "data/processed" / name, processed / name)
    ws = open_workspace(tmp_path)
    with pytest.raises(MissingInputError, match=r"hypotheses.json: missing.*dvc repro hypotheses"):
        try_hypothesis(NEW_IDEA, ws)
    assert try_hypothesis(NEW_IDEA, ws, family=False).family.empty  # alone needs no stage output


def test_a_stale_family_is_refused(workspace):
    ws = replace(workspace, settings=replace(workspace.settings, fdr_alpha=0.1), _family=None)
    with pytest.raises(UserError, match=r"made with fdr_alpha = 0.05.*dvc repro hypotheses"):
        try_hypothesis(NEW_IDEA, ws)


def test_family_selection_by_hand():
    """Two hypotheses. H1 lags 0 / 4 with p 0.04 / 0.01: Simes min(0.01*2/1, 0.04*2/2) = 0.02.
    H2 one lag, p 0.5. BH across: q = (0.02*2/1, 0.5*2/2) = (0.04, 0.5); alpha 0.05 selects
    R = 1 of m = 2, so H1's lags are BH-tested at 0.05 * 1/2: within-H1 BH q (0.04, 0.02)
    times m/R = 2 -> (0.08, 0.04). Only lag 4 counts: HR 2 >= 1.2, risk -> leads churn at 4.
    H2: nothing significant and its CI (0.8-1.5) excludes HR 2 -> no evidence."""
    cols = dict(ci_low=[1.4, 1.4], ci_high=[2.9, 2.9], se=[0.2, 0.2], problem=[None, None])
    p1 = pd.DataFrame({"lag_weeks": [0, 4], "p_value": [0.04, 0.01], "coef": [np.log(2)] * 2,
                       "hazard_ratio": [2.0, 2.0], **cols})  # fmt: skip
    p2 = pd.DataFrame({"lag_weeks": [0], "p_value": [0.5], "coef": [np.log(1.1)],
                       "hazard_ratio": [1.1], "ci_low": [0.8], "ci_high": [1.5], "se": [0.2],
                       "problem": [None]})  # fmt: skip

    def hyp(hid):
        return Hypothesis(hid, "s", "adoption", "x", "high", 1.0, 4, "a", "risk")

    s = Settings(lags=[0, 4], adjust_for=[], fdr_alpha=0.05, min_effect_hr=1.2, rule_out_hr=2.0)
    table, profiles = family_selection({"H1": p1, "H2": p2}, {"H1": hyp("H1"), "H2": hyp("H2")}, s)
    t = table.set_index("id")
    assert t.loc["H1", "hypothesis_p_value"] == pytest.approx(0.02)
    assert t["hypothesis_q_value"].tolist() == pytest.approx([0.04, 0.5])
    assert t["selected"].tolist() == [True, False] and (t["m"] == 2).all() and (t["R"] == 1).all()
    assert profiles["H1"]["q_value"].tolist() == pytest.approx([0.08, 0.04])
    assert t.loc["H1", "verdict"] == "leads churn" and t.loc["H1", "best_lag_weeks"] == 4
    assert t.loc["H2", "verdict"] == "no evidence"
