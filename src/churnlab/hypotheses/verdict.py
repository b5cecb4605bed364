"""False-discovery control across hypotheses x lags, and the verdict rules.

Verdict rule (stated in the report): take the lags that stay significant after the two-level
false-discovery control below (q <= alpha) with the expected sign. The peak is the one with the largest
|log HR|. The best lag is the LONGEST of them whose |log HR| is within one standard error of
the peak's (the one-standard-error rule): under "signal first, churn later" the profile
peaks at the true lead, and a persistent condition (e.g. low licence activation) is about
equally informative at every lag, so the longest lag not clearly weaker than the peak is how
far ahead the lamp already works. `leads churn` if the best lag >= the minimum actionable
lead, `too late to act on` if shorter. (A coincident lamp that stays on is still significant
at long lags, only clearly weaker, so "significant at any lag >= min" would wrongly call it a
leader; the rule above does not.)
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


def simes(p: np.ndarray) -> float:
    """Simes' combined p-value of one family (valid when its tests are positively
    dependent, as one indicator read at neighbouring lags is); NaN if nothing was fitted."""
    p = np.sort(np.asarray(p, dtype=float)[np.isfinite(p)])
    if len(p) == 0:
        return float("nan")
    return float(min(1.0, np.min(p * len(p) / np.arange(1, len(p) + 1))))


def two_level_qvalues(
    families: list[np.ndarray], alpha: float
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Benjamini-Bogomolov (2014) selective inference over families of tests.

    Level 1: each hypothesis (family of lags) gets a Simes p-value; BH across hypotheses
    selects R of the m fitted ones at level alpha. Level 2: within a selected hypothesis, its
    lags are BH-tested at level alpha * R / m. This controls the share of false hypotheses
    among those declared (what a CS lead acts on) and the average share of false lags within
    them, where one flat BH over hypotheses x lags lets a null hypothesis through on a
    single-lag blip whenever many true signals relax the flat cut-off.

    Returns (family p, family q, per-family lag q). A lag's q is its within-family BH q
    scaled by m / R, so `lag q <= alpha` is exactly the level-2 rule (and implies the family
    was selected); families with no fitted lag get NaN."""
    family_p = np.array([simes(f) for f in families], dtype=float)
    family_q = bh_qvalues(family_p)
    m = int(np.isfinite(family_p).sum())
    r = int((family_q <= alpha).sum())
    scale = m / r if r else float(m)
    lag_q = [np.minimum(1.0, bh_qvalues(np.asarray(f, float)) * scale) for f in families]
    return family_p, family_q, lag_q


