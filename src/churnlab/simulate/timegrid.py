"""Calendar arithmetic for the simulator: integer day and week indices from one Monday origin.

Everything is simulated on a weekly grid that starts PRE_WEEKS before `start_date`, so accounts
that were already customers at `start_date` have a real, complete history in the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.simulate.spec import PRE_WEEKS, Spec

US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class Grid:
    origin: pd.Timestamp  # a Monday; day 0 / week 0
    start_day: int  # simulate.start_date: new signups from here (earlier ones pre-exist)
    end_day: int  # last day of the data window (inclusive)
    n_weeks: int

    @property
    def start_week(self) -> int:
        return self.start_day // 7

    @property
    def end_week(self) -> int:
        return self.end_day // 7

    @property
    def origin_us(self) -> int:
        """Microseconds since the Unix epoch of the origin (for Arrow timestamps)."""
        return int(self.origin.value // 1000)

    def week_start_day(self) -> np.ndarray:
        return np.arange(self.n_weeks, dtype=np.int64) * 7


def make_grid(spec: Spec) -> Grid:
    monday = spec.start - pd.Timedelta(days=spec.start.weekday())
    origin = monday - pd.Timedelta(weeks=PRE_WEEKS)
    start_day = int((spec.start - origin).days)
    end_day = int((spec.end - origin).days)
    return Grid(origin=origin, start_day=start_day, end_day=end_day, n_weeks=end_day // 7 + 1)


def add_months(grid: Grid, day: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Day index of `day` + `months` calendar months (day of month clipped, as billing does)."""
    origin = np.datetime64(grid.origin.date(), "D")
    dates = origin + np.asarray(day, dtype=np.int64).astype("timedelta64[D]")
    month = dates.astype("datetime64[M]")
    dom = (dates - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.asarray(months, dtype=np.int64).astype("timedelta64[M]")
    first = target.astype("datetime64[D]")
    dim = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - first).astype(np.int64)
    out = first + np.minimum(dom, dim - 1).astype("timedelta64[D]")
    return (out - origin).astype(np.int64)


def range_mask(
    n_rows: int, n_cols: int, row: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Boolean (n_rows, n_cols) matrix, True where lo <= col < hi for any (row, lo, hi) given.

    Uses a difference array, so overlapping ranges simply union.
    """
    lo = np.clip(np.asarray(lo, dtype=np.int64), 0, n_cols)
    hi = np.clip(np.asarray(hi, dtype=np.int64), 0, n_cols)
    keep = hi > lo
    diff = np.zeros((n_rows, n_cols + 1), dtype=np.int32)
    np.add.at(diff, (row[keep], lo[keep]), 1)
    np.add.at(diff, (row[keep], hi[keep]), -1)
    return np.cumsum(diff[:, :-1], axis=1) > 0
