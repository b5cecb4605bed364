"""Benchmark `churnlab simulate`: events per second and peak memory, against a same-run baseline.

    python benchmarks/bench_simulate.py [--accounts 5000 50000] [--workdir /tmp/churnlab-bench-sim]

For each size, in a fresh subprocess (so peak RSS is its own):
- simulate: the full clean-mode company (every table + ground truth) with default params,
- baseline: write the same number of event rows of random data (same 4-column Arrow schema,
  same zstd Parquet, same 2,000-account partitions) with pyarrow only.
Prints wall and CPU seconds (imports excluded), events/second, peak RSS (ru_maxrss of the
child) and the ratios simulate / baseline, so the figures survive a slower or busier machine
(on a shared machine, trust the CPU-time ratio more than wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from churnlab.simulate.spec import spec_from_params
from churnlab.simulate.stage import simulate_company
mode, n_accounts, out, n_events = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
t0 = time.perf_counter()
r0 = resource.getrusage(resource.RUSAGE_SELF)
if mode == "simulate":
    params = yaml.safe_load(Path(sys.argv[5]).read_text())
    params["simulate"]["n_accounts"] = n_accounts
    params["simulate"]["messy"] = False
    simulate_company(spec_from_params(params), out)
    n_events = sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "events").glob("*.parquet"))
else:
    rng = np.random.default_rng(0)
    parts = max(1, n_accounts // 2000)
    per = -(-n_events // parts)
    (out / "events").mkdir(parents=True, exist_ok=True)
    ids = pa.array([f"A{i:06d}" for i in range(n_accounts)])
    users = pa.array([f"U{i:06d}-{j:03d}" for i in range(0, n_accounts, 50) for j in range(20)])
    types = pa.array(["login", "report_view", "search", "data_export"])
    left = n_events
    for p in range(parts):
        n = min(per, left)
        left -= n
        with pq.ParquetWriter(out / "events" / f"part-{p:05d}.parquet", pa.schema([
            ("account_id", pa.string()), ("user_id", pa.string()),
            ("occurred_at", pa.timestamp("us", tz="UTC")), ("event_type", pa.string())]),
            compression="zstd") as w:
            for s in range(0, n, 250_000):
                m = min(250_000, n - s)
                w.write_table(pa.table({
                    "account_id": ids.take(np.sort(rng.integers(0, n_accounts, m))),
                    "user_id": users.take(rng.integers(0, len(users), m)),
                    "occurred_at": pa.array(np.sort(rng.integers(1.67e15, 1.77e15, m)), pa.timestamp("us", tz="UTC")),
                    "event_type": types.take(rng.integers(0, 4, m)),
                }))
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": cpu, "events": n_events}))
"""


def run_child(args: list[str]) -> dict:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    _, status, usage = os.wait4(proc.pid, 0)
    out = json.loads(proc.stdout.read())
    if status != 0:
        raise SystemExit(f"child failed: {args}")
    out["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, nargs="+", default=[5000, 50000])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/churnlab-bench-sim"))
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args()
    rows = []
    for n in args.accounts:
        sim_dir = args.workdir / f"sim-{n}"
        base_dir = args.workdir / f"base-{n}"
        t = time.perf_counter()
        sim = run_child(["simulate", str(n), str(sim_dir), "0", str(args.params.resolve())])
        sim["wall"] = time.perf_counter() - t
        base = run_child(["baseline", str(n), str(base_dir), str(sim["events"])])
        row = {
            "accounts": n,
            "events": sim["events"],
            "simulate_s": round(sim["seconds"], 2),
            "simulate_cpu_s": round(sim["cpu"], 2),
            "simulate_events_per_s": round(sim["events"] / sim["seconds"]),
            "simulate_peak_rss_mb": round(sim["peak_rss_mb"]),
            "baseline_write_s": round(base["seconds"], 2),
            "baseline_cpu_s": round(base["cpu"], 2),
            "baseline_events_per_s": round(sim["events"] / base["seconds"]),
            "baseline_peak_rss_mb": round(base["peak_rss_mb"]),
            "ratio_time_simulate_over_baseline": round(sim["seconds"] / base["seconds"], 2),
            "ratio_cpu_simulate_over_baseline": round(sim["cpu"] / base["cpu"], 2),
            "ratio_rss_simulate_over_baseline": round(sim["peak_rss_mb"] / base["peak_rss_mb"], 2),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({"results": rows}, indent=2))


if __name__ == "__main__":
    main()
