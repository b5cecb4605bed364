"""A small finished project (simulate -> ingest -> panel -> hypotheses, run in-process on 600
simulated accounts) shared by the bench tests; the stage outputs in it are what the bench must
reproduce. `scored_project` adds the health score (account history with score and band)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def _project(scratch_project):
    proj = scratch_project(
        "explore",
        simulate={"n_accounts": 600},
        hypotheses={"bootstrap_reps": 10, "lags": [0, 4, 8]},
        health_score={"bootstrap_reps": 10},
    )
    shutil.copy(REPO / "dvc.yaml", proj / "dvc.yaml")  # project_root() looks for it
    if (REPO / "indicators.yaml").exists():
        shutil.copy(REPO / "indicators.yaml", proj / "indicators.yaml")
    proj.run("simulate", "ingest", "panel", "hypotheses")
    return proj


@pytest.fixture(scope="session")
def finished_project(_project):
    return _project.root


@pytest.fixture(scope="session")
def scored_project(_project):
    if not (_project / "models/health_score.json").exists():
        _project.run("health")
    return _project.root


@pytest.fixture(scope="session")
def workspace(finished_project):
    from churnlab.explore import open_workspace

    return open_workspace(finished_project)
