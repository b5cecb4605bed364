"""Finding the project root from anywhere inside it, and the missing-input message."""

from pathlib import Path

import pytest

from churnlab.errors import UserError
from churnlab.project import PROJECT_ENV, MissingInputError, project_root, require_input, resolve


def _project(tmp_path: Path) -> Path:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text("base: {}\n")
    (tmp_path / "notebooks").mkdir()
    return tmp_path


def test_root_found_from_a_subfolder(tmp_path, monkeypatch):
    root = _project(tmp_path)
    monkeypatch.delenv(PROJECT_ENV, raising=False)
    assert project_root(root / "notebooks") == root.resolve()
    assert resolve("models/x.json", root) == root / "models/x.json"


def test_env_var_wins_and_is_checked(tmp_path, monkeypatch):
    root = _project(tmp_path)
    monkeypatch.setenv(PROJECT_ENV, str(root))
    assert project_root("/") == root.resolve()
    monkeypatch.setenv(PROJECT_ENV, str(root / "notebooks"))
    with pytest.raises(UserError, match=PROJECT_ENV):
        project_root()


def test_outside_a_project_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(PROJECT_ENV, raising=False)
    with pytest.raises(UserError, match="not inside a churnlab project"):
        project_root(tmp_path)


def test_missing_input_names_the_stage(tmp_path):
    with pytest.raises(MissingInputError, match=r"dvc repro hypotheses"):
        require_input(tmp_path / "models/hypotheses.json", "hypotheses")
    (tmp_path / "x").write_text("")
    assert require_input(tmp_path / "x", "panel") == tmp_path / "x"
