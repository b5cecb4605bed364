"""`churnlab panel` end to end on hand-made interim tables: files, meta, metrics, errors."""

import copy
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "indicators"))
from panel_world import full_tables, write_interim  # noqa: E402

from churnlab.cli import app  # noqa: E402
from churnlab.config import load_params  # noqa: E402
from churnlab.errors import ConfigError, UserError  # noqa: E402
from churnlab.indicators.catalog import CATALOG  # noqa: E402
from churnlab.io import write_parquet  # noqa: E402
from churnlab.panel import stage  # noqa: E402

AS_OF = "2024-01-24"  # ingest's as_of: the latest event (Wed Jan 24)
PROJECT_PARAMS = load_params(Path(__file__).resolve().parents[2] / "params.yaml")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A temp project: interim tables without tickets and surveys, params pointing there."""
    monkeypatch.chdir(tmp_path)
    tables = full_tables()
    missing = ["surveys", "tickets"]
    write_interim(
        tmp_path / "data/interim", {k: v for k, v in tables.items() if k not in missing}, AS_OF
    )
    params = copy.deepcopy(PROJECT_PARAMS)
    params["panel"].pop("as_of", None)
    params["panel"]["indicators_file"] = "indicators.yaml"  # absent here: no user indicators
    return tmp_path, params


def test_stage_writes_panel_meta_and_metrics(project):
    root, params = project
    stage.run(params)
    panel = pd.read_parquet(root / "data/processed/panel.parquet")
    meta = json.loads((root / "data/processed/panel_meta.json").read_text())
    metrics = json.loads((root / "metrics/panel.json").read_text())

    # as_of from tables.json (Wed Jan 24) -> weeks Jan 1 .. Jan 22.
    assert meta["as_of"] == "2024-01-24"
    assert meta["as_of_source"] == "base.as_of" and meta["snapshot"] is False
    assert meta["attributes"] == {
        "segment": ["smb"],
        "customer_goal": ["done_for_me"],
        "plan": ["pro"],
        "billing_period": ["monthly"],
        "region": ["jp"],
    }
    assert panel["spell"].tolist() == [1, 1, 1, 1] and panel["region"].tolist() == ["jp"] * 4
    assert {v["source"] for v in meta["indicators"].values()} == {"builtin"}
    assert panel["week_start"].dt.strftime("%m-%d").tolist() == ["01-01", "01-08", "01-15", "01-22"]
    not_testable = {k for k, v in meta["indicators"].items() if not v["testable"]}
    assert not_testable == {
        "tickets_opened",
        "first_response_hours",
        "feature_feedback_tickets",
        "nps_unanswered",
        "nps_last_score",
    }
    assert meta["indicators"]["nps_unanswered"]["reason"] == "missing table(s): surveys"
    assert meta["indicators"]["weekly_active_users"]["reason"] is None
    assert set(meta["indicators"]) == {ind.id for ind in CATALOG}
    for id_ in not_testable:
        assert id_ not in panel.columns
    testable = [ind.id for ind in CATALOG if ind.id not in not_testable]
    assert list(panel.columns[:14]) == [
        "account_id",
        "week_start",
        "spell",
        "start",
        "stop",
        "event",
        "segment",
        "customer_goal",
        "region",
        "plan",
        "billing_period",
        "seats",
        "mrr",
        "tenure_weeks",
    ]
    assert list(panel.columns[14:]) == testable
    assert metrics == {
        "rows": 4,
        "accounts": 1,
        "spells": 1,
        "events": 0,
        "indicators_testable": 25,
        "indicators_not_testable": 5,
        "user_indicators": 0,
    }
    assert meta["n_rows"] == 4 and meta["n_accounts"] == 1 and meta["n_events"] == 0


def test_stage_output_is_byte_identical_on_rerun(project):
    root, params = project
    stage.run(params)
    first = {
        p: (root / p).read_bytes()
        for p in (
            "data/processed/panel.parquet",
            "data/processed/panel_meta.json",
            "metrics/panel.json",
        )
    }
    stage.run(params)
    for path, content in first.items():
        assert (root / path).read_bytes() == content, path


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("engine", "polars", "panel.engine"),
        ("freq", "D", "panel.freq"),
        ("as_of", "2024-12-31", "panel.as_of.*base.as_of"),
        ("trailing_weeks", 0, "panel.trailing_weeks"),
        ("nps_answer_days", -1, "panel.nps_answer_days"),
    ],
)
def test_bad_panel_params_are_config_errors(project, key, value, match):
    _, params = project
    params["panel"][key] = value
    with pytest.raises(ConfigError, match=match):
        stage.run(params)


def test_missing_tables_json_names_the_file(project):
    root, params = project
    (root / "data/interim/tables.json").unlink()
    with pytest.raises(UserError, match="tables.json"):
        stage.run(params)


def test_missing_column_names_file_and_column(project):
    root, params = project
    path = root / "data/interim/events.parquet"
    write_parquet(pd.read_parquet(path).drop(columns="event_type"), path)
    with pytest.raises(UserError, match=r"events\.parquet.*event_type"):
        stage.run(params)


def test_cli_prints_user_error_and_exits_2(project):
    root, params = project
    (root / "data/interim/tables.json").unlink()
    params_path = root / "params.yaml"
    import yaml

    params_path.write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(app, ["panel", "--params", str(params_path)])
    assert result.exit_code == 2
    assert "tables.json" in result.output
