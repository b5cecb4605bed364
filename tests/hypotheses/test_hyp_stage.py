"""The stage through the CLI, in a temporary project: outputs, determinism, user errors."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.hypotheses.synthetic import synthetic_panel
from churnlab.indicators.catalog import CATALOG
from churnlab.io import read_json, write_json, write_parquet

RENAME = {"leader": "key_person_activity_change", "coincident": "nps_unanswered",
          "decoy": "tickets_opened"}  # fmt: skip


@pytest.fixture()
def project(tmp_path, monkeypatch):
    shutil.copy("params.yaml", tmp_path / "params.yaml")
    shutil.copy("hypotheses.yaml", tmp_path / "hypotheses.yaml")
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["hypotheses"]["bootstrap_reps"] = 10
    params["hypotheses"]["lags"] = [0, 4, 8]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    panel = synthetic_panel(n_accounts=500, n_weeks=50, seed=3).rename(columns=RENAME)
    write_parquet(panel, tmp_path / "data/processed/panel.parquet")
    # panel_meta lists every indicator, testable or not (built-ins; a user-defined one too)
    indicators = {
        ind.id: {"source": "builtin", "testable": True, "reason": None, "tables": list(ind.tables)}
        for ind in CATALOG
    }
    indicators["first_response_hours"].update(testable=False, reason="tickets table missing")
    indicators["blocks_4w"] = {"source": "user", "testable": True, "reason": None,
                               "tables": ["events"]}  # fmt: skip
    write_json(
        tmp_path / "data/processed/panel_meta.json",
        {"indicators": indicators, "snapshot": False,
         "attributes": {"billing_period": ["annual", "monthly"]}},
    )  # fmt: skip
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _digest(root: Path) -> dict[str, str]:
    files = [root / "models/hypotheses.json", root / "metrics/hypotheses.json",
             *sorted((root / "data/processed/hypothesis_tables").glob("*.parquet"))]  # fmt: skip
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_stage_writes_contract_outputs_deterministically(project):
    result = CliRunner().invoke(app, ["hypotheses"])
    assert result.exit_code == 0, result.output
    first = _digest(project)
    tables = "data/processed/hypothesis_tables/"
    assert set(first) == {"models/hypotheses.json", "metrics/hypotheses.json",
                          tables + "lead_profiles.parquet", tables + "threshold_curves.parquet",
                          tables + "landmark_km.parquet",
                          tables + "alert_policies.parquet"}  # fmt: skip
    out = read_json("models/hypotheses.json")
    by_id = {h["id"]: h for h in out["hypotheses"]}
    assert by_id["slow_support_responses"]["verdict"] == "not testable"
    assert by_id["slow_support_responses"]["verdict_reason"] == "tickets table missing"
    assert by_id["mrr_downgrade"]["verdict"] == "not testable"  # column absent from the panel
    kp = by_id["key_person_usage_drop"]
    for key in ("verdict", "best_lag_weeks", "hazard_ratio", "ci_low", "ci_high", "p_value",
                "q_value", "lead_profile", "threshold", "lift", "precision", "recall",
                "median_warning_weeks", "n_accounts", "n_events", "glm_check", "ph_check"):  # fmt: skip
        assert key in kp
    assert [p["lag_weeks"] for p in kp["lead_profile"]] == [0, 4, 8]
    metrics = read_json("metrics/hypotheses.json")
    assert sum(metrics["verdicts"].values()) == metrics["n_hypotheses"] == len(out["hypotheses"])
    assert CliRunner().invoke(app, ["hypotheses"]).exit_code == 0
    assert _digest(project) == first


def test_missing_adjustment_column_is_a_user_error(project):
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["hypotheses"]["adjust_for"] = ["billing_period", "region"]
    Path("params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(app, ["hypotheses"])
    assert result.exit_code == 2
    assert "column 'region' is missing" in result.output


def test_bad_hypothesis_file_is_a_config_error(project):
    text = Path("hypotheses.yaml").read_text().replace("direction: low", "direction: lower", 1)
    Path("hypotheses.yaml").write_text(text)
    result = CliRunner().invoke(app, ["hypotheses"])
    assert result.exit_code == 2
    assert "field 'direction'" in result.output and "key_person_usage_drop" in result.output


def _append_hypotheses(*entries):
    doc = yaml.safe_load(Path("hypotheses.yaml").read_text())
    doc["hypotheses"] += list(entries)
    Path("hypotheses.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def test_unknown_indicator_lists_the_panel_meta_ids_grouped(project):
    _append_hypotheses(
        {"id": "blocks", "statement": "s", "stage": "adoption", "indicator": "block_user",
         "direction": "high", "threshold": 1, "expected_lead_weeks": 4, "action": "a",
         "kind": "risk"}
    )  # fmt: skip
    params = yaml.safe_load(Path("params.yaml").read_text())
    params.setdefault("panel", {})["indicators_file"] = "our_indicators.yaml"
    Path("params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(app, ["hypotheses"])
    assert result.exit_code == 2
    line = result.output.strip()
    assert "hypothesis 'blocks', field 'indicator': unknown indicator id 'block_user'" in line
    assert "user-defined: blocks_4w" in line and "built-in: active_days," in line
    assert "src/churnlab/indicators/catalog.py" in line and "our_indicators.yaml" in line


def test_attribute_hypothesis_through_the_stage(project):
    _append_hypotheses(
        {"id": "monthly_churns_more", "statement": "Month-to-month contracts churn more",
         "stage": "renewal", "attribute": "billing_period", "values": ["Monthly"],
         "action": "Offer annual", "kind": "risk"},
        {"id": "gold_plan", "statement": "s", "stage": "renewal", "attribute": "plan",
         "values": ["gold"], "action": "a", "kind": "risk"},
    )  # fmt: skip
    result = CliRunner().invoke(app, ["hypotheses"])
    assert result.exit_code == 0, result.output
    out = read_json("models/hypotheses.json")
    by_id = {h["id"]: h for h in out["hypotheses"]}
    rec = by_id["monthly_churns_more"]
    assert rec["indicator"] == "attribute:billing_period" and rec["attribute"] == "billing_period"
    assert rec["values"] == ["Monthly"] and rec["values_not_in_data"] == []
    assert rec["direction"] is None and rec["threshold"] is None
    assert rec["lamp_rule"] == "billing_period in [Monthly]"
    # the synthetic world's billing period does not change the hazard
    assert rec["verdict"] in {"no evidence", "inconclusive"}, rec["verdict_reason"]
    assert [p["lag_weeks"] for p in rec["lead_profile"]] == [0]
    assert rec["landmark_tests"][0]["landmark_week"] == 0
    assert 0.4 < rec["lamp_on_share"] < 0.8  # ~60% of accounts are monthly
    gold = by_id["gold_plan"]
    assert gold["verdict"] == "not testable"
    assert gold["verdict_reason"] == "'plan' has one value in the data ('standard')"
    assert "spells" in out["settings"]["rules"] and "attribute" in out["settings"]["rules"]


def test_snapshot_meta_makes_activity_indicators_not_testable(project):
    meta = read_json("data/processed/panel_meta.json")
    meta["snapshot"] = True
    write_json("data/processed/panel_meta.json", meta)
    result = CliRunner().invoke(app, ["hypotheses"])
    assert result.exit_code == 0, result.output
    by_id = {h["id"]: h for h in read_json("models/hypotheses.json")["hypotheses"]}
    kp = by_id["key_person_usage_drop"]
    assert kp["verdict"] == "not testable"
    assert kp["verdict_reason"].startswith("snapshot export: no events")
    assert read_json("models/hypotheses.json")["settings"]["snapshot"] is True


def test_v2_panel_with_spells_and_region(project):
    """A v2 panel: two spells for returning accounts (start/stop restart per spell), a region
    column; rows written shuffled. The stage sorts by account, spell, start and counts spells."""
    first = synthetic_panel(n_accounts=500, n_weeks=50, seed=3).assign(spell=1)
    back = set(first.loc[first["event"] == 1, "account_id"])
    second = synthetic_panel(n_accounts=500, n_weeks=30, seed=4).assign(spell=2)
    panel = pd.concat([first, second[second["account_id"].isin(back)]], ignore_index=True)
    panel["region"] = np.where(panel["account_id"].str[-1].isin(list("01234")), "EU", "US")
    panel = panel.rename(columns=RENAME).sample(frac=1.0, random_state=2)
    write_parquet(panel, project / "data/processed/panel.parquet")
    _append_hypotheses(
        {"id": "eu", "statement": "s", "stage": "renewal", "attribute": "region",
         "values": ["eu"], "action": "a", "kind": "risk"}
    )  # fmt: skip
    result = CliRunner().invoke(app, ["hypotheses"])
    assert result.exit_code == 0, result.output
    out = read_json("models/hypotheses.json")
    settings = out["settings"]
    assert settings["n_panel_spells"] == 500 + len(back)
    assert settings["n_panel_accounts"] == 500
    by_id = {h["id"]: h for h in out["hypotheses"]}
    assert by_id["eu"]["verdict"] in {"no evidence", "inconclusive"}, by_id["eu"]["verdict_reason"]
    assert by_id["key_person_usage_drop"]["verdict"] == "leads churn"


def test_alerts_with_csms_from_the_interim_assignments(project):
    """Issue 14: with data/interim/csm_assignments.parquet, each tested record's `alerts`
    counts lightings per CSM-week; accounts A00000-A00249 have CSM c1, the rest none."""
    panel = pd.read_parquet(project / "data/processed/panel.parquet")
    ids = sorted(panel["account_id"].unique())[:250]
    write_parquet(
        pd.DataFrame({"account_id": ids, "csm_id": "c1",
                      "start_date": pd.Timestamp("2000-01-01"), "end_date": pd.NaT}),
        project / "data/interim/csm_assignments.parquet",
    )  # fmt: skip
    result = CliRunner().invoke(app, ["hypotheses"])
    assert result.exit_code == 0, result.output
    out = read_json("models/hypotheses.json")
    by_id = {h["id"]: h for h in out["hypotheses"]}
    kp = by_id["key_person_usage_drop"]
    assert kp["alerts"]["n_csms"] == 1 and kp["alerts"]["lightings_per_csm_week"] is not None
    for key in ("share_lit_median", "share_lit_latest", "lightings_per_100_account_weeks",
                "precision", "base_rate", "lift", "churners_warned_share",
                "median_warning_weeks", "median_weeks_lit", "p75_weeks_lit"):  # fmt: skip
        assert key in kp["alerts"]
    assert kp["verdict_label"] == kp["verdict"] and kp["warning_weeks_basis"]
    assert by_id["slow_support_responses"]["alerts"] is None  # not testable
    assert out["settings"]["budget_objective"] == "chi_square"
    assert "alerts" in out["settings"]["rules"]


def test_subject_frame_gives_the_same_lags_and_labels_as_the_panel():
    """Two spells of account a (weeks 0-2, then 0-1 after a comeback; the first ends in
    churn) and account b (weeks 0-3, censored): lags never cross a spell, and the stand-in
    keyed by subject codes taken on a bigger panel (not 0..n-1) gives the same values."""
    from churnlab.hypotheses.design import churn_within, lag_within_spell, subject_codes
    from churnlab.hypotheses.subject_frame import subject_frame

    panel = pd.DataFrame(
        {
            "account_id": ["a", "a", "a", "a", "a", "b", "b", "b", "b"],
            "spell": [1, 1, 1, 2, 2, 1, 1, 1, 1],
            "start": [0, 1, 2, 0, 1, 0, 1, 2, 3],
            "stop": [1, 2, 3, 1, 2, 1, 2, 3, 4],
            "event": [0, 0, 1, 0, 0, 0, 0, 0, 0],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        }
    )
    codes = subject_codes(panel) + 7  # as if taken on one half of a bigger panel
    light = subject_frame(panel, codes)
    assert light["account_id"].tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    lag1 = lag_within_spell(light, panel["x"].to_numpy(), 1)
    assert np.array_equal(lag1, lag_within_spell(panel, "x", 1), equal_nan=True)
    assert np.isnan(lag1[[0, 3, 5]]).all() and lag1[4] == 4.0  # spell 2 starts fresh
    y = churn_within(light, 2)
    assert np.array_equal(y, churn_within(panel, 2), equal_nan=True)
    assert y[[1, 2]].tolist() == [1.0, 1.0] and y[0] == 0.0  # churn in week 2 (stop 3)
    with pytest.raises(ValueError, match="8 subject codes for 9"):
        subject_frame(panel, codes[:8])


def _run_with(project: Path, **hypotheses) -> dict[str, str]:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["hypotheses"].update(hypotheses)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(app, ["hypotheses"])
    assert result.exit_code == 0, result.output
    return _digest(project)


def test_two_workers_write_the_same_bytes_as_one(project):
    # hypotheses fitted in forked workers: every output file byte for byte as in one process
    one = _run_with(project, workers=1)
    assert _run_with(project, workers=2) == one
    assert _run_with(project, workers=3) == one


def test_sampling_auto_below_max_rows_is_the_full_fit(project):
    # the default company's panel is far below max_rows: outputs unchanged by the switch
    full = _run_with(project, sampling={"design": "full"})
    assert _run_with(project, sampling={"design": "auto", "max_rows": 10**9}) == full
    assert "sampling" not in read_json("models/hypotheses.json")["settings"]


def test_case_cohort_design_is_recorded_and_tested_by_robust_wald(project):
    _run_with(project, workers=2, sampling={"design": "case_cohort", "subcohort_fraction": 0.3})
    out = read_json("models/hypotheses.json")
    assert out["settings"]["sampling"]["design"] == "case_cohort"
    assert "robust variance" in out["settings"]["rules"]["sampling"]
    tested = [h for h in out["hypotheses"] if h["lead_profile"]]
    assert tested
    for h in tested:
        assert h["sampling"]["design"] == "case_cohort"
        assert "likelihood-ratio test is not valid" in h["sampling"]["p_value"]
        assert 0 < h["sampling"]["rows_fitted"] < h["sampling"]["rows_in_panel"]
        for lag in h["lead_profile"]:
            if lag["p_value"] is not None:
                assert lag["p_value"] == lag["wald_p_value"]
        assert all(g["problem"].startswith("skipped: case-cohort") for g in h["glm_check"]["per_lag"]
                   if g["coef"] is None and g["problem"])  # fmt: skip
    # the switch in `auto`: a panel above max_rows is sampled the same way
    _run_with(project, workers=1, sampling={"design": "auto", "max_rows": 100,
                                            "subcohort_fraction": 0.3})  # fmt: skip
    again = read_json("models/hypotheses.json")
    assert [h.get("sampling") for h in again["hypotheses"]] == [
        h.get("sampling") for h in out["hypotheses"]
    ]
    assert [h["lead_profile"] for h in again["hypotheses"]] == [
        h["lead_profile"] for h in out["hypotheses"]
    ]
