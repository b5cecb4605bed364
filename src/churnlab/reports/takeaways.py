"""Plain-language takeaways and index summaries, generated from the numbers.

No claim in a report is hand-written: each sentence is a template filled from the current
models/*.json and tables, so it cannot go stale when the data changes.
"""

from __future__ import annotations

import math

import pandas as pd

from churnlab.reports.i18n import months_text, t, verdict_word
from churnlab.reports.markup import fmt_int, fmt_num, fmt_pct

# A change in monthly churn smaller than this (absolute, in rate units) counts as "flat".
FLAT_CHURN_CHANGE = 0.002


def _num(value: object) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def churn_trend_sentence(monthly: pd.DataFrame, lang: str, months: int = 6) -> str | None:
    """Compare the mean churn of the first and last quarter of the last `months` months."""
    if monthly.empty or "logo_churn_rate" not in monthly:
        return None
    recent = monthly.dropna(subset=["logo_churn_rate"]).tail(months)
    if len(recent) < 2:
        return None
    k = max(1, len(recent) // 3)
    first = recent["logo_churn_rate"].head(k).mean()
    last = recent["logo_churn_rate"].tail(k).mean()
    change = last - first
    key = "flat" if abs(change) < FLAT_CHURN_CHANGE else ("up" if change > 0 else "down")
    return t(
        lang, f"takeaway.churn_trend_{key}", first=fmt_pct(first), last=fmt_pct(last), n=len(recent)
    )


def headline_labels(head: dict, lang: str) -> dict[str, str]:
    """Card labels for the headline figures of frames.kpi_headline, each naming the months it
    covers (pooled over N observed months / 12 months to a date / the latest month)."""
    months = months_text(lang, head.get("months"))
    values = {
        "months": months,
        "end": str(head.get("retention_end") or "–")[:10],
        "month": head.get("latest_month") or "–",
    }
    out = {
        "logo_churn": t(
            lang,
            "kpi.logo_churn_pooled" if head.get("logo_basis") == "pooled" else "kpi.logo_churn",
            **values,
        )
    }
    for key in ("grr", "nrr"):
        basis = head.get(f"{key}_basis", "latest")
        out[key] = t(lang, f"kpi.{key}_{basis}" if basis != "latest" else f"kpi.{key}", **values)
    out["logo_basis"] = (
        t(lang, "summary.basis_pooled", **values)
        if head.get("logo_basis") == "pooled"
        else t(lang, "summary.basis_latest", **values)
    )
    return out


def nrr_sentence(head: dict, lang: str) -> str | None:
    """NRR in words: the same figure, over the same months, as the headline card shows."""
    nrr = _num(head.get("nrr"))
    if math.isnan(nrr):
        return None
    what = t(
        lang,
        f"nrr.what_{head.get('nrr_basis', 'latest')}",
        months=months_text(lang, head.get("months")),
        end=str(head.get("retention_end") or "–")[:10],
        month=head.get("latest_month") or "–",
    )
    key = "takeaway.nrr_above" if nrr >= 1 else "takeaway.nrr_below"
    return t(lang, key, what=what, nrr=fmt_pct(nrr))


def hypothesis_sentence(row: pd.Series, lang: str) -> str:
    """'Strongest leading indicator: <statement> — churn risk is 2.3× higher ...'; for a
    hazard ratio below 1 (a lamp marking accounts that churn less) '... churn risk is 30%
    lower ...' (HR 0.7), never '0.7× higher'."""
    hr = _num(row.get("hazard_ratio"))
    if hr < 1:
        return t(
            lang,
            "takeaway.top_hypothesis_lower",
            statement=row.get("statement") or row.get("id"),
            pct=fmt_pct(1 - hr, 0),
            hr=fmt_num(hr, 2),
            lo=fmt_num(row.get("ci_low"), 2),
            hi=fmt_num(row.get("ci_high"), 2),
            ahead=ahead_text(row, lang),
        )
    return t(
        lang,
        "takeaway.top_hypothesis",
        statement=row.get("statement") or row.get("id"),
        hr=fmt_num(row.get("hazard_ratio"), 1),
        lo=fmt_num(row.get("ci_low"), 1),
        hi=fmt_num(row.get("ci_high"), 1),
        ahead=ahead_text(row, lang),
    )


def ahead_text(row: pd.Series, lang: str) -> str:
    """How far ahead the lamp is seen: an attribute is known from the account's first week
    (never "visible 0 weeks ahead"); else "visible N weeks ahead" at the best lag."""
    attribute = row.get("attribute")
    if (isinstance(attribute, str) and attribute) or str(row.get("indicator") or "").startswith(
        "attribute:"
    ):
        return t(lang, "ahead.attribute")
    lag = fmt_int(row.get("best_lag_weeks"))
    return t(lang, "ahead.lag_one") if lag == "1" else t(lang, "ahead.lag", lag=lag)


def executive_takeaways(
    monthly: pd.DataFrame,
    hypotheses: pd.DataFrame,
    top: pd.DataFrame,
    latest_band_counts: pd.Series,
    validation: dict,
    lang: str,
    head: dict | None = None,
    warning_codes: set[str] = frozenset(),
) -> list[str]:
    """The executive summary's bullet points, in a fixed order, skipping what is unknown.

    head: frames.kpi_headline (the cards' figures; default: from `monthly` alone). With a
    `single_churn_date` warning (a snapshot) the monthly trend is an artefact of the export
    and is not described."""
    from churnlab.reports.frames import kpi_headline

    head = head if head is not None else kpi_headline({}, monthly)
    trend = None if "single_churn_date" in warning_codes else churn_trend_sentence(monthly, lang)
    out = [s for s in (trend, nrr_sentence(head, lang)) if s]
    if top.empty:
        out.append(t(lang, "takeaway.no_leading"))
    else:
        out.append(hypothesis_sentence(top.iloc[0], lang))
    n_late = int((hypotheses["verdict_key"] == "too_late").sum()) if not hypotheses.empty else 0
    if n_late:
        out.append(t(lang, "takeaway.too_late", n=n_late))
    total = int(latest_band_counts.sum()) if len(latest_band_counts) else 0
    if total:
        red = int(latest_band_counts.get("red", 0))
        out.append(t(lang, "takeaway.red_share", share=fmt_pct(red / total), n=fmt_int(red)))
    auc = (validation.get("auc") or {}).get("score") if isinstance(validation, dict) else None
    lo, hi = (
        _num(auc.get(k)) if isinstance(auc, dict) else math.nan for k in ("ci_low", "ci_high")
    )
    c, b = concordances(validation)
    if lo <= 0.5 <= hi:  # no better than chance: a concordance alone would read as a result
        out.append(
            t(lang, "takeaway.validation_chance", auc=fmt_num(_num(auc.get("estimate")), 2),
              lo=fmt_num(lo, 2), hi=fmt_num(hi, 2))
        )  # fmt: skip
    elif not math.isnan(c):
        out.append(t(lang, "takeaway.validation", c=fmt_num(c), b=fmt_num(b)))
    return out


def validation_pair(validation: dict, metric: str) -> tuple[float, float]:
    """(health score, baseline) point estimates of `metric` from health_score.json validation.

    The health stage writes `{metric: {score: {estimate, ci_low, ci_high}, baseline: {...}}}`;
    plain numbers (`{metric: {score: 0.7, baseline: 0.6}}`) are accepted too.
    """
    block = validation.get(metric) if isinstance(validation, dict) else None
    if not isinstance(block, dict):
        return math.nan, math.nan

    def point(v: object) -> float:
        return _num(v.get("estimate") if isinstance(v, dict) else v)

    return point(block.get("score")), point(block.get("baseline"))


def concordances(validation: dict) -> tuple[float, float]:
    """(health score, baseline) concordance."""
    return validation_pair(validation, "concordance")


def segment_takeaways(lifetimes: pd.DataFrame, all_lifetimes: pd.DataFrame, lang: str) -> list[str]:
    """Churned share of this group and how it compares with all accounts."""
    if lifetimes.empty:
        return [t(lang, "empty", what=t(lang, "empty.no_rows"))]
    n, churned = len(lifetimes), int(lifetimes["churned"].sum())
    share = churned / n
    out = [
        t(
            lang,
            "takeaway.segment_churn",
            share=fmt_pct(share),
            n=fmt_int(n),
            churned=fmt_int(churned),
        )
    ]
    if not all_lifetimes.empty:
        all_share = float(all_lifetimes["churned"].mean())
        # within half a percentage point counts as the same: the reader cannot act on less
        key = (
            "same"
            if abs(share - all_share) < 0.005
            else ("higher" if share > all_share else "lower")
        )
        out.append(
            t(
                lang,
                "takeaway.segment_vs_all",
                direction=t(lang, f"takeaway.{key}"),
                all_share=fmt_pct(all_share),
            )
        )
    return out


def verdict_counts_text(hypotheses: pd.DataFrame, lang: str) -> str:
    """'3 leads churn, 2 no evidence' in the order of actionability."""
    from churnlab.reports.frames import VERDICT_ORDER

    col = "display_key" if "display_key" in hypotheses else "verdict_key"
    counts = hypotheses[col].value_counts() if not hypotheses.empty else pd.Series(dtype=int)
    parts = [f"{int(counts[v])} {verdict_word(lang, v)}" for v in VERDICT_ORDER if counts.get(v, 0)]
    return ", ".join(parts) if parts else t(lang, "none")
