"""A small simulated company shared by the simulate tests (built once per session)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import pandas as pd

from churnlab.simulate.spec import Spec, spec_from_params

BASE_PARAMS = {
    "base": {"seed": 7},
    "simulate": {
        "n_accounts": 750,
        "start_date": "2024-01-01",
        "end_date": "2025-12-31",
        "annual_share": 0.4,
        "segment_mix": {"smb": 0.6, "mid_market": 0.3, "enterprise": 0.1},
        "goal_mix": {"done_for_me": 0.5, "learn_myself": 0.5},
        "trajectory_mix": {"fast": 0.45, "slow_starter": 0.35, "sluggish": 0.20},
        "monthly_churn_target": 0.02,
        "messy": False,
        "messy_rate": 0.01,
        "events_partition_accounts": 500,
    },
}


def make_spec(**overrides) -> Spec:
    params = copy.deepcopy(BASE_PARAMS)
    for key, value in overrides.items():
        if key == "seed":
            params["base"]["seed"] = value
        else:
            params["simulate"][key] = value
    return spec_from_params(params)


def read_raw(raw: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for name in (
        "accounts",
        "contracts",
        "users",
        "tickets",
        "surveys",
        "touchpoints",
        "csm_assignments",
        "milestones",
    ):
        out[name] = pd.read_parquet(raw / f"{name}.parquet")
    out["events"] = pd.read_parquet(raw / "events")
    return out


@cache
def world(tmp_root: str) -> tuple[Path, dict]:
    """Simulate the shared company once into tmp_root; return (raw dir, ground truth)."""
    from churnlab.simulate.stage import simulate_company

    raw = Path(tmp_root) / "raw"
    truth = simulate_company(make_spec(), raw)
    return raw, truth
