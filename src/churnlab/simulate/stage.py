"""`churnlab simulate`: write the simulated company to `base.raw_dir` (CONTRACTS.md §1).

Output: one Parquet file per table, `events/part-NNNNN.parquet` written every
`simulate.events_partition_accounts` accounts, and `ground_truth.json`. Every table is streamed
block by block (250 accounts), so memory is bounded by one partition, not the company.
With `simulate.messy: true` every table is written as CSV with injected faults and a
`_faults.json` inventory (see `messy.py`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from churnlab.config import base_path
from churnlab.io import write_json
from churnlab.simulate.churn import calibrate_scale
from churnlab.simulate.company import pilot_risks, simulate_company_block
from churnlab.simulate.messy import FaultInjector, csv_strings
from churnlab.simulate.sinks import SCHEMAS, Sink, arrow_table, string_table
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
    suffix = ".csv" if spec.messy else ".parquet"
    faults = FaultInjector(spec, grid) if spec.messy else None
    sinks = {
        name: Sink(out_dir / f"{name}{suffix}", SCHEMAS[name], csv=spec.messy)
        for name in TABLES
        if name != "events"
    }
    churned = np.zeros(2)
    months = np.zeros(2)
    trajectories: dict[str, int] = {}
    for part, first_block in enumerate(range(0, n_blocks, per_part)):
        events = Sink(
            out_dir / "events" / f"part-{part:05d}{suffix}", SCHEMAS["events"], spec.messy
        )
        for number in range(first_block, min(first_block + per_part, n_blocks)):
            out = simulate_company_block(spec, grid, scale, number)
            if faults is None:
                events.write(out.events)
                for name, df in out.tables.items():
                    sinks[name].write(arrow_table(name, df))
            else:
                events.write(faults.events(number, out.block, out.events))
                out.tables["touchpoints"] = faults.touchpoints(
                    number, out.block, out.tables["touchpoints"]
                )
                for name, df in out.tables.items():
                    sinks[name].write(string_table(csv_strings(df)))
            churned += out.churned
            months += out.months
            for key, v in out.trajectories.items():
                trajectories[key] = trajectories.get(key, 0) + v
        events.close()
    for sink in sinks.values():
        sink.close()
    if faults is not None:
        write_json(out_dir / "_faults.json", faults.inventory())
    churn = {
        "monthly_logo_churn": float(churned.sum() / max(months.sum(), 1e-9)),
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
