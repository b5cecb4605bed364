"""The committed dvc.lock is reproduced by a fresh clone (issue 16: a new user's `make report`
must leave `git status` clean). Only the simulate stage runs here (about a minute); the whole
pipeline is `python scripts/check_repro.py` by hand (10+ minutes)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_fresh_clone_reproduces_the_committed_raw_data(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    run = subprocess.run(
        [sys.executable, "scripts/check_repro.py", "--until", "simulate", "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
