"""Combined model: every fitted lamp at its chosen lag in one ridge-penalised Cox model, so
each effect is shown net of the others (lamps often overlap: low usage and few features)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.hypotheses.cox import fit_cox


def combined_model(
    panel: pd.DataFrame,
    lamps: dict[str, np.ndarray],
    lags: dict[str, int],
    adjust: np.ndarray,
    adjust_names: list[str],
    penalizer: float,
    cluster: np.ndarray | None = None,
) -> dict:
    """`lamps`: hypothesis id -> lamp column (already lagged); rows with any lamp unknown are
    dropped. Returns terms with HR and (penalised, so slightly conservative) 95% CIs.
    `cluster` (n,): account labels when an account holds several spells; the CIs then use the
    account-clustered sandwich variance (Lin & Wei 1989), recorded in `cox_variance`."""
    ids = sorted(lamps)
    if not ids:
        return {
            "terms": [],
            "n_rows": 0,
            "n_events": 0,
            "penalizer": penalizer,
            "cox_variance": None,
            "problem": "no testable lamps",
        }
    x = np.column_stack([lamps[h] for h in ids])
    keep = np.isfinite(x).all(axis=1)
    var = adjust[keep].std(axis=0) if adjust.size else np.zeros(0)
    design = np.column_stack([x[keep], adjust[keep][:, var > 0]])
    names = ids + [n for n, v in zip(adjust_names, var, strict=True) if v > 0]
    # A lamp that never changes in the complete rows cannot be estimated; leave it out.
    const = design[:, : len(ids)].std(axis=0) == 0
    dropped = [h for h, c in zip(ids, const, strict=True) if c]
    cols = [j for j in range(design.shape[1]) if j >= len(ids) or not const[j]]
    design, names = design[:, cols], [names[j] for j in cols]
    event = panel["event"].to_numpy()[keep] == 1
    fit = fit_cox(
        panel["start"].to_numpy(float)[keep], panel["stop"].to_numpy(float)[keep], event, design,
        names, penalizer=penalizer, cluster=None if cluster is None else cluster[keep],
    )  # fmt: skip
    out = {
        "n_rows": int(keep.sum()),
        "n_events": int(event.sum()),
        "penalizer": penalizer,
        "cox_variance": "model-based" if cluster is None else "robust, clustered on account",
        "dropped_constant": dropped,
        "problem": fit.problem,
        "terms": [],
    }
    if fit.problem:
        return out
    for j, name in enumerate(names):
        if name in lamps:
            out["terms"].append({"id": name, "lag_weeks": lags[name], **fit.term(j)})
    return out
