"""A small company through simulate .. health-score writes the same bytes on another machine of
the project's kind (issue 16).

The other machine is emulated where churnlab's pins (churnlab/__init__.py) cannot reach by
setting a variable: numpy and glibc without AVX512 and one CPU instead of all (so OpenBLAS,
Arrow and DuckDB would size their thread pools differently). Measured before the pins: numpy's
AVX512 kernels changed the KM curves, hypothesis tables and health scores; two OpenBLAS threads
instead of one changed the health scores.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PIN_VARIABLES = (
    "NPY_DISABLE_CPU_FEATURES",
    "NPY_ENABLE_CPU_FEATURES",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "ARROW_USER_SIMD_LEVEL",
)
STAGES = ("simulate", "ingest", "panel", "kpis", "hypotheses", "health-score")
SMALL = {
    "simulate": {"n_accounts": 300, "events_partition_accounts": 250},
    "hypotheses": {"bootstrap_reps": 20},
    "health_score": {"bootstrap_reps": 20},
}
OUTPUTS = ("data", "models", "metrics", "reports")
# numpy >= 2.4 AVX512 targets, and glibc's (what a CPU without AVX512 shows both)
NO_AVX512 = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX512DQ,-AVX512BW,-AVX512VL,-AVX512CD",
}


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    for name in ("dvc.yaml", "hypotheses.yaml", "indicators.yaml"):
        shutil.copy(REPO / name, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    for section, values in SMALL.items():
        params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return root


def _pipeline(root: Path, machine: dict[str, str], cpus: set[int] | None) -> dict[str, str]:
    """Run every stage as `python -m churnlab <stage>`; sha256 of every file written."""
    env = {k: v for k, v in os.environ.items() if k not in PIN_VARIABLES}
    env.update(machine)
    for stage in STAGES:
        proc = subprocess.run(
            [sys.executable, "-m", "churnlab", stage],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
        )
        assert proc.returncode == 0, f"{stage}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for top in OUTPUTS
        for p in sorted((root / top).rglob("*"))
        if p.is_file()
    }


@pytest.mark.e2e
def test_small_company_pipeline_is_byte_identical_on_an_older_one_cpu_machine(tmp_path):
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs Linux CPU affinity to emulate a one-CPU machine")
    here = _pipeline(_project(tmp_path / "here"), {}, None)
    one_cpu = {min(os.sched_getaffinity(0))}
    there = _pipeline(_project(tmp_path / "there"), NO_AVX512, one_cpu)
    assert any(k.startswith("models/health_score") for k in here)
    differ = sorted(k for k in here.keys() | there.keys() if here.get(k) != there.get(k))
    assert not differ, f"{len(differ)} of {len(here)} files differ: {differ}"
