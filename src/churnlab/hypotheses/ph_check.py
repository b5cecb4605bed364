"""Proportional-hazards check: add lamp x log(tenure) to the Cox model. A significant
interaction means the lamp's hazard ratio drifts with tenure, so the single HR is an
average over tenure (lifelines' check_assumptions fails on time-varying fits, DESIGN §8)."""

from __future__ import annotations

import numpy as np

from churnlab.hypotheses.cox import fit_cox


def ph_interaction(
    start: np.ndarray, stop: np.ndarray, event: np.ndarray, lamp: np.ndarray, adjust: np.ndarray,
    alpha: float = 0.05, cluster: np.ndarray | None = None,
) -> dict:  # fmt: skip
    """The lamp x log(tenure) term's Wald test. `cluster` (n,): account labels when an account
    holds several spells; the test then uses the account-clustered sandwich variance (Lin &
    Wei 1989, as the lead profile does), since one account's spells are not independent."""
    # With weekly rows each row is at risk only at t = stop, so lamp * log(stop) is exactly
    # the time-varying term lamp * log(t).
    inter = lamp * np.log(stop)
    var = adjust.std(axis=0) if adjust.size else np.zeros(0)
    x = np.column_stack([lamp, inter, adjust[:, var > 0]])
    fit = fit_cox(start, stop, event, x, cluster=cluster)
    if fit.problem:
        return {
            "interaction_coef": None,
            "p_value": None,
            "proportional": None,
            "problem": fit.problem,
        }
    term = fit.term(1)
    return {
        "interaction_coef": term["coef"],
        "p_value": term["p_value"],
        "proportional": bool(term["p_value"] >= alpha),
        "problem": None,
    }
