"""`churnlab panel` end to end on hand-made interim tables: files, meta, metrics, errors."""

import copy
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "indicators"))
from panel_world import (  # noqa: E402
    CONTRACT_COLUMNS,
    CONTRACT_DATE_COLUMNS,
    frame,
    full_tables,
    write_interim,
)

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


USER_FILE = """
# user-defined indicators
indicators:
  - id: exports_2w
    label: Data exports (2 weeks)
    from: events
    where: {event_type: [data_export]}
    measure: count
    window_weeks: 2
  - id: ideas_4w
    from: tickets            # absent in this project: listed, not testable
    where: {category: [feature_request]}
    measure: count
  - id: exports_per_user
    ratio_of: [exports_2w, weekly_active_users]
"""


def test_user_indicators_become_columns_and_meta_entries(project):
    root, params = project
    (root / "indicators.yaml").write_text(USER_FILE)
    stage.run(params)
    panel = pd.read_parquet(root / "data/processed/panel.parquet")
    meta = json.loads((root / "data/processed/panel_meta.json").read_text())
    metrics = json.loads((root / "metrics/panel.json").read_text())
    # data_export Tue Jan 9 (week B) -> counted on Jan 15 and Jan 22
    assert panel["exports_2w"].tolist() == [0, 0, 1, 1]
    # / WAU [0, 2, 1, 0] -> 1 on Jan 15, 0 when WAU is 0
    assert panel["exports_per_user"].tolist() == [0, 0, 1, 0]
    assert "ideas_4w" not in panel.columns
    assert list(panel.columns[-2:]) == ["exports_2w", "exports_per_user"]
    assert meta["indicators"]["exports_2w"] == {
        "label": "Data exports (2 weeks)",
        "meaning": "events rows with event_type in [data_export] in the previous 2 weeks",
        "unit": "rows",
        "tables": ["events"],
        "group": "user",
        "source": "user",
        "testable": True,
        "reason": None,
    }
    assert meta["indicators"]["ideas_4w"]["testable"] is False
    assert meta["indicators"]["ideas_4w"]["reason"] == "missing table(s): tickets"
    assert meta["indicators"]["exports_per_user"]["label"] == "exports_per_user"
    assert metrics["user_indicators"] == 3 and metrics["indicators_testable"] == 27


def test_bad_user_indicator_file_names_file_entry_and_field(project):
    root, params = project
    (root / "indicators.yaml").write_text(
        USER_FILE.replace("measure: count\n    window", "measure: sum\n    window")
    )
    with pytest.raises(
        ConfigError, match=r"^indicators\.yaml: indicator 'exports_2w' \(entry 1\): field 'measure'"
    ):
        stage.run(params)


def test_bad_vocabulary_is_a_config_error(project):
    _, params = project
    params["vocabulary"] = {"event_type": {"logins": ["app_open"]}}
    with pytest.raises(ConfigError, match=r"vocabulary\.event_type\.logins"):
        stage.run(params)


