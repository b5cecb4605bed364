"""End to end: the real `dvc repro` on a small simulated company (a params override).

Runs the whole DAG once in a scratch copy of the project, then checks that a second
`dvc repro` has nothing to do and that a forced rerun reproduces every output byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pipeline_kit import run

pytestmark = pytest.mark.e2e

# Outputs whose bytes must not change between two runs of the same inputs + params.
DETERMINISTIC = [
    "data/raw",
    "data/interim",
    "data/processed",
    "models",
    "metrics",
    "reports/index.html",
    "reports/html",
    "reports/action_list.csv",
    "reports/opportunity_list.csv",
]


def _digest(root: Path) -> dict[str, str]:
    out = {}
    for rel in DETERMINISTIC:
        path = root / rel
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            out[str(f.relative_to(root))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def project(default_pipeline) -> Path:
    return default_pipeline


def test_every_stage_produced_its_outputs(project):
    for rel in [
        "data/raw/ground_truth.json",
        "data/interim/tables.json",
        "data/processed/panel.parquet",
        "models/kpis.json",
        "models/hypotheses.json",
        "models/health_score.json",
        "reports/action_list.csv",
        "reports/index.html",
    ]:
        assert (project / rel).is_file(), rel
    hyps = json.loads((project / "models/hypotheses.json").read_text())["hypotheses"]
    assert hyps and all("verdict" in h for h in hyps)


def test_index_links_rendered_reports(project):
    index = (project / "reports/index.html").read_text(encoding="utf-8")
    linked = [p for p in (project / "reports/html").glob("*.html") if p.name in index]
    assert len(linked) >= 3
    for page in linked:
        html = page.read_text(encoding="utf-8")
        assert "data:image/png;base64" in html, page.name
        assert '<script src="http' not in html, page.name


def test_metrics_are_shown_by_dvc(project):
    out = run(["dvc", "metrics", "show", "--json"], project)
    assert "ingest.json" in out and "hypotheses.json" in out


def test_second_repro_does_nothing_and_forced_rerun_is_byte_identical(project):
    out = run(["dvc", "repro"], project)
    assert "Running stage" not in out, out
    before = _digest(project)
    run(["dvc", "repro", "--force"], project)
    after = _digest(project)
    changed = sorted(k for k in before if before[k] != after.get(k))
    assert not changed, f"outputs differ between identical runs: {changed[:10]}"
    assert set(before) == set(after)
