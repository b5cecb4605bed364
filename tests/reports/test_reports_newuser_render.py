"""A small foreign-worded project rendered end to end (papermill, fresh kernels): the pages
speak the user's labels, say why a short validation cannot judge the score, and render
byte-identically twice."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import reports_fixture_project as fx
import yaml
from page_diff import page_differences
from test_reports_newuser_v4 import ATTRIBUTE_BILLING, SHORT, VOCABULARY

from churnlab.io import read_json, write_json
from churnlab.reports.__main__ import main as reports_main

PAGES = ("executive_summary", "hypotheses", "action_list")


def _foreign(root: Path) -> Path:
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    params["vocabulary"] = VOCABULARY
    (root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    hyps = read_json(root / "models/hypotheses.json")
    hyps["hypotheses"].append(ATTRIBUTE_BILLING)
    write_json(root / "models/hypotheses.json", hyps)
    health = read_json(root / "models/health_score.json")
    health.update({k: v for k, v in SHORT.items() if k != "as_of"})
    health["validation"] = dict(SHORT["validation"], split_week="2024-12-02")  # 15 weeks
    write_json(root / "models/health_score.json", health)
    actions = pd.read_csv(root / "reports/action_list.csv", dtype=str)
    actions["why"] = "Key-person activity 53% below their 4-week average"
    actions.to_csv(root / "reports/action_list.csv", index=False)
    return root


def _render(root: Path) -> dict[str, bytes]:
    old = Path.cwd()
    os.chdir(root)
    try:
        assert reports_main(["render", *PAGES]) == 0
    finally:
        os.chdir(old)
    return {p: (root / f"reports/html/{p}.html").read_bytes() for p in PAGES}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = _foreign(fx.write_project(tmp_path_factory.mktemp("foreign"), segments=(), goals=()))
    return root, _render(root)


def test_pages_speak_the_users_labels(rendered):
    _, pages = rendered
    hyp = pages["hypotheses"].decode()
    assert "Weeks since last Sign in" in hyp and "last login" not in hyp
    assert "billing_period in [Month-to-month]" in hyp and "[monthly]" not in hyp
    summary = pages["executive_summary"].decode()
    assert "Month-to-month" in summary  # the KM curve's legend is an image; the label text
    assert "shorter than one yearly billing term (52 weeks)" in summary
    assert "cannot be told apart from chance" in summary
    assert "Champion activity 53% below" in pages["action_list"].decode()


def test_rerender_is_byte_identical(rendered):
    root, before = rendered
    again = _render(root)
    assert again == before, page_differences(again, before)
