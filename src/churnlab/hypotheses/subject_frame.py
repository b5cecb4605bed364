"""A light stand-in panel for the spell-aware helpers of `design` (lags within a spell, churn
within the horizon), keyed by a precomputed subject code.

Why: `design.subject_codes` pairs (account_id, spell) through a pandas MultiIndex, which
builds one Python tuple per row on every call: 0.2-0.3 s per call on the default panel
(316k rows), called 218 times by one hypotheses run - 58 of its 149 CPU seconds (cProfile,
issue 14). The stage computes the codes once; a frame whose `account_id` is that code and
which has no `spell` column gives the same subjects through a plain integer factorize, so
lags, churn-within labels and landmark groups come out identical.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.hypotheses.design import subject_codes


def subject_frame(panel: pd.DataFrame, subjects: np.ndarray | None = None) -> pd.DataFrame:
    """account_id = the subject code per row: `design.subject_codes(panel)`, or the given codes
    renumbered 0.. by first appearance (the same numbers);
    and the panel's start, stop and event (those it has), in the panel's row order and index.
    Raises ValueError when `subjects` does not have one code per row."""
    if subjects is None:
        codes = subject_codes(panel)
    else:
        if len(subjects) != len(panel):
            raise ValueError(f"{len(subjects)} subject codes for {len(panel)} panel rows")
        # renumbered by first appearance, as `design.subject_codes(panel)` numbers them (codes
        # of the whole panel taken on one half are not 0..n-1)
        codes = pd.factorize(np.asarray(subjects))[0].astype(np.int64)
    out = pd.DataFrame({"account_id": codes}, index=panel.index)
    for col in ("start", "stop", "event"):
        if col in panel.columns:
            out[col] = panel[col].to_numpy()
    return out
