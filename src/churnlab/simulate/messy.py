"""Messy mode: write every table as CSV strings, as real exports are, with injected faults.

Every fault is an *extra* row (a corrupted copy of a real row), so after ingest the accepted
rows are exactly the clean company and every injected row is quarantined under one reason:

    duplicate        an exact copy of a real row, right after it
    unknown_account  a copy whose account_id exists nowhere (A9xxxxx)
    unparseable_date a copy whose timestamp is garbage ("2024-02-30 09:00:00", "#VALUE!", ...)
    before_signup    a copy moved to 1-30 days before the account's signup_date
    blank_required   a copy with a required field blank (event_type / user_id, or kind)

Faults go into `events` and `touchpoints` (tables without a unique id, so a copy faults in one
way only). Separately, a share of real rows is written in the account's local time with an
explicit UTC offset (+09:00, -05:00, ...): the same instants, which ingest must normalise and
accept (`mixed_timezone_rows`). All other timestamps are written naive in UTC.
`_faults.json` = {table: {reason_code: rows, "mixed_timezone_rows": rows}}.
Faults are drawn per block of accounts (own seed stream), so partitioning never changes them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from churnlab.simulate.spec import Spec
from churnlab.simulate.timegrid import US_PER_DAY, Grid

STREAM_FAULTS = 2
REASONS = ("duplicate", "unknown_account", "unparseable_date", "before_signup", "blank_required")
MIXED_TZ_FACTOR = 5  # mixed-zone rows are 5x as common as each fault
REGION_OFFSET_MIN = np.array([9 * 60, -5 * 60, 60, 8 * 60])  # Japan, N. America, Europe, APAC
GARBAGE_DATES = np.array(
    [
        "2024-02-30 09:00:00",
        "2024-13-01 10:00:00",
        "#VALUE!",
        "yesterday",
        "31/12/2024 25:00",
        "0000-00-00",
    ]
)


def utc_strings(us: np.ndarray) -> np.ndarray:
    """Naive UTC ISO strings with microseconds (sub-second precision avoids false duplicates)."""
    return np.datetime_as_string(us.astype("datetime64[us]"), unit="us")


def offset_strings(us: np.ndarray, offset_min: np.ndarray) -> np.ndarray:
    """The same instants written in local time with an explicit +hh:mm offset."""
    local = utc_strings(us + offset_min.astype(np.int64) * 60_000_000)
    sign = np.where(offset_min < 0, "-", "+")
    hh = np.char.zfill((np.abs(offset_min) // 60).astype(str), 2)
    mm = np.char.zfill((np.abs(offset_min) % 60).astype(str), 2)
    return np.char.add(np.char.add(np.char.add(local, sign), np.char.add(hh, ":")), mm)


def inject(
    rng: np.random.Generator,
    rate: float,
    cols: dict[str, np.ndarray],
    ts_col: str,
    ts_us: np.ndarray,
    region: np.ndarray,
    signup_day: np.ndarray,
    blank_cols: tuple[str, ...],
    origin_us: int,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """String columns with fault rows added; `signup_day`/`region` are per row (the row's account).

    Returns the columns (real rows in order, each duplicate right after its original, the other
    faults after the real rows) and the count per reason.
    """
    n = len(ts_us)
    text = {k: v.astype(object) for k, v in cols.items()}
    plain = utc_strings(ts_us + origin_us).astype(object)
    ts_text = plain.copy()
    counts = dict.fromkeys(REASONS, 0)
    role = rng.random(n)
    mixed = role < rate * MIXED_TZ_FACTOR
    ts_text[mixed] = offset_strings(ts_us[mixed] + origin_us, REGION_OFFSET_MIN[region[mixed]])
    counts["mixed_timezone_rows"] = int(mixed.sum())
    text[ts_col] = ts_text
    # duplicates: copies of real, UTC-written rows
    dup = (~mixed) & (rng.random(n) < rate)
    counts["duplicate"] = int(dup.sum())
    order = np.argsort(np.concatenate([np.arange(n), np.nonzero(dup)[0]]), kind="stable")
    base = {k: np.concatenate([v, v[dup]])[order] for k, v in text.items()}
    extra: list[dict[str, np.ndarray]] = []
    for reason in REASONS[1:]:
        k = int(rng.binomial(n, rate)) if n else 0
        src = rng.integers(0, n, k) if n else np.zeros(0, dtype=np.int64)
        rows = {c: text[c][src].copy() for c in text}
        rows[ts_col] = plain[src]  # fault copies are written in UTC: one fault each, no zone
        if reason == "unknown_account":
            rows["account_id"] = np.array(
                [f"A9{x:05d}" for x in rng.integers(0, 100_000, k)], dtype=object
            )
        elif reason == "unparseable_date":
            rows[ts_col] = GARBAGE_DATES[rng.integers(0, len(GARBAGE_DATES), k)].astype(object)
        elif reason == "before_signup":
            keep = signup_day[src] >= 31
            src = src[keep]
            rows = {c: v[keep] for c, v in rows.items()}
            k = len(src)
            day = signup_day[src] - rng.integers(1, 31, k)
            us = day * US_PER_DAY + rng.integers(0, US_PER_DAY, k)
            rows[ts_col] = utc_strings(us + origin_us).astype(object)
        elif reason == "blank_required":
            which = rng.integers(0, len(blank_cols), k)
            for i, col in enumerate(blank_cols):
                rows[col] = np.where(which == i, "", rows[col]).astype(object)
        counts[reason] = k
        extra.append(rows)
    out = {c: np.concatenate([base[c], *[e[c] for e in extra]]) for c in text}
    return out, counts


class FaultInjector:
    """Collects CSV output and fault counts for one messy simulation."""

    def __init__(self, spec: Spec, grid: Grid):
        self.spec = spec
        self.grid = grid
        self.counts: dict[str, dict[str, int]] = {}

    def _add(self, table: str, counts: dict[str, int]) -> None:
        total = self.counts.setdefault(table, {})
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value

    def _rng(self, number: int, table: int) -> np.random.Generator:
        return np.random.default_rng(
            np.random.SeedSequence(self.spec.seed, spawn_key=(STREAM_FAULTS, number, table))
        )

    def events(self, number: int, block, events: pa.Table) -> pa.Table:
        acc = block.accounts
        row = pd.Index(acc["account_id"]).get_indexer(
            events["account_id"].to_numpy(zero_copy_only=False)
        )
        ts = events["occurred_at"].cast(pa.int64()).to_numpy() - self.grid.origin_us
        cols = {
            c: events[c].to_numpy(zero_copy_only=False)
            for c in ("account_id", "user_id", "event_type")
        }
        out, counts = inject(
            self._rng(number, 0),
            self.spec.messy_rate,
            cols,
            "occurred_at",
            ts,
            acc["region_code"].to_numpy()[row],
            acc["signup_day"].to_numpy()[row],
            ("event_type", "user_id"),
            self.grid.origin_us,
        )
        self._add("events", counts)
        return pa.table(
            {
                c: pa.array(out[c], pa.string())
                for c in ("account_id", "user_id", "occurred_at", "event_type")
            }
        )

    def touchpoints(self, number: int, block, tp: pd.DataFrame) -> pd.DataFrame:
        acc = block.accounts
        row = pd.Index(acc["account_id"]).get_indexer(tp["account_id"])
        ts = (tp["occurred_at"].astype("int64").to_numpy() // 1000) - self.grid.origin_us
        cols = {c: tp[c].to_numpy() for c in ("account_id", "kind", "csm_id")}
        out, counts = inject(
            self._rng(number, 1),
            self.spec.messy_rate,
            cols,
            "occurred_at",
            ts,
            acc["region_code"].to_numpy()[row],
            acc["signup_day"].to_numpy()[row],
            ("kind",),
            self.grid.origin_us,
        )
        self._add("touchpoints", counts)
        return pd.DataFrame({c: out[c] for c in ("account_id", "occurred_at", "kind", "csm_id")})

    def inventory(self) -> dict[str, dict[str, int]]:
        return self.counts


def csv_strings(df: pd.DataFrame) -> pd.DataFrame:
    """Every column as text the way an export writes it; nulls become empty cells."""
    out = {}
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            us = s.dt.tz_convert(None).astype("datetime64[us]").to_numpy()
            text = np.datetime_as_string(us, unit="us").astype(object)
            text[s.isna().to_numpy()] = ""
        else:
            text = s.astype(object).where(s.notna(), "").astype(str).to_numpy()
        out[col] = text
    return pd.DataFrame(out)
