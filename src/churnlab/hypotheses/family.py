"""The verdict step: one hypothesis' verdict inside the family it is tested with.

The verdict depends on the whole family: the two-level false-discovery control
(`verdict.two_level_qvalues`) turns every hypothesis' lag p-values into q-values, so adding a
hypothesis can change another's q-value (and, near the cut-off, its verdict), while its own
lead profile (HRs, p-values) does not depend on the others.

This module is the only copy of that step. The hypotheses stage (`analysis._run`) calls
`family_qvalues`, then `apply_verdict` for every hypothesis with a lead profile and
`label_verdict` for the others; the exploration bench (`churnlab.explore`) tests one new
hypothesis alone and places it in the family of models/hypotheses.json with
`family_selection` and `apply_verdict`, so it gives the stage's record for an existing
hypothesis by construction (`tests/explore` checks it too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churnlab.hypotheses.spec import Hypothesis
from churnlab.hypotheses.verdict import (
    LEADS,
    NO_EVIDENCE,
    TOO_LATE,
    decide,
    two_level_qvalues,
    verdict_label,
    warning_weeks_basis,
)

if TYPE_CHECKING:  # analysis imports this module; Settings is only a type here
    from churnlab.hypotheses.analysis import Settings

# lead_profile fields kept in a record (models/hypotheses.json), in the stage's order
RECORD_PROFILE_FIELDS = (
    "lag_weeks", "hazard_ratio", "ci_low", "ci_high", "p_value", "wald_p_value", "q_value",
    "coef", "se", "n_rows", "n_accounts", "n_events", "lamp_on_share", "problem",
)  # fmt: skip

GLM_METHOD = "binomial GLM, cloglog link, tenure-bin baseline, SEs clustered on account"


def headline_row(profile: pd.DataFrame, best: int | None) -> pd.Series:
    """The lag a record headlines: the best lag if the verdict has one, else the fitted lag
    with the smallest p-value (the one that came closest), else the first lag."""
    fitted = profile[profile["p_value"].notna()]
    if fitted.empty:
        return profile.iloc[0]
    if best is not None:
        return profile[profile["lag_weeks"] == best].iloc[0]
    return fitted.loc[fitted["p_value"].idxmin()]


def min_lead(hyp: Hypothesis, s: Settings) -> int:
    """Weeks of lead a verdict needs: 0 for an attribute (known from the first week)."""
    return 0 if hyp.is_attribute else s.min_actionable_lead_weeks


def family_qvalues(
    profiles: dict[str, pd.DataFrame], fdr_alpha: float
) -> tuple[dict[str, pd.DataFrame], dict[str, tuple[float, float]]]:
    """The two-level false-discovery control over a family of lead profiles.

    Args:
        profiles: hypothesis id -> lead profile (one row per lag, `p_value` NaN where the
            lag was not fitted), in the family's order.
        fdr_alpha: the level of both steps (`hypotheses.fdr_alpha`).

    Returns:
        (profiles, family): each profile with a `q_value` column added last (new frames, in
        the same order), and id -> (hypothesis_p_value, hypothesis_q_value): Simes over the
        hypothesis' lags, BH across the hypotheses (`verdict.two_level_qvalues`).
    """
    ids = list(profiles)
    fam_p, fam_q, lag_q = two_level_qvalues(
        [profiles[h]["p_value"].to_numpy(dtype=float) for h in ids], fdr_alpha
    )
    with_q = {h: profiles[h].assign(q_value=q) for h, q in zip(ids, lag_q, strict=True)}
    family = {h: (fp, fq) for h, fp, fq in zip(ids, fam_p, fam_q, strict=True)}
    return with_q, family


def apply_verdict(rec: dict, profile: pd.DataFrame, hyp: Hypothesis, s: Settings) -> int:
    """Set the verdict fields of a record from a lead profile that has `q_value` (after
    `family_qvalues`): verdict, reason, best lag, the headline lag's HR / CI / p / q /
    counts, lead_profile, glm_check (when the profile has the GLM columns; a profile read
    back from models/hypotheses.json has not), and `label_verdict`'s fields.

    Needs `rec["median_warning_weeks"]` and, for an attribute, `rec["values_not_in_data"]`.
    Returns the headline lag (weeks); `ph_check` is left alone (it needs the panel).
    """
    verdict, reason, best = decide(
        profile, hyp.expected_sign, min_lead(hyp, s), s.fdr_alpha, s.min_effect_hr, s.rule_out_hr
    )
    head = headline_row(profile, best)
    if hyp.is_attribute:
        reason = attribute_wording(hyp, verdict, reason, head, rec.get("values_not_in_data", []))
    rec.update(verdict=verdict, verdict_reason=reason, best_lag_weeks=best)
    rec.update(
        headline_lag_weeks=int(head["lag_weeks"]), hazard_ratio=head["hazard_ratio"],
        ci_low=head["ci_low"], ci_high=head["ci_high"], p_value=head["p_value"],
        q_value=head["q_value"], n_accounts=int(head["n_accounts"]),
        n_events=int(head["n_events"]),
    )  # fmt: skip
    rec["lead_profile"] = [
        {k: r[k] for k in RECORD_PROFILE_FIELDS} for r in profile.to_dict("records")
    ]
    if "glm_coef" in profile.columns:
        rec["glm_check"] = glm_summary(profile, best)
    label_verdict(rec, hyp, s)
    return int(head["lag_weeks"])


def label_verdict(rec: dict, hyp: Hypothesis, s: Settings) -> None:
    """Set the fields that word a decided verdict for the reader, in place:
    `verdict_label` ("leads retention" for an opportunity that leads), `warning_weeks_basis`
    and `verdict_warning_weeks` (the best lag of a lamp that leads or comes too late, else
    None). Needs `rec["verdict"]` and `rec["best_lag_weeks"]`; for every record, with or
    without a lead profile (a `not testable` one too)."""
    verdict, best = rec["verdict"], rec["best_lag_weeks"]
    rec["verdict_label"] = verdict_label(verdict, hyp.kind)
    rec["warning_weeks_basis"] = warning_weeks_basis(
        verdict, hyp.kind, best, rec.get("median_warning_weeks"), min_lead(hyp, s),
        hyp.is_attribute,
    )  # fmt: skip
    rec["verdict_warning_weeks"] = best if verdict in (LEADS, TOO_LATE) else None


def attribute_wording(
    hyp: Hypothesis, verdict: str, reason: str, head: pd.Series, missing: list[str]
) -> str:
    """A verdict reason in an attribute's terms (the indicator wording talks about lags).

    Args:
        hyp: an attribute hypothesis (`attribute`, `values`).
        verdict, reason: from `verdict.decide`.
        head: the headline lead-profile row (`coef`, `hazard_ratio`, `ci_low`, `ci_high`,
            `q_value`); read only when the verdict is `leads churn`.
        missing: the hypothesis' values that do not occur in the data (appended).

    Returns the reason: rewritten for `leads churn` and `no evidence`, else `reason`."""
    who = f"accounts whose {hyp.attribute} is {' / '.join(hyp.values or ())}"
    if verdict == LEADS:
        more = "more" if head["coef"] > 0 else "less"
        reason = (
            f"{who} churn {more} (HR {head['hazard_ratio']:.2f}, 95% CI "
            f"{head['ci_low']:.2f} to {head['ci_high']:.2f}, q {head['q_value']:.2g}); an "
            "attribute is known from the account's first week, so it can be acted on from the start"
        )
    elif verdict == NO_EVIDENCE:
        reason = f"{who} do not churn measurably differently: {reason}"
    if missing:
        reason += f"; values not in the data: {', '.join(missing)}"
    return reason


def glm_summary(profile: pd.DataFrame, best: int | None) -> dict:
    """A record's `glm_check`: the discrete-time GLM cross-check per lag and how often it
    disagrees with Cox.

    Args:
        profile: a lead profile with the GLM columns (`glm_coef`, `glm_se`, `glm_p_value`,
            `glm_problem`, `disagreement`: `lead.lead_profile`).
        best: the verdict's best lag, or None.

    Returns `{method, per_lag: [{lag_weeks, coef, se, p_value, problem, disagreement}],
    n_disagreements, agrees_at_best_lag}` (the last None without a best lag)."""
    per_lag = [
        {
            "lag_weeks": int(r["lag_weeks"]), "coef": r["glm_coef"], "se": r["glm_se"],
            "p_value": r["glm_p_value"], "problem": r["glm_problem"],
            "disagreement": r["disagreement"],
        }
        for r in profile.to_dict("records")
    ]  # fmt: skip
    dis = [d for d in per_lag if d["disagreement"]]
    at_best = next((d for d in per_lag if d["lag_weeks"] == best), None)
    return {
        "method": GLM_METHOD,
        "per_lag": per_lag,
        "n_disagreements": len(dis),
        "agrees_at_best_lag": None if at_best is None else at_best["disagreement"] is None,
    }


def profile_from_record(rec: dict) -> pd.DataFrame:
    """A record's stored lead profile (models/hypotheses.json) as a DataFrame; missing
    numbers (JSON null) become NaN so `decide` reads them as the stage did."""
    prof = pd.DataFrame(rec.get("lead_profile") or [])
    for col in ("hazard_ratio", "ci_low", "ci_high", "p_value", "q_value", "coef", "se"):
        if col in prof.columns:
            prof[col] = pd.to_numeric(prof[col], errors="coerce").astype(float)
    return prof


def hypothesis_from_record(rec: dict) -> Hypothesis:
    """The Hypothesis a stored record was tested as (enough for `decide` and the wording)."""
    attribute = rec.get("attribute")
    return Hypothesis(
        id=str(rec["id"]), statement=str(rec.get("statement") or ""),
        stage=str(rec.get("stage") or ""),
        indicator=None if attribute else rec.get("indicator"),
        direction=rec.get("direction"), threshold=rec.get("threshold"),
        expected_lead_weeks=int(rec.get("expected_lead_weeks") or 0),
        action=str(rec.get("action") or ""), kind=str(rec.get("kind") or "risk"),
        attribute=attribute,
        values=None if rec.get("values") is None else tuple(rec["values"]),
    )  # fmt: skip


def family_selection(
    profiles: dict[str, pd.DataFrame], hypotheses: dict[str, Hypothesis], s: Settings
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Run the stage's two-level FDR over a family and decide every member again.

    Args:
        profiles: hypothesis id -> lead profile (one row per lag, `p_value` NaN where a lag
            was not fitted); only hypotheses that reached the lead profile (the stage's
            `profiles`: not `not testable`, not without a threshold).
        hypotheses: id -> Hypothesis (kind, attribute) for every id in `profiles`.
        s: the stage settings (fdr_alpha, min_effect_hr, rule_out_hr, min lead).

    Returns:
        (table, profiles with q_value): one row per hypothesis, in the order of `profiles`,
        with hypothesis_p_value (Simes over its lags), hypothesis_q_value (BH across the m
        hypotheses with a fitted lag), selected (q <= fdr_alpha), min_lag_q_value, verdict
        and best_lag_weeks (the reason is `apply_verdict`'s: an attribute's is worded
        apart); columns m and R (selected) are the same on every row.
    """
    out, fam = family_qvalues(profiles, s.fdr_alpha)
    rows = []
    for h, prof in out.items():
        fp, fq = fam[h]
        q = prof["q_value"].to_numpy(dtype=float)
        hyp = hypotheses[h]
        verdict, _, best = decide(
            prof, hyp.expected_sign, min_lead(hyp, s), s.fdr_alpha, s.min_effect_hr,
            s.rule_out_hr,
        )  # fmt: skip
        rows.append(
            {
                "id": h, "kind": hyp.kind, "hypothesis_p_value": fp, "hypothesis_q_value": fq,
                "selected": bool(np.isfinite(fq) and fq <= s.fdr_alpha),
                "min_lag_q_value": float(np.nanmin(q)) if np.isfinite(q).any() else np.nan,
                "verdict": verdict, "best_lag_weeks": best,
            }
        )  # fmt: skip
    table = pd.DataFrame(rows)
    table["m"] = int(sum(np.isfinite(fp) for fp, _ in fam.values()))
    table["R"] = int(table["selected"].sum()) if len(table) else 0
    return table, out
