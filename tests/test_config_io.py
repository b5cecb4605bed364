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
