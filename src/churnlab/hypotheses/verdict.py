"""False-discovery control across hypotheses x lags, and the verdict rules.

Verdict rule (stated in the report): among the lags that stay significant after
Benjamini-Hochberg (q <= alpha) with the expected sign, the best lag is the one with the
largest |log HR| - the peak of the lead profile, which sits at the true lead under a
"signal first, churn later" mechanism. `leads churn` if that best lag >= the minimum
actionable lead, `too late to act on` if it is shorter. (A persistent lamp stays significant
at longer lags than its true lead, only weaker, so "significant at any lag >= min" would
call every coincident signal a leader; the peak does not.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LEADS = "leads churn"
TOO_LATE = "too late to act on"
NO_EVIDENCE = "no evidence"
OPPOSITE = "opposite direction"
INCONCLUSIVE = "inconclusive"
NOT_TESTABLE = "not testable"
VERDICTS = (LEADS, TOO_LATE, NO_EVIDENCE, OPPOSITE, INCONCLUSIVE, NOT_TESTABLE)


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values; NaN entries are not counted as tests."""
    p = np.asarray(p, dtype=float)
    q = np.full(len(p), np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


def decide(
    profile: pd.DataFrame, expected_sign: int, min_lead: int, alpha: float
) -> tuple[str, str, int | None]:
    """(verdict, reason, best lag) from a lead profile that already has q_value."""
    fitted = profile[profile["p_value"].notna()]
    if fitted.empty:
        problems = sorted({str(p) for p in profile["problem"].dropna()})
        return INCONCLUSIVE, "; ".join(problems) or "no lag could be fitted", None
    sig = fitted[fitted["q_value"] <= alpha]
    right = sig[np.sign(sig["coef"]) == expected_sign]
    wanted = "raises" if expected_sign > 0 else "lowers"
    if not right.empty:
        best = right.loc[right["coef"].abs().idxmax()]
        lag = int(best["lag_weeks"])
        lags = ", ".join(str(int(v)) for v in right["lag_weeks"])
        if lag >= min_lead:
            return (
                LEADS,
                f"the lamp {wanted} churn hazard (HR {best['hazard_ratio']:.2f}, q {best['q_value']:.2g}) "
                f"and is strongest {lag} weeks ahead (significant at lags {lags})",
                lag,
            )
        return (
            TOO_LATE,
            f"the lamp {wanted} churn hazard but is strongest only {lag} weeks ahead "
            f"(HR {best['hazard_ratio']:.2f}; minimum actionable lead {min_lead} weeks)",
            lag,
        )
    if not sig.empty:
        best = sig.loc[sig["coef"].abs().idxmax()]
        return (
            OPPOSITE,
            f"significant the other way: HR {best['hazard_ratio']:.2f} at lag "
            f"{int(best['lag_weeks'])} (q {best['q_value']:.2g}), expected the lamp to {wanted[:-1]} churn",
            int(best["lag_weeks"]),
        )
    note = ""
    failed = profile[profile["p_value"].isna()]
    if not failed.empty:
        note = f"; lags {', '.join(str(int(v)) for v in failed['lag_weeks'])} not fitted"
    return (
        NO_EVIDENCE,
        f"no lag significant after FDR control (smallest q {fitted['q_value'].min():.2g}){note}",
        None,
    )
