"""One hypothesis' verdict inside the family of hypotheses it is tested with.

The verdict depends on the whole family: the two-level false-discovery control
(`verdict.two_level_qvalues`) turns every hypothesis' lag p-values into q-values, so adding a
hypothesis can change another's q-value (and, near the cut-off, its verdict), while its own
lead profile (HRs, p-values) does not depend on the others. The exploration bench
(`churnlab.explore`) tests one new hypothesis alone and then places it in the family of
models/hypotheses.json with the functions here.

`headline_row` and `apply_verdict` are the tail of `analysis._run` (verdict, headline lag,
labels) written as functions, so the bench reaches them; `tests/explore` asserts they give
the stage's record for an existing hypothesis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.hypotheses.analysis import Settings, _attribute_wording, _glm_summary
from churnlab.hypotheses.spec import Hypothesis
from churnlab.hypotheses.verdict import (
    LEADS,
    TOO_LATE,
    decide,
    two_level_qvalues,
    verdict_label,
    warning_weeks_basis,
)

# lead_profile fields kept in a record (models/hypotheses.json), in the stage's order
RECORD_PROFILE_FIELDS = (
    "lag_weeks", "hazard_ratio", "ci_low", "ci_high", "p_value", "wald_p_value", "q_value",
    "coef", "se", "n_rows", "n_accounts", "n_events", "lamp_on_share", "problem",
)  # fmt: skip


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


def apply_verdict(rec: dict, profile: pd.DataFrame, hyp: Hypothesis, s: Settings) -> int:
    """Set the verdict fields of a record from a lead profile that has `q_value` (as the
    hypotheses stage does after the FDR step): verdict, reason, best lag, the headline lag's
    HR / CI / p / q / counts, lead_profile, glm_check, verdict_label, warning_weeks_basis,
    verdict_warning_weeks. Needs `rec["median_warning_weeks"]` and, for an attribute,
    `rec["values_not_in_data"]`. Returns the headline lag (weeks); `ph_check` is left alone
    (it needs the panel)."""
    verdict, reason, best = decide(
        profile, hyp.expected_sign, min_lead(hyp, s), s.fdr_alpha, s.min_effect_hr, s.rule_out_hr
    )
    head = headline_row(profile, best)
    if hyp.is_attribute:
        reason = _attribute_wording(hyp, verdict, reason, head, rec.get("values_not_in_data", []))
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
        rec["glm_check"] = _glm_summary(profile, best)
    rec["verdict_label"] = verdict_label(verdict, hyp.kind)
    rec["warning_weeks_basis"] = warning_weeks_basis(
        verdict, hyp.kind, best, rec.get("median_warning_weeks"), min_lead(hyp, s),
        hyp.is_attribute,
    )  # fmt: skip
    rec["verdict_warning_weeks"] = best if verdict in (LEADS, TOO_LATE) else None
    return int(head["lag_weeks"])


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
    ids = list(profiles)
    fam_p, fam_q, lag_q = two_level_qvalues(
        [profiles[h]["p_value"].to_numpy(dtype=float) for h in ids], s.fdr_alpha
    )
    out, rows = {}, []
    for h, fp, fq, q in zip(ids, fam_p, fam_q, lag_q, strict=True):
        prof = profiles[h].assign(q_value=q)
        out[h] = prof
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
    table["m"] = int(np.isfinite(fam_p).sum())
    table["R"] = int(table["selected"].sum()) if len(table) else 0
    return table, out
