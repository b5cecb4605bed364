"""The whole pipeline, stage by stage, at several company sizes: CPU, wall and peak RSS.

    python benchmarks/bench_pipeline.py --accounts 2000 5000
    python benchmarks/bench_pipeline.py --accounts 5000 20000 50000 100000 \\
        --workdir /data/scratch --json results.json           # by hand, not in CI
    python benchmarks/bench_pipeline.py --accounts 5000 --stages simulate ingest panel \\
        --set panel.engine=spark --set panel.spark_driver_memory=4g
    python benchmarks/bench_pipeline.py --accounts 50000 --workdir /data/scratch --reuse \\
        --stages hypotheses                 # again on new code, the clone's data kept

Figures measured at 50,000 and 100,000 accounts: benchmarks/RESULTS.md.

For each size it clones the repository's committed state into `<workdir>/acc<N>`, sets
`simulate.n_accounts: N` (plus any `--set key.path=value`, YAML values) in the clone's
params.yaml, then runs each stage's `cmd` from dvc.yaml in DAG order inside the clone (no
DVC: nothing is cached, every stage really runs; the clone's src/ comes first on
PYTHONPATH, so its code runs, not the installed copy's). Per stage it records, from the
operating system's accounting of the finished child (`os.wait4`, whole process tree):
CPU seconds (user + system; the reliable figure on a shared machine), wall seconds and
peak RSS of the largest process. Then events, account-weeks (panel rows) and, across sizes,
how each stage grows with the events: the exponent b in cost ~ events^b (1 = linear).
Prints a table and, with --json, writes every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def stage_commands(root: Path) -> dict[str, str]:
    """Stage name -> cmd, in dvc.yaml order (which is the DAG order here)."""
    doc = yaml.safe_load((root / "dvc.yaml").read_text())
    return {name: spec["cmd"] for name, spec in doc["stages"].items()}


def set_param(params: dict, dotted: str, value: object) -> None:
    node = params
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def prepare(
    scratch: Path, n_accounts: int, overrides: list[tuple[str, object]], reuse: bool = False
) -> None:
    """A fresh clone of the committed repository with the size and overrides in params.yaml.
    `reuse`: an existing clone keeps its data (data/, models/, metrics/ are not tracked) and
    only its tracked files move to the repository's committed HEAD, so later stages can be
    measured again on new code without re-simulating."""
    if reuse and (scratch / ".git").is_dir():
        git = ["git", "-C", str(scratch)]
        subprocess.run([*git, "fetch", "-q", str(REPO), "HEAD"], check=True)
        subprocess.run([*git, "checkout", "-q", "-f", "FETCH_HEAD"], check=True)
    else:
        if scratch.exists():
            subprocess.run(["rm", "-rf", str(scratch)], check=True)
        scratch.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", str(REPO), str(scratch)], check=True)
    params = yaml.safe_load((scratch / "params.yaml").read_text())
    set_param(params, "simulate.n_accounts", n_accounts)
    for key, value in overrides:
        set_param(params, key, value)
    (scratch / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run_stage(cmd: str, cwd: Path, log: Path) -> dict:
    """Run one stage command; its CPU, wall and peak RSS from os.wait4 (the child and every
    descendant it waited for; Linux reports ru_maxrss in KiB)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{cwd / 'src'}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.setdefault("DVC_NO_ANALYTICS", "1")
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, shell=True, cwd=cwd, env=env, stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "exit": proc.returncode,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
    }


def data_sizes(scratch: Path) -> dict:
    """Events (accepted by ingest) and panel rows, from the Parquet footers."""
    import pyarrow.parquet as pq

    sizes = {}
    for key, rel in (
        ("events", "data/interim/events.parquet"),
        ("panel_rows", "data/processed/panel.parquet"),
    ):
        path = scratch / rel
        if path.is_dir():
            sizes[key] = sum(pq.read_metadata(p).num_rows for p in sorted(path.glob("*.parquet")))
        elif path.exists():
            sizes[key] = pq.read_metadata(path).num_rows
    return sizes


def growth(results: list[dict], stage: str, figure: str) -> str:
    """Exponent b of figure ~ events^b between the smallest and largest size."""
    pts = [
        (r["events"], r["stages"][stage][figure])
        for r in results
        if r.get("events") and stage in r["stages"] and r["stages"][stage][figure] > 0
    ]
    if len(pts) < 2 or pts[0][0] == pts[-1][0]:
        return "-"
    (e0, f0), (e1, f1) = pts[0], pts[-1]
    return f"{math.log(f1 / f0) / math.log(e1 / e0):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, nargs="+", default=[2000, 5000])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/churnlab-pipeline"))
    ap.add_argument("--stages", nargs="+", help="stage names (default: every dvc.yaml stage)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    ap.add_argument("--json", type=Path, help="write all figures here")
    ap.add_argument("--keep-going", action="store_true", help="run later stages after a failure")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="keep an existing clone's data, move its code to the committed HEAD (run "
        "--stages hypotheses again after a change without re-simulating)",
    )
    args = ap.parse_args()
    overrides = []
    for item in args.set:
        key, _, value = item.partition("=")
        overrides.append((key, yaml.safe_load(value)))
    commands = stage_commands(REPO)
    stages = args.stages or list(commands)
    unknown = [s for s in stages if s not in commands]
    if unknown:
        ap.error(f"unknown stage(s) {unknown}; dvc.yaml has {list(commands)}")

    results = []
    for n in args.accounts:
        scratch = args.workdir / f"acc{n}"
        prepare(scratch, n, overrides, reuse=args.reuse)
        row: dict = {"accounts": n, "stages": {}}
        for stage in stages:
            log = scratch / f"bench_{stage}.log"
            m = run_stage(commands[stage], scratch, log)
            row["stages"][stage] = m
            print(json.dumps({"accounts": n, "stage": stage, **m}), flush=True)
            if m["exit"] != 0:
                print(f"# {stage} failed (exit {m['exit']}), see {log}", flush=True)
                if not args.keep_going:
                    break
        row.update(data_sizes(scratch))
        results.append(row)

    print()
    print("accounts | events      | panel rows | stage          | CPU s   | wall s  | peak RSS MB")
    for r in results:
        for stage, m in r["stages"].items():
            flag = "" if m["exit"] == 0 else f"  (exit {m['exit']})"
            print(
                f"{r['accounts']:>8,} | {r.get('events', 0):>11,} | {r.get('panel_rows', 0):>10,} | "
                f"{stage:<14} | {m['cpu_s']:>7} | {m['wall_s']:>7} | {m['peak_rss_mb']:>11}{flag}"
            )
        total = r["stages"].values()
        print(
            f"{r['accounts']:>8,} | {'':>11} | {'':>10} | {'TOTAL':<14} | "
            f"{round(sum(m['cpu_s'] for m in total), 1):>7} | "
            f"{round(sum(m['wall_s'] for m in total), 1):>7} | "
            f"{max((m['peak_rss_mb'] for m in total), default=0):>11}"
        )
    if len(results) > 1:
        print("\ngrowth with events (cost ~ events^b): stage | b for CPU | b for peak RSS")
        for stage in stages:
            print(
                f"{stage:<14} | {growth(results, stage, 'cpu_s'):>9} | "
                f"{growth(results, stage, 'peak_rss_mb'):>9}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
