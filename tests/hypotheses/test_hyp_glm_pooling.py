"""The GLM cross-check's cells (`glm_check.pool_cells`) are those of a sorted pandas groupby
whatever mix of columns the design has: 0/1 runs longer than one packed key, a continuous
column between runs, a constant."""

import numpy as np
import pandas as pd

from churnlab.hypotheses.glm_check import PACK_BITS, _sort_keys, pool_cells


def _design(rng, n):
    ones = np.ones((n, 1))
    # few distinct rows per run, so cells hold several rows
    long_run = (rng.integers(0, 4, size=(n, 1)) > np.arange(PACK_BITS + 5) % 4).astype(float)
    cont = rng.integers(0, 3, size=(n, 1)) * 0.5
    tail = rng.integers(0, 2, size=(n, 3)).astype(float)
    return np.column_stack([ones, long_run, cont, tail])


def test_packed_keys_by_hand():
    design = np.array([[1.0, 0.0, 1.0, 2.5], [1.0, 1.0, 0.0, 0.5]])
    keys = _sort_keys(design)
    # the three 0/1 columns packed first column first (0b101 = 5, 0b110 = 6); 2.5 / 0.5 kept
    assert [k.tolist() for k in keys] == [[5, 6], [2.5, 0.5]]


def test_cells_equal_a_sorted_groupby_with_long_runs_and_a_continuous_column():
    rng = np.random.default_rng(11)
    design = _design(rng, 3000)
    groups = rng.integers(0, 30, size=3000)
    frame = pd.DataFrame(design).assign(_g=groups)
    expected = frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy()
    cell, first = pool_cells(design, groups)
    assert len(first) < len(design)  # some rows were pooled
    np.testing.assert_array_equal(cell, expected)
    np.testing.assert_array_equal(
        first, [np.flatnonzero(expected == c)[0] for c in range(len(first))]
    )
    # the run of PACK_BITS + 6 0/1 columns (with the constant) needs two packed keys
    assert len(_sort_keys(design)) == 4
