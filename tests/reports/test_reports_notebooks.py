"""The report notebooks as an analyst runs them: opened in notebooks/ (JupyterLab's working
directory), on the hand-made fixture project; their paired scripts; their loaders."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import pytest
import reports_fixture_project as fx

from churnlab.project import PROJECT_ENV, MissingInputError
from churnlab.reports import frames, loaders
from churnlab.reports import markup as m
from churnlab.reports.catalog import NOTEBOOKS, PARTS
from churnlab.reports.loaders import Paths, load

REPORT_NOTEBOOKS = sorted(set(NOTEBOOKS.values()))
NOTEBOOK_DIR = Path("notebooks")


# --- paired scripts, no outputs in git ------------------------------------------------------


@pytest.mark.parametrize("name", REPORT_NOTEBOOKS)
def test_notebook_is_committed_without_outputs_and_matches_its_script(name):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "churnlab"  # the renderer's kernel
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, name
    assert nb.cells[0].metadata.get("tags") == ["parameters"]
    script = jupytext.read(NOTEBOOK_DIR / name.replace(".ipynb", ".py"))
    assert script.metadata["kernelspec"]["name"] == "churnlab"
    assert [(c.cell_type, c.source) for c in script.cells] == [
        (c.cell_type, c.source) for c in nb.cells
    ]
    assert script.cells[0].metadata.get("tags") == ["parameters"]


def test_jupytext_pairs_every_notebook_with_a_percent_script():
    config = Path("jupytext.toml").read_text(encoding="utf-8")
    assert 'formats = "ipynb,py:percent"' in config


# --- loaders: required vs optional, memoised ------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """One finished fixture project for every test of this module (read only)."""
    return fx.write_project(tmp_path_factory.mktemp("nb_project"), segments=("smb",))


def _copy(project: Path, tmp_path: Path) -> Path:
    shutil.copytree(project, tmp_path / "p")
    return tmp_path / "p"


def test_paths_resolve_against_the_project_root_from_notebooks(project, monkeypatch):
    monkeypatch.delenv(PROJECT_ENV, raising=False)
    monkeypatch.chdir(project / "notebooks")
    paths = Paths.in_project("models", "data/processed", "data/interim", "reports")
    assert paths.hypotheses == project.resolve() / "models/hypotheses.json"
    assert paths.ingest_metrics == project.resolve() / "metrics/ingest.json"


@pytest.mark.parametrize(
    ("part", "missing", "stage"),
    [
        ("hypotheses", "models/hypotheses.json", "hypotheses"),
        ("kpis", "models/kpis.json", "kpis"),
        ("health", "data/processed/health_scores.parquet", "health_score"),
        ("actions", "reports/action_list.csv", "health_score"),
        ("panel", "data/processed/panel.parquet", "panel"),
    ],
)
def test_a_missing_required_input_names_the_file_and_the_stage(
    project, tmp_path, part, missing, stage
):
    root = _copy(project, tmp_path)
    (root / missing).unlink()
    paths = Paths.in_project("models", "data/processed", "data/interim", "reports", root=root)
    with pytest.raises(MissingInputError) as err:
        load(paths, {part})
    assert missing.split("/")[-1] in str(err.value)
    assert f"dvc repro {stage}" in str(err.value)


def test_tables_json_may_be_replaced_by_the_older_ingest_metrics(project, tmp_path):
    root = _copy(project, tmp_path)
    (root / "data/interim/tables.json").unlink()
    paths = Paths.in_project("models", "data/processed", "data/interim", "reports", root=root)
    assert load(paths, {"quality"}).tables["rows"]  # metrics/ingest.json
    (root / "metrics/ingest.json").unlink()
    with pytest.raises(MissingInputError, match="dvc repro ingest"):
        load(paths, {"quality"})


def test_missing_optional_inputs_load_empty(project, tmp_path):
    root = _copy(project, tmp_path)
    shutil.rmtree(root / "data/interim/quarantine")
    shutil.rmtree(root / "data/processed/hypothesis_tables")
    (root / "reports/opportunity_list.csv").unlink()
    paths = Paths.in_project("models", "data/processed", "data/interim", "reports", root=root)
    data = load(paths, {"quality", "hypotheses", "actions"})
    assert data.quarantine.empty and data.hypothesis_tables == {} and data.opportunities.empty
    assert len(data.actions) == 2 and data.hypotheses["hypotheses"]


def test_load_is_memoised_until_a_file_changes(project, tmp_path, monkeypatch):
    root = _copy(project, tmp_path)
    paths = Paths.in_project("models", "data/processed", "data/interim", "reports", root=root)
    reads = []
    real = loaders._read
    monkeypatch.setattr(loaders, "_read", lambda p, parts: reads.append(parts) or real(p, parts))
    loaders.clear_cache()
    first = load(paths, set(PARTS["executive_summary"]))
    first.panel.loc[:, "mrr"] = -1.0  # a notebook changing its copy changes nothing cached
    first.kpis["headline"] = None
    second = load(paths, set(PARTS["executive_summary"]))
    assert len(reads) == 1
    assert (second.panel["mrr"] >= 0).all() and second.kpis["headline"]
    kpis = json.loads((root / "models/kpis.json").read_text())
    kpis["headline"]["active_accounts"] = 999
    (root / "models/kpis.json").write_text(json.dumps(kpis) + "\n")  # other size
    assert load(paths, set(PARTS["executive_summary"])).kpis["headline"]["active_accounts"] == 999
    assert len(reads) == 2
    load(paths, {"hypotheses"})  # other parts: read
    assert len(reads) == 3


# --- the notebooks run as JupyterLab runs them --------------------------------------------


def _execute(root: Path, name: str, extra: str = "", **params: str) -> nbformat.NotebookNode:
    """Run notebooks/<name> with the working directory notebooks/ (as JupyterLab does);
    `params` replace parameter values in a cell after the parameters cell (as papermill
    injects them); `extra` is a last cell."""
    from nbclient import NotebookClient

    nb = nbformat.read(root / "notebooks" / name, as_version=4)
    if params:
        text = "\n".join(f"{k} = {v!r}" for k, v in params.items())
        nb.cells.insert(1, nbformat.v4.new_code_cell(text))
    if extra:
        nb.cells.append(nbformat.v4.new_code_cell(extra))
    client = NotebookClient(
        nb,
        kernel_name="churnlab",
        timeout=300,
        startup_timeout=300,
        resources={"metadata": {"path": str(root / "notebooks")}},
    )
    client.execute()
    return nb


def _outputs(nb, mime: str) -> list:
    return [
        o["data"][mime] for c in nb.cells for o in c.get("outputs", []) if mime in o.get("data", {})
    ]


def _html(nb) -> str:
    return "".join(_outputs(nb, "text/html"))


def _stdout(nb) -> str:
    return "".join(
        o.get("text", "")
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


@pytest.fixture(scope="module")
def verdicts_nb(project):
    return _execute(
        project, "hypothesis_verdicts.ipynb", "import json\nprint(json.dumps(list(verdicts.index)))"
    )


def test_verdict_table_lists_exactly_the_hypotheses_of_hypotheses_json(project, verdicts_nb):
    stated = json.loads((project / "models/hypotheses.json").read_text())["hypotheses"]
    shown = json.loads(_stdout(verdicts_nb).strip().splitlines()[-1])
    assert sorted(shown) == sorted(h["id"] for h in stated)
    html = _html(verdicts_nb)
    table = html.split('class="cl-table"')[1].split("</table>")[0]  # the first table: verdicts
    for h in stated:
        assert m.esc(h["statement"]) in table
    h1 = next(h for h in stated if h["id"] == "H1")
    assert f"{h1['hazard_ratio']:.2f} ({h1['ci_low']:.2f}–{h1['ci_high']:.2f})" in table
    assert "Data as of 2025-03-16" in html and "input not available" not in html
    # 3 testable hypotheses x (lead profile + landmark KM) + H1's threshold curve
    assert len(_outputs(verdicts_nb, "image/png")) == 7


def test_figures_are_png_without_metadata(verdicts_nb):
    for png in _outputs(verdicts_nb, "image/png"):
        raw = base64.b64decode(png)
        assert raw.startswith(b"\x89PNG") and b"Software" not in raw and b"matplotlib" not in raw


def test_executive_summary_numbers_equal_kpis_json(project):
    nb = _execute(project, "executive_summary.ipynb")
    kpis = json.loads((project / "models/kpis.json").read_text())
    head = frames.kpi_headline(kpis, frames.kpi_monthly(kpis))
    html = _html(nb)
    cards = html.split('class="kpis"')[1].split("</div></div></div>")[0]
    for value in (
        m.fmt_pct(head["logo_churn"], 2),
        m.fmt_pct(head["grr"]),
        m.fmt_pct(head["nrr"]),
        m.fmt_int(head["active_accounts"]),
    ):
        assert f'<div class="value">{value}</div>' in cards
    assert "2.50 (1.80–3.47)" in html  # H1 among the indicators that lead churn
    assert "No hypothesis passed" not in html
    assert len(_outputs(nb, "image/png")) == 7


def test_group_and_other_notebooks_run_from_notebooks(project):
    nb = _execute(project, "cohort.ipynb", dimension="segment", value="smb")
    html = _html(nb)
    assert "66.7% of these 3 accounts have churned (2)." in html
    assert len(_outputs(nb, "image/png")) == 3
    actions = _html(_execute(project, "action_list.ipynb"))
    assert "&lt;script&gt;" in actions and "<script>alert" not in actions
    quality = _html(_execute(project, "data_quality.ipynb"))
    assert "Examples of quarantined rows" in quality and "&lt;img" in quality


def test_a_missing_input_stops_the_notebook_naming_the_stage(project, tmp_path):
    from nbclient.exceptions import CellExecutionError

    root = _copy(project, tmp_path)
    (root / "models/hypotheses.json").unlink()
    with pytest.raises(CellExecutionError) as err:
        _execute(root, "hypothesis_verdicts.ipynb")
    assert "MissingInputError" in str(err.value)
    assert "hypotheses.json" in str(err.value) and "dvc repro hypotheses" in str(err.value)


def test_executive_summary_set_up_never_runs_without_hypotheses(project, tmp_path, monkeypatch):
    # the same call as the notebook's set-up cell, from notebooks/: no page claiming
    # "No hypothesis passed..." can be made without models/hypotheses.json
    from churnlab.reports.notebook import setup

    root = _copy(project, tmp_path)
    (root / "models/hypotheses.json").unlink()
    monkeypatch.delenv(PROJECT_ENV, raising=False)
    monkeypatch.chdir(root / "notebooks")
    dirs = ("models", "data/processed", "data/interim", "reports", "metrics")
    with pytest.raises(MissingInputError, match="dvc repro hypotheses"):
        setup("en", *dirs, PARTS["executive_summary"])


def test_report_tables_keep_their_look_when_filtered_and_sorted(project):
    from churnlab.reports import pages
    from churnlab.reports.style import to_html

    paths = Paths.in_project("models", "data/processed", "data/interim", "reports", root=project)
    data = load(paths, {"hypotheses"})
    hyps = frames.sort_hypotheses(frames.hypotheses_table(data.hypotheses))
    verdicts = pages.verdict_table(hyps, data, "en")
    assert list(verdicts.index) == list(hyps["id"])
    lag = verdicts["Lag (weeks)"]
    assert pd.api.types.is_numeric_dtype(lag)  # numbers, so an analyst can sort them
    strongest = verdicts.sort_values("Hazard ratio (95% CI)", ascending=False).head(1)
    html = to_html(strongest)
    assert html.count("<tr>") == 2 and "3.10 (2.00–4.80)" in html  # H2: the largest HR
    assert 'class="verdict verdict-too_late"' in html and 'class="cl-table"' in html
    assert to_html(strongest) == html  # the table id is a hash, not a random uuid
