"""Shared fixtures: scratch projects for the tests that run real stages on a small simulated
company (written once here instead of in every stage's e2e test)."""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from churnlab.config import load_params

REPO = Path(__file__).resolve().parents[1]


class ScratchProject:
    """A directory with the repo's params.yaml (some keys overridden) and hypotheses.yaml,
    in which stages run exactly as `churnlab <stage>` runs them in the project root."""

    def __init__(self, root: Path):
        self.root = root

    def run(self, *stages: str) -> dict:
        """Run the named stages (simulate, ingest, panel, kpis, hypotheses, health) in order
        with the project as working directory; returns the params they read."""
        old = Path.cwd()
        os.chdir(self.root)
        try:
            params = load_params("params.yaml")
            for name in stages:
                importlib.import_module(f"churnlab.{name}.stage").run(params)
        finally:
            os.chdir(old)
        return params

    def __truediv__(self, other: str) -> Path:
        return self.root / other


@pytest.fixture(scope="session")
def scratch_project(tmp_path_factory) -> Callable[..., ScratchProject]:
    """make(name, simulate={"n_accounts": 400}, ...) -> ScratchProject; each keyword updates
    that params.yaml section."""

    def make(name: str, **sections: dict) -> ScratchProject:
        root = tmp_path_factory.mktemp(name)
        params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
        for section, values in sections.items():
            params[section].update(values)
        (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
        shutil.copy(REPO / "hypotheses.yaml", root / "hypotheses.yaml")
        return ScratchProject(root)

    return make
