import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import load_params
from churnlab.errors import ConfigError
from churnlab.io import write_json, write_parquet


def test_load_params_reads_project_params():
    params = load_params("params.yaml")
    assert params["base"]["seed"] == 42
    assert set(params) >= {"simulate", "ingest", "panel", "hypotheses", "health_score", "reports"}


def test_load_params_missing_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_params(tmp_path / "nope.yaml")


def test_write_json_is_sorted_and_nan_safe(tmp_path):
    path = write_json(tmp_path / "m.json", {"b": np.float64("nan"), "a": np.int64(3)})
    text = path.read_text()
    assert text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": 3, "b": None}


def test_write_parquet_is_byte_identical(tmp_path):
    df = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    a = write_parquet(df, tmp_path / "a.parquet").read_bytes()
    b = write_parquet(df.copy(), tmp_path / "b.parquet").read_bytes()
    assert a == b


def test_cli_help_lists_every_stage():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for stage in ["simulate", "ingest", "panel", "kpis", "hypotheses", "health-score", "reports"]:
        assert stage in result.output


def test_cli_reports_config_errors_without_traceback(tmp_path):
    result = CliRunner().invoke(app, ["ingest", "--params", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def _bad_params(tmp_path):
    import yaml

    raw = yaml.safe_load(open("params.yaml", encoding="utf-8"))
    raw["ingest"].update(required_tables="accounts", grace_days=True, encodng="cp932")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_cli_prints_one_line_per_problem_and_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["ingest", "--params", str(_bad_params(tmp_path))])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if "warning:" not in line]
    assert errors == [
        f"churnlab ingest: {tmp_path / 'params.yaml'}: ingest.required_tables = 'accounts': "
        "expected a list of table names, e.g. [accounts, contracts]",
        f"churnlab ingest: {tmp_path / 'params.yaml'}: ingest.grace_days = true: expected a "
        "whole number >= 0 (true/false is not a number)",
    ]


def test_cli_prints_each_warning_once_on_stderr(tmp_path):
    result = CliRunner().invoke(app, ["ingest", "--params", str(_bad_params(tmp_path))])
    warned = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert len(warned) == 1
    assert warned[0].startswith(
        f"churnlab ingest: warning: {tmp_path / 'params.yaml'}: ingest.encodng: unknown key, "
        "ignored (did you mean 'encoding'?) (known: source_timezone, column_map, "
    )
    assert "warning" not in result.stdout


def test_cli_yaml_syntax_error_is_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("base:\n  seed: 42\n ingest: [\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["panel", "--params", str(path)])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"churnlab panel: {path}: line 3, column 2: not valid YAML")
