"""End to end: the real `dvc repro` on a small simulated company (a params override).

Runs the whole DAG once in a scratch copy of the project, then checks that a second
`dvc repro` has nothing to do and that a forced rerun reproduces every output byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

REPO = Path.cwd()
SMALL = {
    "simulate": {"n_accounts": 600, "start_date": "2024-01-01", "end_date": "2025-06-30"},
    "hypotheses": {"bootstrap_reps": 20},
}
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


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def _run(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 0, (
        f"{' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc.stdout + proc.stderr


def _merge(base: dict, override: dict) -> dict:
    for key, value in override.items():
        if isinstance(value, dict):
            _merge(base.setdefault(key, {}), value)
        else:
            base[key] = value
    return base


def _digest(root: Path) -> dict[str, str]:
    out = {}
    for rel in DETERMINISTIC:
        path = root / rel
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            out[str(f.relative_to(root))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("churnlab") / "project"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for rel in filter(None, tracked):
        src = REPO / rel
        if src.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / rel)
    params = yaml.safe_load((root / "params.yaml").read_text())
    (root / "params.yaml").write_text(yaml.safe_dump(_merge(params, SMALL), sort_keys=False))
    for stale in ["dvc.lock"]:
        (root / stale).unlink(missing_ok=True)
    _run(["git", "init", "-q"], root)
    _run(["git", "add", "-A"], root)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot"], root)
    _run(["dvc", "repro"], root)
    return root


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
    out = _run(["dvc", "metrics", "show", "--json"], project)
    assert "ingest.json" in out and "hypotheses.json" in out


def test_second_repro_does_nothing_and_forced_rerun_is_byte_identical(project):
    out = _run(["dvc", "repro"], project)
    assert "Running stage" not in out, out
    before = _digest(project)
    _run(["dvc", "repro", "--force"], project)
    after = _digest(project)
    changed = sorted(k for k in before if before[k] != after.get(k))
    assert not changed, f"outputs differ between identical runs: {changed[:10]}"
    assert set(before) == set(after)