def decide(
    profile: pd.DataFrame,
    expected_sign: int,
    min_lead: int,
    alpha: float,
    min_effect_hr: float = 1.0,
    rule_out_hr: float | None = None,
) -> tuple[str, str, int | None]:
    """(verdict, reason, best lag) from a lead profile that already has q_value.

    A lag counts as evidence only if q <= alpha AND the HR is at least `min_effect_hr` away
    from 1 (HR >= min_effect_hr or <= 1/min_effect_hr): with ~100k account-weeks a lamp that
    changes the hazard by 10% can be "significant", but it is too weak to act on and such
    blips are where decoys slip through."""
    fitted = profile[profile["p_value"].notna()]
    if fitted.empty:
        problems = sorted({str(p) for p in profile["problem"].dropna()})
        return INCONCLUSIVE, "; ".join(problems) or "no lag could be fitted", None
    significant = fitted[fitted["q_value"] <= alpha]
    sig = significant[significant["coef"].abs() >= np.log(min_effect_hr)]
    right = sig[np.sign(sig["coef"]) == expected_sign]
    wanted = "raises" if expected_sign > 0 else "lowers"
    if not right.empty:
        peak = right.loc[right["coef"].abs().idxmax()]
        close = right[right["coef"].abs() >= abs(peak["coef"]) - peak["se"]]
        best = close.loc[close["lag_weeks"].idxmax()]
        lag = int(best["lag_weeks"])
        lags = ", ".join(str(int(v)) for v in right["lag_weeks"])
        if lag >= min_lead:
            return (
                LEADS,
                f"the lamp {wanted} churn hazard (HR {best['hazard_ratio']:.2f}, q {best['q_value']:.2g}) "
                f"and works {lag} weeks ahead (peak HR {peak['hazard_ratio']:.2f} at lag "
                f"{int(peak['lag_weeks'])}; significant at lags {lags})",
                lag,
            )
        return (
            TOO_LATE,
            f"the lamp {wanted} churn hazard but works only {lag} weeks ahead "
            f"(HR {best['hazard_ratio']:.2f}; at longer lags it is clearly weaker; "
            f"minimum actionable lead {min_lead} weeks)",
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
    if not significant.empty:
        weak = significant.loc[significant["coef"].abs().idxmax()]
        note = (
            f"; significant but weak at lag {int(weak['lag_weeks'])} "
            f"(HR {weak['hazard_ratio']:.2f}, below the minimum effect {min_effect_hr:g})"
        )
    failed = profile[profile["p_value"].isna()]
    if not failed.empty:
        note += f"; lags {', '.join(str(int(v)) for v in failed['lag_weeks'])} not fitted"
    # "No evidence" is a claim only if the data could have shown a meaningful effect: the
    # CI at the closest lag must exclude an effect of `rule_out_hr` in the expected direction.
    head = fitted.loc[fitted["p_value"].idxmin()]
    if rule_out_hr and (
        (head["ci_high"] if expected_sign > 0 else 1.0 / head["ci_low"]) >= rule_out_hr
    ):
        return (
            INCONCLUSIVE,
            f"too little data to tell: nothing significant, but the 95% CI at lag "
            f"{int(head['lag_weeks'])} (HR {head['ci_low']:.2f} to {head['ci_high']:.2f}) cannot "
            f"rule out an effect of HR {rule_out_hr:g}{note}",
            None,
        )
    return (
        NO_EVIDENCE,
        f"no lag significant after FDR control (smallest q {fitted['q_value'].min():.2g}){note}",
        None,
    )


LEADS_RETENTION = "leads retention"


def verdict_label(verdict: str | None, kind: str) -> str | None:
    """The verdict as a report shows it. `verdict` stays canonical (metrics and the health
    score read it); only an opportunity that "leads churn" - its lamp marks accounts that
    churn LESS, weeks ahead - is labelled "leads retention"."""
    if kind == "opportunity" and verdict == LEADS:
        return LEADS_RETENTION
    return verdict


def _weeks(x: float | None) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.1f}"


def warning_weeks_basis(
    verdict: str | None,
    kind: str,
    best_lag_weeks: int | None,
    median_warning_weeks: float | None,
    min_lead: int,
    attribute: bool = False,
) -> str | None:
    """One sentence saying which warning time the verdict rests on - the best lag of the lead
    profile - and what the lamp's median warning (weeks from its first lamp-on week in the
    horizon before a churn to the churn) means beside it, so "too late to act on" never
    stands unexplained next to "median warning 4.0 weeks". An attribute (known from the
    spell's first week) is tested at lag 0 only. None when not tested."""
    if verdict is None or verdict == NOT_TESTABLE:
        return None
    mw = _weeks(median_warning_weeks)
    on_time = f"the median warning of {mw} weeks is lamp-on time before churn, not evidence of lead"
    if attribute and verdict in (LEADS, OPPOSITE):
        if kind == "opportunity":
            on_time = "a median warning does not apply to an opportunity lamp"
        return (
            "Verdict rests on lag 0: an attribute is known from the account's first week, so "
            f"it can be acted on from the start; {on_time}"
        )
    if kind == "opportunity":
        if verdict == LEADS:
            return (
                f"Verdict rests on the best lag, {best_lag_weeks} weeks: the lamp marks accounts "
                f"that churn less that far ahead (at least {min_lead} weeks); a median warning "
                "does not apply to an opportunity lamp"
            )
        on_time = "a median warning does not apply to an opportunity lamp"
    if verdict == LEADS:
        return (
            f"Verdict rests on the best lag, {best_lag_weeks} weeks: the lamp already predicts "
            f"churn that far ahead (at least {min_lead} weeks); {on_time}"
        )
    if verdict == TOO_LATE:
        return (
            f"Verdict rests on the best lag, {best_lag_weeks} weeks (below the {min_lead} weeks "
            f"needed to act): earlier readings of the lamp are clearly weaker; {on_time}"
        )
    if verdict == OPPOSITE:
        return (
            f"Verdict rests on lag {best_lag_weeks} weeks, where the lamp goes the other way; "
            f"{on_time}"
        )
    return f"No lag carries evidence, so the verdict rests on no warning time; {on_time}"
