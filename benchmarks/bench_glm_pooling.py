"""GLM cross-check pooling: NumPy lexsort (`pool_cells`) vs the pandas groupby it replaced,
and its sort keys packed in one pass over the design (`_sort_keys`) vs column by column (the
packing before session 22, kept here as the baseline).

All run in the same process on the same design, so the ratios hold on a noisy shared
machine. Usage: python benchmarks/bench_glm_pooling.py [--rows 400000] [--reps 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from churnlab.hypotheses.glm_check import _sort_keys, pool_cells


def pandas_cells(design: np.ndarray, groups: np.ndarray) -> np.ndarray:
    frame = pd.DataFrame(design)
    frame["_g"] = groups
    return frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy()


def columnwise_keys(design: np.ndarray) -> list[np.ndarray]:
    """The earlier packing: each column tested for 0/1 and shifted into its key one at a time
    (strided reads of a row-major design)."""
    keys: list[np.ndarray] = []
    run: list[np.ndarray] = []

    def close_run() -> None:
        if run:
            packed = np.zeros(len(design), dtype=np.int64)
            for col in run:
                packed = (packed << 1) | col.astype(np.int64)
            keys.append(packed)
            run.clear()

    for j in range(design.shape[1]):
        col = design[:, j]
        if np.all((col == 0) | (col == 1)):
            if len(run) == 62:
                close_run()
            run.append(col)
        else:
            close_run()
            keys.append(col)
    close_run()
    return keys


def design_like_a_panel(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A lamp, 4 adjuster dummies and 7 tenure-bin dummies over ~rows/70 accounts."""
    rng = np.random.default_rng(seed)
    groups = np.sort(rng.integers(0, max(rows // 70, 1), size=rows))
    lamp = rng.random(rows) < 0.2
    adjusters = np.eye(5)[rng.integers(0, 5, size=rows)][:, 1:]
    bins = np.eye(8)[rng.integers(0, 8, size=rows)][:, 1:]
    design = np.column_stack([np.ones(rows), lamp, adjusters, bins]).astype(float)
    return design, groups


def cpu(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    design, groups = design_like_a_panel(args.rows)
    assert np.array_equal(pool_cells(design, groups)[0], pandas_cells(design, groups))
    for a, b in zip(columnwise_keys(design), _sort_keys(design), strict=True):
        assert np.array_equal(a, b)  # the same keys (one run of < 52 bits here)
    t_pd = cpu(lambda: pandas_cells(design, groups), args.reps)
    t_np = cpu(lambda: pool_cells(design, groups), args.reps)
    t_col = cpu(lambda: columnwise_keys(design), args.reps)
    t_one = cpu(lambda: _sort_keys(design), args.reps)
    print(
        f"rows={args.rows}  pandas groupby {t_pd:.3f} s CPU  numpy lexsort {t_np:.3f} s CPU  "
        f"ratio numpy/pandas {t_np / t_pd:.2f}\n"
        f"sort keys: column by column {t_col:.3f} s CPU  one pass {t_one:.3f} s CPU  "
        f"ratio {t_one / t_col:.2f}"
    )


if __name__ == "__main__":
    main()
