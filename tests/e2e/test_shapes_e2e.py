"""End to end on data in other words and other shapes (issues 12 and 13): the real `dvc repro`.

- foreign words: the same company as the default e2e run, written in another company's
  labels and read back through `vocabulary:` + indicators.yaml + hypotheses.yaml edits only,
  must reach the same verdicts, and its reports must carry its own labels;
- snapshot export: accounts + contracts as of one day (every churn dated that day) runs
  with `ingest.required_tables: [accounts, contracts]` only, and its numbers make sense.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e


def _hyps(root: Path) -> dict[str, dict]:
    doc = json.loads((root / "models/hypotheses.json").read_text(encoding="utf-8"))
    return {h["id"]: h for h in doc["hypotheses"]}


def _json(root: Path, rel: str) -> dict:
    return json.loads((root / rel).read_text(encoding="utf-8"))


# ---- foreign words ------------------------------------------------------------------------


def test_foreign_words_reach_the_default_verdicts(default_pipeline, foreign_pipeline):
    default, foreign = _hyps(default_pipeline), _hyps(foreign_pipeline)
    assert set(default) <= set(foreign)
    for hid, want in default.items():
        got = foreign[hid]
        assert got["verdict"] == want["verdict"], hid
        assert got["best_lag_weeks"] == want["best_lag_weeks"], hid
        if want["hazard_ratio"] is not None:
            assert got["hazard_ratio"] == pytest.approx(want["hazard_ratio"], rel=1e-9), hid


def test_user_defined_champion_indicator_equals_the_builtin_key_person_one(foreign_pipeline):
    panel = pd.read_parquet(
        foreign_pipeline / "data/processed/panel.parquet",
        columns=["champion_activity_change", "key_person_activity_change"],
    )
    assert panel["champion_activity_change"].to_numpy() == pytest.approx(
        panel["key_person_activity_change"].to_numpy(), abs=1e-12
    )
    hyps = _hyps(foreign_pipeline)
    user, builtin = hyps["champion_usage_drop"], hyps["key_person_usage_drop"]
    assert user["verdict"] == builtin["verdict"]
    assert user["threshold"] == pytest.approx(builtin["threshold"])
    meta = _json(foreign_pipeline, "data/processed/panel_meta.json")["indicators"]
    assert meta["champion_activity_change"]["source"] == "user"
    assert meta["csv_downloads_4w"]["testable"] is True


def test_foreign_labels_are_accepted_and_title_their_own_pages(foreign_pipeline):
    tables = _json(foreign_pipeline, "data/interim/tables.json")
    assert tables["rows"]["accounts"]["quarantined"] == 0
    assert tables["rows"]["contracts"]["quarantined"] == 0
    assert _hyps(foreign_pipeline)["startups_churn_more"]["verdict"] != "not testable"
    pages = {
        p.name: p.read_text(encoding="utf-8")
        for p in (foreign_pipeline / "reports/html/groups").glob("*.html")
    }
    titles = " ".join(pages.values())
    for label in ("Startup", "Scale-up", "Public sector", "Automate reporting"):
        assert html.escape(label) in titles, label
    assert not any(name.startswith(("segment_smb", "segment_enterprise")) for name in pages)
    index = (foreign_pipeline / "reports/index.html").read_text(encoding="utf-8")
    assert "Public sector" in index
    hyp_page = (foreign_pipeline / "reports/html/hypotheses.html").read_text(encoding="utf-8")
    assert "Champion" in hyp_page


# ---- snapshot export ----------------------------------------------------------------------


def test_snapshot_is_read_as_a_snapshot(snapshot_pipeline):
    tables = _json(snapshot_pipeline, "data/interim/tables.json")
    assert tables["snapshot"] is True
    assert tables["present"] == ["accounts", "contracts"]
    assert "single_churn_date" in {w["code"] for w in tables["warnings"]}
    truth = _json(snapshot_pipeline, "data/raw/ground_truth.json")
    kpis = _json(snapshot_pipeline, "models/kpis.json")["headline"]
    # Every account appears once (its latest spell); churned = the simulator's churners.
    assert kpis["accounts_churned"] == len(truth["history"]["churn_dates"])
    assert kpis["as_of"] == truth["data_window"]["end"]


def test_snapshot_curves_are_not_left_truncated(snapshot_pipeline):
    km = pd.read_parquet(snapshot_pipeline / "data/processed/kpi_tables/km_curves.parquet")
    by_period = km[km["by"] == "billing_period"]
    # Annual customers churn too (the old default truncated everyone at the one churn date).
    assert by_period.loc[by_period["group"] == "annual", "survival"].min() < 1.0
    assert by_period.loc[by_period["group"] == "monthly", "survival"].min() < 1.0


def test_snapshot_hypotheses_are_not_testable_except_attributes(snapshot_pipeline):
    hyps = _hyps(snapshot_pipeline)
    meta = _json(snapshot_pipeline, "data/processed/panel_meta.json")["indicators"]
    for hid, h in hyps.items():
        if h.get("attribute"):
            assert h["verdict"] not in ("not testable",), hid
        elif "events" in meta.get(h["indicator"], {}).get("tables", ["events"]):
            assert h["verdict"] == "not testable", hid


def test_snapshot_health_and_summary_make_sense(snapshot_pipeline):
    latest = _json(snapshot_pipeline, "models/health_score.json")["latest_week"]
    assert latest["by_band"].get("red", 0) <= latest["accounts"]
    assert sum(latest["by_band"].values()) == latest["accounts"]
    summary = (snapshot_pipeline / "reports/html/executive_summary.html").read_text(
        encoding="utf-8"
    )
    assert "snapshot" in summary.lower()
