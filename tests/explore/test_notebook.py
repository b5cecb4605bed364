"""notebooks/explore_hypothesis.ipynb run as JupyterLab runs it (working directory notebooks/),
paired with its percent script, and stopping with the stage's name on a missing input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jupytext
import nbformat
import papermill as pm
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks/explore_hypothesis.ipynb"


def run(project: Path, tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    folder = project / "notebooks"
    folder.mkdir(exist_ok=True)
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(
        str(folder / NOTEBOOK.name), str(out), parameters=parameters, cwd=str(folder),
        kernel_name="churnlab", progress_bar=False,
    )  # fmt: skip
    return nbformat.read(out, as_version=4)


def text_of(nb) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", ""))
            parts.append((o.get("data") or {}).get("text/plain", ""))
    return "\n".join(parts)


def test_script_and_notebook_are_paired_and_the_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    script = jupytext.read(NOTEBOOK.with_suffix(".py"))
    assert [(c.cell_type, c.source) for c in nb.cells] == [
        (c.cell_type, c.source) for c in script.cells
    ]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert code[0].metadata.get("tags") == ["parameters"]


def test_an_existing_hypothesis_shows_the_stages_verdict(scored_project, tmp_path):
    items = yaml.safe_load((scored_project / "hypotheses.yaml").read_text())["hypotheses"]
    idea = next(h for h in items if h["id"] == "low_license_activation")
    stage = json.loads((scored_project / "models/hypotheses.json").read_text())
    rec = next(r for r in stage["hypotheses"] if r["id"] == "low_license_activation")
    nb = run(scored_project, tmp_path, idea=yaml.safe_dump(idea))
    text = text_of(nb)
    assert "low_license_activation: analysed in" in text
    assert rec["verdict_label"] in text
    assert f"{rec['hazard_ratio']:.6f}"[:6] in text  # the headline HR in the verdict table
    # already in hypotheses.yaml: the promote cell says so instead of printing an entry
    assert "already in the file" in text
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 4  # lead profile, trade-off, landmark KM, account history


def test_missing_input_names_the_stage(finished_project, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("params.yaml", "dvc.yaml", "hypotheses.yaml"):
        shutil.copy(finished_project / name, bare / name)
    with pytest.raises(pm.PapermillExecutionError, match=r"dvc repro panel"):
        run(bare, tmp_path)
