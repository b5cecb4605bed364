#!/usr/bin/env python3
"""Does a fresh clone reproduce the committed outputs byte for byte? (issue 16)

Clones the committed state of the repository into a scratch folder, runs the pipeline's stages
there with `dvc repro --single-item` (one by one, timed, no run cache), then compares every
output hash of those stages in the fresh dvc.lock with the committed dvc.lock. Exit 0 if all
match, 1 if any differs (each one named, with the files inside a directory output that differ
when the committed directory listing is in a DVC cache we can read), 2 on a usage error.

    python scripts/check_repro.py                      # every stage (~10+ min, default company)
    python scripts/check_repro.py --until ingest       # simulate + ingest only (CI-sized)
    python scripts/check_repro.py --until ingest --reference-cache .dvc/cache

The run uses the Python environment this script runs in (its bin/ on PATH) and the clone's own
source (PYTHONPATH), with churnlab's numeric pins (churnlab/__init__.py) as a new user gets
them: variables that would override them are removed from the environment first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

# Variables churnlab/__init__.py pins; a developer's own setting would hide what a new user gets.
PIN_VARIABLES = (
    "NPY_DISABLE_CPU_FEATURES",
    "NPY_ENABLE_CPU_FEATURES",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "ARROW_USER_SIMD_LEVEL",
)
ENVIRONMENT_REPORT = """
import json, churnlab, numpy, threadpoolctl
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
blas = [
    {k: i.get(k) for k in ("internal_api", "architecture", "num_threads", "version")}
    for i in threadpoolctl.threadpool_info()
]
print(json.dumps({
    "numpy": numpy.__version__,
    "numpy_simd_in_use": [n for n in __cpu_dispatch__ if __cpu_features__.get(n)],
    "blas": blas,
}))
"""


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"check_repro: `{' '.join(args)}` failed in {cwd}")
    return proc.stdout


def stage_outs(lock: dict, stages: list[str]) -> dict[str, str]:
    """{output path: md5} of the named stages in a parsed dvc.lock."""
    out = {}
    for name in stages:
        for item in lock.get("stages", {}).get(name, {}).get("outs", []):
            out[item["path"]] = item.get("md5", "")
    return out


def dir_listing(cache: Path | None, md5: str) -> dict[str, str] | None:
    """{relpath: md5} of a directory output from its `.dir` listing in a DVC cache, if there."""
    if cache is None or not md5.endswith(".dir"):
        return None
    path = cache / "files" / "md5" / md5[:2] / md5[2:]
    if not path.is_file():
        return None
    return {e["relpath"]: e["md5"] for e in json.loads(path.read_text(encoding="utf-8"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--until", help="last stage to run (dvc.yaml order); default: all")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temp folder)")
    parser.add_argument(
        "--reference-cache",
        type=Path,
        help="a DVC cache holding the committed outputs (e.g. the repo's .dvc/cache), to name "
        "the files that differ inside a directory output",
    )
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="check_repro_"))
    clone = workdir / "clone"
    if clone.exists():
        parser.error(f"{clone} exists; give an empty --workdir")
        return 2
    env = {k: v for k, v in os.environ.items() if k not in PIN_VARIABLES}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    run(["git", "clone", "-q", str(args.repo.resolve()), str(clone)], workdir, env)
    env["PYTHONPATH"] = str(clone / "src")

    stages = list(yaml.safe_load((clone / "dvc.yaml").read_text(encoding="utf-8"))["stages"])
    if args.until:
        if args.until not in stages:
            parser.error(f"--until {args.until}: not a stage of dvc.yaml ({', '.join(stages)})")
        stages = stages[: stages.index(args.until) + 1]
    committed = yaml.safe_load((clone / "dvc.lock").read_text(encoding="utf-8"))

    print(f"check_repro: fresh clone of {args.repo} at {clone}")
    print("numerics:", run([sys.executable, "-c", ENVIRONMENT_REPORT], clone, env).strip())
    timings = {}
    for name in stages:
        start = time.perf_counter()
        run(["dvc", "repro", "--single-item", "--no-run-cache", name], clone, env)
        timings[name] = time.perf_counter() - start
        print(f"  {name:<14} {timings[name]:7.1f} s")
    print(f"  {'total':<14} {sum(timings.values()):7.1f} s")

    fresh = yaml.safe_load((clone / "dvc.lock").read_text(encoding="utf-8"))
    want, got = stage_outs(committed, stages), stage_outs(fresh, stages)
    differ = sorted(p for p in want.keys() | got.keys() if want.get(p) != got.get(p))
    cache = args.reference_cache.resolve() if args.reference_cache else None
    for path in differ:
        print(f"DIFFERS {path}: committed {want.get(path)} fresh {got.get(path)}")
        old, new = (
            dir_listing(cache, want.get(path, "")),
            dir_listing(clone / ".dvc" / "cache", got.get(path, "")),
        )
        if old is not None and new is not None:
            for rel in sorted(old.keys() | new.keys()):
                if old.get(rel) != new.get(rel):
                    print(f"    {rel}")
    code_changed = [
        name
        for name in stages
        if committed.get("stages", {}).get(name, {}).get("deps")
        != fresh.get("stages", {}).get(name, {}).get("deps")
    ]
    if code_changed:
        print(
            "note: inputs (code, params or upstream data) differ from the committed dvc.lock for "
            f"{', '.join(code_changed)}: run `dvc repro` and commit dvc.lock"
        )
    if differ:
        print(
            f"check_repro: {len(differ)} of {len(want)} outputs differ from the committed dvc.lock"
        )
        return 1
    print(
        f"check_repro: all {len(want)} outputs of {len(stages)} stages match the committed dvc.lock"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
