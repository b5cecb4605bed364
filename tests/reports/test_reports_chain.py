"""The real chain (simulate -> ... -> health-score) on a small company, then the reports.

Checks that what the pages say matches models/*.json as the other stages wrote them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.reports import frames
from churnlab.reports import markup as m

pytestmark = pytest.mark.e2e

SMALL = {
    "simulate": {"n_accounts": 250, "start_date": "2024-01-01", "end_date": "2025-03-31"},
    "hypotheses": {"bootstrap_reps": 10},
    "health_score": {"bootstrap_reps": 10},
    "reports": {"segments": ["smb"], "customer_goals": [], "workers": 2},
}
STAGES = ["simulate", "ingest", "panel", "kpis", "hypotheses", "health-score", "reports"]


def _merge(base: dict, override: dict) -> dict:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("chain")
    params = _merge(yaml.safe_load(Path("params.yaml").read_text(encoding="utf-8")), SMALL)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    shutil.copy("hypotheses.yaml", root / "hypotheses.yaml")
    shutil.copytree(
        "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    old = Path.cwd()
    os.chdir(root)
    try:
        runner = CliRunner()
        for stage in STAGES:
            result = runner.invoke(app, [stage])
            assert result.exit_code == 0, f"churnlab {stage}: {result.output}\n{result.exception!r}"
    finally:
        os.chdir(old)
    return root


def _text(path: Path) -> str:
    """Page text without tags (numbers as a reader sees them)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))


def test_every_configured_page_exists(chain):
    html = chain / "reports/html"
    names = sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html"))
    assert names == [
        "action_list.html",
        "data_quality.html",
        "executive_summary.html",
        "groups/segment_smb.html",
        "hypotheses.html",
    ]


def test_headline_red_band_and_as_of_are_consistent(chain):
    kpis = json.loads((chain / "models/kpis.json").read_text())
    health = json.loads((chain / "models/health_score.json").read_text())
    page = _text(chain / "reports/html/executive_summary.html")
    as_of = kpis.get("as_of") or kpis["headline"]["as_of"]
    assert f"Data as of {as_of}" in page
    red = health["latest_week"]["by_band"]["red"]
    assert red <= kpis["headline"]["active_accounts_now"]


def test_hypothesis_numbers_match_hypotheses_json(chain):
    hyp = json.loads((chain / "models/hypotheses.json").read_text())
    page = _text(chain / "reports/html/hypotheses.html")
    table = frames.hypotheses_table(hyp)
    assert len(table) >= 5
    for _, row in table.iterrows():
        assert m.esc(row["statement"]).replace("&#x27;", "'") in page or row["statement"] in page
        if row["hazard_ratio"] is not None and row["hazard_ratio"] == row["hazard_ratio"]:
            assert m.fmt_hr(row["hazard_ratio"], row["ci_low"], row["ci_high"]) in page, row["id"]


def test_executive_numbers_match_kpis_and_health_json(chain):
    kpis = json.loads((chain / "models/kpis.json").read_text())
    health = json.loads((chain / "models/health_score.json").read_text())
    page = _text(chain / "reports/html/executive_summary.html")
    head = kpis["headline"]
    assert m.fmt_pct(head["monthly_logo_churn"], 2) in page
    if head.get("nrr_12m") is not None:
        assert m.fmt_pct(head["nrr_12m"]) in page
    assert m.fmt_int(head["active_accounts_now"]) in page
    conc = health["validation"].get("concordance")
    if isinstance(conc, dict):
        assert m.fmt_num(conc["score"]["estimate"], 3) in page


def test_action_list_rows_and_index_summary(chain):
    import pandas as pd

    actions = pd.read_csv(chain / "reports/action_list.csv", dtype=str)
    page = (chain / "reports/html/action_list.html").read_text(encoding="utf-8")
    listed = actions[actions["listed"] == "yes"]  # the weekly list; the rest stays in the CSV
    for name in listed["account_name"].dropna().head(20):
        assert m.esc(name) in page or name in page
    lit = m.fmt_int(actions["account_id"].nunique())
    assert f"{lit} accounts have a lamp lit" in _text(chain / "reports/html/action_list.html")
    index = _text(chain / "reports/index.html")
    assert f"{m.fmt_int(len(listed))} accounts on this week" in index  # ' is escaped
    assert f"of {lit} with a lamp lit), for" in index
    kpis = json.loads((chain / "models/kpis.json").read_text())
    # the index line and the executive summary's cards show the same pooled figure
    assert f"Monthly logo churn {m.fmt_pct(kpis['headline']['monthly_logo_churn'], 2)}" in index
    hyp = json.loads((chain / "models/hypotheses.json").read_text())["hypotheses"]
    n_lead = sum(h["verdict"] == "leads churn" for h in hyp)
    assert f"{n_lead} of {len(hyp)} hypotheses lead churn" in index