def test_snapshot_export_without_events(tmp_path, monkeypatch):
    """accounts + contracts only (a snapshot): every churn dated the export day; the panel
    runs, contract indicators are testable, event-based ones are not."""
    monkeypatch.chdir(tmp_path)
    export = "2024-06-30"
    accounts = frame(
        [
            ("a1", "A", "2023-01-01", "Broadband", None, "North"),
            ("a2", "B", "2023-01-01", "Mobile only", "Save money", None),
        ],
        ["account_id", "name", "signup_date", "segment", "customer_goal", "region"],
        date_cols=["signup_date"],
    )
    contracts = frame(
        [
            ("c1", "a1", "2024-01-03", export, "monthly", None, 40.0, 1, export, None),
            ("c2", "a2", "2024-03-06", None, "annual", None, 30.0, 1, None, None),
        ],
        CONTRACT_COLUMNS,
        date_cols=CONTRACT_DATE_COLUMNS,
    )
    write_interim(
        tmp_path / "data/interim",
        {"accounts": accounts, "contracts": contracts},
        export,
        as_of_source="latest date in the data (contracts.end_date)",
    )
    params = copy.deepcopy(PROJECT_PARAMS)
    params["panel"].pop("as_of", None)
    params["panel"]["indicators_file"] = "indicators.yaml"
    (tmp_path / "indicators.yaml").write_text(USER_FILE)
    stage.run(params)
    panel = pd.read_parquet(tmp_path / "data/processed/panel.parquet")
    meta = json.loads((tmp_path / "data/processed/panel_meta.json").read_text())
    assert meta["snapshot"] is True and meta["as_of"] == export
    assert meta["as_of_source"] == "latest date in the data (contracts.end_date)"
    # a1: Jan 1 .. the week of Sun Jun 30 (Jun 24), churned then; a2: Mar 4 .. Jun 24
    assert panel.groupby("account_id")["event"].sum().to_dict() == {"a1": 1, "a2": 0}
    assert panel.groupby("account_id")["week_start"].max().dt.strftime("%m-%d").tolist() == [
        "06-24",
        "06-24",
    ]
    testable = {k for k, v in meta["indicators"].items() if v["testable"]}
    assert testable == {"weeks_to_renewal", "mrr_change"}
    assert meta["indicators"]["weekly_active_users"]["reason"] == "missing table(s): events"
    assert meta["indicators"]["exports_2w"]["testable"] is False
    assert list(panel.columns[14:]) == ["weeks_to_renewal", "mrr_change"]
    assert meta["attributes"] == {
        "segment": ["Broadband", "Mobile only"],
        "customer_goal": ["Save money"],
        "plan": [],
        "billing_period": ["annual", "monthly"],
        "region": ["North"],
    }
    assert panel["plan"].isna().all()


def test_requested_indicators_compute_only_those_with_the_same_values(project):
    """panel.indicators: a subset gives the same values in those columns (only the blocks
    and event passes they need run); the others stay in the meta, marked not computed."""
    root, params = project
    stage.run(params)
    full = pd.read_parquet(root / "data/processed/panel.parquet")
    wanted = ["weekly_active_users", "weeks_since_last_login", "weeks_to_renewal"]
    params["panel"]["indicators"] = wanted
    stage.run(params)
    part = pd.read_parquet(root / "data/processed/panel.parquet")
    meta = json.loads((root / "data/processed/panel_meta.json").read_text())
    fixed = list(full.columns[:14])
    assert list(part.columns) == [*fixed, *wanted]
    pd.testing.assert_frame_equal(part, full[[*fixed, *wanted]])
    assert meta["indicators"]["active_days"]["testable"] is False
    assert "panel.indicators" in meta["indicators"]["active_days"]["reason"]
    assert meta["indicators"]["nps_unanswered"]["reason"] != stage.NOT_COMPUTED  # no surveys
    assert meta["indicators"]["weekly_active_users"]["testable"] is True


@pytest.mark.parametrize(
    ("value", "match"),
    [("some", r"panel.indicators must be"), (["wau"], r"unknown indicator 'wau'")],
)
def test_bad_requested_indicators_are_config_errors(project, value, match):
    _, params = project
    params["panel"]["indicators"] = value
    with pytest.raises(ConfigError, match=match):
        stage.run(params)


def test_events_block_builds_only_the_passes_its_columns_need():
    """Five usage indicators: one pass over the raw events, no feature-type or MAU steps;
    the full catalog: both passes."""
    from churnlab.indicators.blocks import Settings
    from churnlab.panel.query import panel_steps, select_indicators

    tables = {"accounts", "contracts", "events", "users"}
    five = {"weekly_active_users", "active_days", "data_exports", "usage_wow_change"}
    names = [n for n, _ in panel_steps(select_indicators(tables, (), five), Settings(as_of=AS_OF))]
    assert "ev_uwk" in names and not {"ev_ftype", "ev_mau_iv", "ctr_next"} & set(names)
    every = [n for n, _ in panel_steps(select_indicators(tables), Settings(as_of=AS_OF))]
    assert {"ev_uwk", "ev_ftype", "ev_mau_iv", "ctr_next"} <= set(every)
