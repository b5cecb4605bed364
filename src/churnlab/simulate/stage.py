"""`churnlab simulate`: write the simulated company to `base.raw_dir` (CONTRACTS.md §1).

Output: one Parquet file per table, `events/part-NNNNN.parquet` written every
`simulate.events_partition_accounts` accounts (bounded memory), and `ground_truth.json`.
With `simulate.messy: true` every table is written as CSV with injected faults and a
`_faults.json` inventory (see `messy.py`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churnlab.config import base_path
from churnlab.io import write_json, write_parquet
from churnlab.simulate.churn import calibrate_scale
from churnlab.simulate.company import pilot_risks, simulate_company_block
from churnlab.simulate.messy import FaultInjector, csv_strings, write_csv
from churnlab.simulate.spec import CHUNK, Spec, spec_from_params
from churnlab.simulate.timegrid import make_grid
from churnlab.simulate.truth import ground_truth

TABLES = (
    "accounts",
    "contracts",
    "users",
    "events",
    "tickets",
    "surveys",
    "touchpoints",
    "csm_assignments",
    "milestones",
)


def run(params: dict[str, Any]) -> None:
    spec = spec_from_params(params)
    simulate_company(spec, base_path(params, "raw_dir"))


def clear_outputs(out_dir: Path) -> None:
    """Remove what a previous simulation wrote (both formats), nothing else."""
    for name in TABLES:
        for suffix in (".parquet", ".csv"):
            (out_dir / f"{name}{suffix}").unlink(missing_ok=True)
        if (out_dir / name).is_dir():
            shutil.rmtree(out_dir / name)
    for name in ("ground_truth.json", "_faults.json"):
        (out_dir / name).unlink(missing_ok=True)


def simulate_company(spec: Spec, out_dir: Path) -> dict[str, Any]:
    """Simulate, write every table and ground_truth.json; return the ground truth."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clear_outputs(out_dir)
    grid = make_grid(spec)
    scale = calibrate_scale(pilot_risks(spec, grid), grid, spec.monthly_churn_target)
    n_blocks = -(-spec.n_accounts // CHUNK)
    per_part = spec.events_partition_accounts // CHUNK
    small: dict[str, list[pd.DataFrame]] = {}
    churned = np.zeros(2)
    months = np.zeros(2)
    trajectories: dict[str, int] = {}
    faults = None
    if spec.messy:
        faults = FaultInjector(spec, grid)
    for part, first_block in enumerate(range(0, n_blocks, per_part)):
        part_events = []
        for number in range(first_block, min(first_block + per_part, n_blocks)):
            out = simulate_company_block(spec, grid, scale, number)
            if faults is None:
                part_events.append(out.events)
            else:
                part_events.append(faults.events(number, out.block, out.events))
                out.tables["touchpoints"] = faults.touchpoints(
                    number, out.block, out.tables["touchpoints"]
                )
            for name, df in out.tables.items():
                small.setdefault(name, []).append(df)
            churned += out.churned
            months += out.months
            for key, v in out.trajectories.items():
                trajectories[key] = trajectories.get(key, 0) + v
        events = pa.concat_tables(part_events)
        if faults is None:
            # Written with pyarrow directly (same settings as io.write_parquet): millions of
            # rows never become Python objects.
            path = out_dir / "events" / f"part-{part:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(events, path, compression="zstd")
        else:
            write_csv(events, out_dir / "events" / f"part-{part:05d}.csv")
    merged = {name: pd.concat(frames, ignore_index=True) for name, frames in small.items()}
    for name, df in merged.items():
        if faults is None:
            write_parquet(df, out_dir / f"{name}.parquet")
        else:
            write_csv(csv_strings(df), out_dir / f"{name}.csv")
    if faults is not None:
        write_json(out_dir / "_faults.json", faults.inventory())
    rates = months.sum() and churned.sum() / months.sum()
    churn = {
        "monthly_logo_churn": float(rates),
        "by_billing_period": {
            "monthly": float(churned[0] / max(months[0], 1e-9)),
            "annual": float(churned[1] / max(months[1], 1e-9)),
        },
        "churned_accounts": {"monthly": int(churned[0]), "annual": int(churned[1])},
        "account_months_at_risk": {"monthly": float(months[0]), "annual": float(months[1])},
        "target": spec.monthly_churn_target,
        "hazard_scale": scale,
    }
    # Accounts that pre-exist start_date come with their full history, so data begin earlier.
    window = {"start": grid.origin.date().isoformat(), "end": spec.end.date().isoformat()}
    truth = ground_truth(spec, churn, trajectories, window)
    write_json(out_dir / "ground_truth.json", truth)
    return truth
