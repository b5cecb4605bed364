"""Building scratch projects that run the real `dvc repro` (used by tests/e2e/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# The small default company; every shape below starts from it.
SMALL = {
    "simulate": {"n_accounts": 600, "start_date": "2024-01-01", "end_date": "2025-06-30"},
    "hypotheses": {"bootstrap_reps": 20},
}


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PATH"] = f"{Path(sys.executable).parent}:{out['PATH']}"
    out["DVC_NO_ANALYTICS"] = "1"
    return out


def run(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, (
        f"{' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc.stdout + proc.stderr


def merge(base: dict, override: dict) -> dict:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def build_pipeline(root: Path, overrides: list[dict], files: dict[str, str] | None = None) -> Path:
    """Copy the tracked project into `root`, apply params overrides and files, `dvc repro`."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for rel in filter(None, tracked):
        src = REPO / rel
        if src.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / rel)
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    for override in overrides:
        merge(params, override)
    (root / "params.yaml").write_text(
        yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    for rel, text in (files or {}).items():
        (root / rel).write_text(text, encoding="utf-8")
    (root / "dvc.lock").unlink(missing_ok=True)
    run(["git", "init", "-q"], root)
    run(["git", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot"], root)
    run(["dvc", "repro"], root)
    return root
