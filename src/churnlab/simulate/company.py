"""One block of the simulated company, end to end: latent world -> churn -> raw tables.

`simulate_company_block` is deterministic for (spec, scale, block number): every block draws
from its own SeedSequence child, so the way blocks are grouped into output files never changes
the data. Contract-history extras (history.py) and the foreign vocabulary (vocabulary.py) draw
from streams of their own, so they never change the rest of the company.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from churnlab.simulate import history, tables, vocabulary
from churnlab.simulate.churn import RenewalRisk, churn_counts, churn_day, churn_index, renewal_risk
from churnlab.simulate.contracts import cancel_reasons, contract_rows
from churnlab.simulate.observe import (
    EVENT_TYPES,
    alive_end_day,
    draw_events,
    draw_tickets,
    draw_touchpoints,
)
from churnlab.simulate.spec import CHUNK, Spec
from churnlab.simulate.timegrid import Grid
from churnlab.simulate.world import Block, simulate_block

STREAM_COMPANY, STREAM_PILOT = 0, 1
STREAM_HISTORY, STREAM_VOCABULARY = 3, 4  # (2 is messy.py's fault stream)
PILOT_BLOCKS = 8  # 2,000 accounts to calibrate the hazard scale


def block_rng(seed: int, stream: int, block: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, block)))


def latent_block(
    spec: Spec, grid: Grid, stream: int, number: int
) -> tuple[Block, RenewalRisk, np.random.Generator]:
    rng = block_rng(spec.seed, stream, number)
    first = number * CHUNK
    n = CHUNK if stream == STREAM_PILOT else min(CHUNK, spec.n_accounts - first)
    block = simulate_block(rng, spec, grid, first, n)
    acc = block.accounts
    risk = renewal_risk(
        rng.random(block.renew_day.shape),
        grid,
        block.log_mult,
        block.renew_day,
        acc["signup_day"].to_numpy(),
        acc["annual"].to_numpy(),
        spec.annual_relative_churn,
    )
    return block, risk, rng


def pilot_risks(spec: Spec, grid: Grid) -> list[RenewalRisk]:
    return [latent_block(spec, grid, STREAM_PILOT, b)[1] for b in range(PILOT_BLOCKS)]


@dataclass
class BlockOutput:
    tables: dict[str, pd.DataFrame]  # accounts and contracts only in the snapshot shape
    events: pa.Table | None  # None in the snapshot shape
    churned: np.ndarray  # [monthly, annual]
    months: np.ndarray  # account-months at risk [monthly, annual]
    trajectories: dict[str, int]
    block: Block
    churn_day: np.ndarray
    history: history.History
    kp_event_counts: np.ndarray  # key persons' events by canonical type (EVENT_TYPES order)
    unknown_goals: int


def simulate_company_block(spec: Spec, grid: Grid, scale: float, number: int) -> BlockOutput:
    block, risk, rng = latent_block(spec, grid, STREAM_COMPANY, number)
    k = churn_index(risk, scale)
    cday = churn_day(risk, k)
    alive_end = alive_end_day(grid, cday)
    names = list(block.x)
    churned = np.nonzero(k >= 0)[0]
    cweek = np.clip(cday[churned] // 7, 0, grid.n_weeks - 1)
    on = np.stack([block.x[name][churned, cweek] for name in names], axis=1)
    reasons = np.full(len(k), None, dtype=object)
    reasons[churned] = cancel_reasons(rng, on, names)
    rows = contract_rows(
        rng, grid, block.accounts, block.renew_day, block.seats_after, k, cday, reasons
    )
    n = len(block.accounts)
    hist = history.build_history(
        grid,
        block.accounts,
        block.renew_day,
        rows,
        cday,
        history.draw(block_rng(spec.seed, STREAM_HISTORY, number), n),
        spec.shape,
        spec.midterm_upgrade_share,
        spec.reactivation_share,
    )
    out_tables = {
        "accounts": tables.accounts_table(grid, block),
        "contracts": tables.contracts_table(grid, block, hist.rows),
    }
    events = None
    kp_counts = np.zeros(len(EVENT_TYPES), dtype=np.int64)
    if spec.shape != "snapshot":  # a snapshot export has no activity tables
        ev = draw_events(rng, grid, block, alive_end)
        tk = draw_tickets(rng, grid, block, alive_end)
        tp = draw_touchpoints(rng, grid, block, alive_end)
        uid = tables.user_ids(block)
        out_tables.update(
            {
                "users": tables.users_table(grid, block, uid, alive_end),
                "tickets": tables.tickets_table(grid, block, tk),
                "surveys": tables.surveys_table(grid, block, uid, alive_end),
                "touchpoints": tables.touchpoints_table(grid, block, tp),
                "csm_assignments": tables.csm_table(grid, block, alive_end, cday),
                "milestones": tables.milestones_table(grid, block, alive_end),
            }
        )
        events = tables.events_arrow(grid, block, uid, ev)
        is_kp = block.users["role"].to_numpy()[ev["user"].to_numpy()] == 1
        kp_counts = np.bincount(ev["etype"].to_numpy()[is_kp], minlength=len(EVENT_TYPES))
    unknown = np.zeros(n, dtype=bool)
    if spec.vocabulary == "foreign":
        unknown = (
            block_rng(spec.seed, STREAM_VOCABULARY, number).random(n)
            < vocabulary.UNKNOWN_GOAL_SHARE
        )
        out_tables = {
            name: vocabulary.relabel_table(name, df, unknown if name == "accounts" else None)
            for name, df in out_tables.items()
        }
        events = None if events is None else vocabulary.relabel_events(events)
    counts = churn_counts(risk, grid, k)
    traj = block.accounts["trajectory"].value_counts().to_dict()
    return BlockOutput(
        tables=out_tables,
        events=events,
        churned=counts["churned"],
        months=counts["months"],
        trajectories={str(key): int(v) for key, v in traj.items()},
        block=block,
        churn_day=cday,
        history=hist,
        kp_event_counts=kp_counts,
        unknown_goals=int(unknown.sum()),
    )
