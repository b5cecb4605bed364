"""`churnlab simulate`: write the simulated company to `base.raw_dir` (CONTRACTS.md §1).

Output: one Parquet file per table, `events/part-NNNNN.parquet` written every
`simulate.events_partition_accounts` accounts, and `ground_truth.json`. Every table is streamed
block by block (250 accounts), so memory is bounded by one partition, not the company.
With `simulate.messy: true` every table is written as CSV with injected faults and a
`_faults.json` inventory (see `messy.py`). `simulate.shape: snapshot` writes accounts and
contracts only; `simulate.vocabulary: foreign` adds `vocabulary.yaml` (the params block that
maps the foreign labels back; see vocabulary.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from churnlab.config import base_path
from churnlab.errors import UserError
from churnlab.io import write_json
from churnlab.progress import progress
from churnlab.simulate import history, tables, vocabulary
from churnlab.simulate.churn import calibrate_scale
from churnlab.simulate.company import pilot_risks, simulate_company_block
from churnlab.simulate.messy import FaultInjector, csv_strings
from churnlab.simulate.observe import EVENT_TYPES
from churnlab.simulate.sinks import SCHEMAS, Sink, arrow_table, string_table
from churnlab.simulate.spec import CHUNK, Spec, spec_from_params
from churnlab.simulate.timegrid import Grid, make_grid
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
    for name in ("ground_truth.json", "_faults.json", "vocabulary.yaml"):
        (out_dir / name).unlink(missing_ok=True)


def refuse_own_data(out_dir: Path) -> None:
    """Raise UserError if `out_dir` holds table files the simulator did not write.

    The simulator's files come with its `ground_truth.json`; table files without it are a
    user's own export (README: bring your own data), which a forgotten `simulate` stage in
    dvc.yaml would otherwise delete. dvc.yaml marks data/raw `persist: true` so that DVC
    itself leaves the folder to this check.
    """
    if (out_dir / "ground_truth.json").exists():
        return
    own = sorted(
        p.name
        for name in TABLES
        for p in (out_dir / f"{name}.parquet", out_dir / f"{name}.csv", out_dir / name)
        if p.exists()
    )
    if own:
        raise UserError(
            f"{out_dir}: holds files the simulator did not write ({', '.join(own)}): your own "
            "export is never overwritten - remove the `simulate` stage from dvc.yaml to analyse "
            "it (README: Bring your own data), or move the files away to simulate"
        )


def simulate_company(spec: Spec, out_dir: Path) -> dict[str, Any]:
    """Simulate, write every table and ground_truth.json; return the ground truth.

    Raises:
        UserError: `out_dir` holds a user's own export (see `refuse_own_data`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    refuse_own_data(out_dir)
    clear_outputs(out_dir)
    grid = make_grid(spec)
    scale = calibrate_scale(pilot_risks(spec, grid), grid, spec.monthly_churn_target)
    n_blocks = -(-spec.n_accounts // CHUNK)
    per_part = spec.events_partition_accounts // CHUNK
    suffix = ".csv" if spec.messy else ".parquet"
    faults = FaultInjector(spec, grid) if spec.messy else None
    snapshot = spec.shape == "snapshot"
    sinks = {
        name: Sink(out_dir / f"{name}{suffix}", SCHEMAS[name], csv=spec.messy)
        for name in (("accounts", "contracts") if snapshot else TABLES)
        if name != "events"
    }
    churned = np.zeros(2)
    months = np.zeros(2)
    trajectories: dict[str, int] = {}
    record = HistoryRecord(grid)
    for part, first_block in enumerate(range(0, n_blocks, per_part)):
        events = (
            None
            if snapshot
            else Sink(
                out_dir / "events" / f"part-{part:05d}{suffix}", SCHEMAS["events"], spec.messy
            )
        )
        blocks = range(first_block, min(first_block + per_part, n_blocks))
        for number in progress(blocks, desc=f"simulate part {part + 1}", unit="block"):
            out = simulate_company_block(spec, grid, scale, number)
            if faults is None:
                if events is not None:
                    events.write(out.events)
                for name, df in out.tables.items():
                    sinks[name].write(arrow_table(name, df))
            else:
                if events is not None:
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
            record.add(out)
        if events is not None:
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
    truth["vocabulary"] = record.vocabulary_truth(spec)
    truth["history"] = record.history_truth(spec)
    write_json(out_dir / "ground_truth.json", truth)
    if spec.vocabulary == "foreign":
        text = yaml.safe_dump(
            vocabulary.vocabulary_params(spec.vocabulary),
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=None,
        )
        (out_dir / "vocabulary.yaml").write_text(
            "# simulate.vocabulary: foreign -- paste into params.yaml (meaning -> [labels])\n"
            + text,
            encoding="utf-8",
        )
    return truth


class HistoryRecord:
    """Collects, block by block, the simulator's own record of contract histories (from its
    pieces and spells, never from the written rows) and the key persons' event mix."""

    def __init__(self, grid: Grid):
        self.grid = grid
        self.months = {k: 0.0 for k in history.MONTH_FIELDS}
        self.churn_dates: dict[str, str] = {}
        self.reactivation_dates: dict[str, str] = {}
        self.upgrade_dates: dict[str, str] = {}
        self.upgrade_eligible = 0
        self.reactivation_eligible = 0
        self.kp_events = np.zeros(len(EVENT_TYPES), dtype=np.int64)
        self.unknown_goals = 0

    def _dates(self, ids, days) -> dict[str, str]:
        dates = tables.to_dates(self.grid, np.asarray(days))
        return {str(a): d.isoformat() for a, d in zip(ids, dates, strict=True)}

    def add(self, out) -> None:
        h = out.history
        ids = out.block.accounts["account_id"].to_numpy()
        counts = history.monthly_counts(self.grid, h.pieces, h.spells)
        for key, value in counts.items():
            self.months[key] = self.months[key] + value
        sp = h.spells
        ch = sp[sp["churned"].to_numpy()]
        self.churn_dates.update(self._dates(ids[ch["acct"].to_numpy()], ch["end_day"]))
        back = sp[sp["spell"].to_numpy() > 1]
        self.reactivation_dates.update(self._dates(ids[back["acct"].to_numpy()], back["start_day"]))
        self.upgrade_dates.update(
            self._dates(ids[h.upgrades["acct"].to_numpy()], h.upgrades["day"])
        )
        self.upgrade_eligible += h.upgrade_eligible
        self.reactivation_eligible += h.reactivation_eligible
        self.kp_events += out.kp_event_counts
        self.unknown_goals += out.unknown_goals

    def vocabulary_truth(self, spec: Spec) -> dict:
        names = vocabulary.labels(spec.vocabulary)
        total = int(self.kp_events.sum())
        kp = None
        if total:  # no activity tables in a snapshot
            top = int(np.argmax(self.kp_events))
            kp = {
                "canonical": EVENT_TYPES[top],
                "written": names["event_type"][EVENT_TYPES[top]],
                "share_of_key_person_events": float(self.kp_events[top] / total),
            }
        return {
            "name": spec.vocabulary,
            "labels": names,
            "params": vocabulary.vocabulary_params(spec.vocabulary)["vocabulary"],
            "unknown_goal_accounts": self.unknown_goals,
            "key_person_event_type": kp,
        }

    def history_truth(self, spec: Spec) -> dict:
        n_up, n_back = len(self.upgrade_dates), len(self.reactivation_dates)
        return {
            "shape": spec.shape,
            "churn_dates": self.churn_dates,
            "upgrades": {
                "count": n_up,
                "eligible_accounts": self.upgrade_eligible,
                "share_of_eligible": n_up / max(self.upgrade_eligible, 1),
                "dates": self.upgrade_dates,
            },
            "reactivations": {
                "count": n_back,
                "eligible_churns": self.reactivation_eligible,
                "share_of_eligible": n_back / max(self.reactivation_eligible, 1),
                "dates": self.reactivation_dates,
            },
            "monthly_record": history.monthly_record(self.grid, self.months),
        }
