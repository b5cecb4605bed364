"""GLM cross-check pooling: NumPy lexsort (`pool_cells`) vs the pandas groupby it replaced.

Both run in the same process on the same design, so the ratio holds on a noisy shared
machine. Usage: python benchmarks/bench_glm_pooling.py [--rows 400000] [--reps 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from churnlab.hypotheses.glm_check import pool_cells


def pandas_cells(design: np.ndarray, groups: np.ndarray) -> np.ndarray:
    frame = pd.DataFrame(design)
    frame["_g"] = groups
    return frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy()


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
    t_pd = cpu(lambda: pandas_cells(design, groups), args.reps)
    t_np = cpu(lambda: pool_cells(design, groups), args.reps)
    print(
        f"rows={args.rows}  pandas groupby {t_pd:.3f} s CPU  numpy lexsort {t_np:.3f} s CPU  "
        f"ratio numpy/pandas {t_np / t_pd:.2f}"
    )


if __name__ == "__main__":
    main()
