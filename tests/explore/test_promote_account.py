"""Promoting an idea to hypotheses.yaml, and one account's weekly history."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pandas as pd
import pytest
import yaml
from matplotlib.figure import Figure

from churnlab.errors import ConfigError, UserError
from churnlab.explore import (
    account_history,
    append_to_hypotheses,
    plot_account_history,
    reddest_account,
    yaml_entry,
)
from churnlab.hypotheses.spec import load_hypotheses

IDEA = {
    "id": "login_gap", "statement": "Users stop logging in: the account churns.",
    "stage": "adoption", "indicator": "weeks_since_last_login", "direction": "high",
    "threshold": "suggest", "expected_lead_weeks": 4, "action": "Call the admin.",
    "kind": "risk", "lags": [0, 2],
}  # fmt: skip


@pytest.fixture()
def own_file(workspace, tmp_path):
    """The workspace with its hypotheses file copied to tmp (the shared project stays)."""
    path = tmp_path / "hypotheses.yaml"
    path.write_bytes(workspace.hypotheses_file.read_bytes())
    params = {
        **workspace.params,
        "hypotheses": {**workspace.params["hypotheses"], "file": str(path)},
    }
    return replace(workspace, params=params), path


def test_yaml_entry_is_a_list_item_without_bench_fields(workspace):
    text = yaml_entry(IDEA, workspace)
    assert text.startswith("  - id: login_gap\n    statement: ")
    assert "    threshold: suggest\n" in text and "lags" not in text
    (item,) = yaml.safe_load(text)
    assert item == {k: v for k, v in IDEA.items() if k != "lags"}


def test_append_keeps_the_file_and_adds_the_entry_last(own_file):
    ws, path = own_file
    before = path.read_text(encoding="utf-8")
    n = len(load_hypotheses(path, ws.known))
    assert append_to_hypotheses(IDEA, ws) == path
    after = path.read_text(encoding="utf-8")
    assert after.startswith(before)  # the rest of the file is not rewritten
    hyps = load_hypotheses(path, ws.known)
    assert hyps[-1].id == "login_gap" and hyps[-1].threshold is None
    assert len(hyps) == n + 1
    with pytest.raises(
        ConfigError, match=r"hypothesis 'login_gap', field 'id': already in the file"
    ):
        append_to_hypotheses(IDEA, ws)
    assert path.read_text(encoding="utf-8") == after


def test_append_refuses_bad_ideas_and_files_it_cannot_append_to(own_file):
    ws, path = own_file
    before = path.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown indicator id 'nope'"):
        append_to_hypotheses({**IDEA, "indicator": "nope"}, ws)
    with pytest.raises(ConfigError, match=r"field 'action': missing"):
        append_to_hypotheses({k: v for k, v in IDEA.items() if k != "action"}, ws)
    assert path.read_text(encoding="utf-8") == before
    path.write_text(before + "\nnotes: kept after the list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"does not end with the 'hypotheses:' list"):
        append_to_hypotheses(IDEA, ws)


def test_account_history_without_health_score(finished_project, workspace, tmp_path):
    # a models / processed folder with the hypotheses output only (no health score)
    (tmp_path / "models").mkdir()
    (tmp_path / "processed").mkdir()
    shutil.copy(finished_project / "models/hypotheses.json", tmp_path / "models")
    base = {**workspace.params["base"], "models_dir": str(tmp_path / "models"),
            "processed_dir": str(tmp_path / "processed")}  # fmt: skip
    workspace = replace(workspace, params={**workspace.params, "base": base})
    churned = workspace.panel.loc[workspace.panel["event"] == 1, "account_id"].iloc[0]
    h = account_history(churned, workspace)
    rows = workspace.panel[workspace.panel["account_id"] == churned]
    assert len(h) == len(rows)
    assert h["week_start"].tolist() == rows["week_start"].tolist()
    assert h.loc[h["event"] == 1, "events"].str.contains("churn").all()
    assert "score" not in h.columns
    # lamps: the hypotheses that lead churn with a threshold, read at their best lag
    assert any(c.startswith("lamp:") for c in h.columns)


def test_account_history_with_score(scored_project, workspace):
    account = reddest_account(workspace)
    h = account_history(account, workspace)
    scores = pd.read_parquet(scored_project / "data/processed/health_scores.parquet")
    mine = scores[scores["account_id"] == account].sort_values("week_start")
    assert h["score"].tolist() == mine["score"].tolist()
    assert set(h["band"].dropna()) <= {"red", "amber", "green"}
    assert h.columns[:7].tolist() == [
        "account_id", "week_start", "spell", "tenure_weeks", "event", "events", "csm_id",
    ]  # fmt: skip
    first = h["events"].iloc[0]
    assert "contract start" in first or h["tenure_weeks"].iloc[0] > 0
    assert isinstance(plot_account_history(h), Figure)


def test_unknown_account_names_the_closest(workspace):
    some = str(workspace.panel["account_id"].iloc[0])
    with pytest.raises(UserError, match=rf"no account '{some}x' \(did you mean {some}"):
        account_history(some + "x", workspace)
