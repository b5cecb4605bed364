"""Test every hypothesis on the panel: threshold, lamp performance, lead profile, GLM
cross-check, FDR, verdict, PH check, landmark KM, combined model. Pure: DataFrames and
values in, a result dict and report tables out."""

from __future__ import annotations

import contextlib
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnlab.hypotheses.combined import combined_model
from churnlab.hypotheses.design import adjustment_matrix, lag_within_account, lamp
from churnlab.hypotheses.lamp_perf import (
    bootstrap_threshold,
    build_scan,
    candidate_thresholds,
    performance,
    pick_threshold,
)
from churnlab.hypotheses.landmark import landmark_km
from churnlab.hypotheses.lead import lead_profile
from churnlab.hypotheses.ph_check import ph_interaction
from churnlab.hypotheses.spec import Hypothesis
from churnlab.hypotheses.verdict import (
    INCONCLUSIVE,
    NOT_TESTABLE,
    VERDICTS,
    bh_qvalues,
    decide,
)


@dataclass
class Settings:
    lags: list[int]
    adjust_for: list[str]
    horizon_weeks: int = 12
    min_actionable_lead_weeks: int = 4
    fdr_alpha: float = 0.05
    min_effect_hr: float = 1.0
    rule_out_hr: float | None = None
    min_events: int = 20
    min_accounts: int = 50
    threshold_min_recall: float = 0.2
    bootstrap_reps: int = 200
    landmark_weeks: list[int] = field(default_factory=lambda: [13, 26, 52])
    landmark_follow_weeks: int = 26
    combined_penalizer: float = 1.0
    seed: int = 42
    with_glm: bool = True


@dataclass
class Results:
    hypotheses: list[dict]
    combined_model: dict
    tables: dict[str, pd.DataFrame]


def _choose_threshold(
    panel: pd.DataFrame, values: np.ndarray, hyp: Hypothesis, s: Settings, seed: int
) -> tuple[dict, pd.DataFrame]:
    """Configured threshold -> its performance; `suggest` -> scan, pick, bootstrap interval."""
    if hyp.threshold is not None:
        scan = build_scan(panel, values, hyp.direction, np.array([hyp.threshold]), s.horizon_weeks)
        perf = performance(scan)
        perf["chosen"] = True
        return {"threshold": hyp.threshold, "source": "configured", "rule": None, "ci": None}, perf
    cands = candidate_thresholds(values)
    if len(cands) == 0:
        return {
            "threshold": None,
            "source": "suggested",
            "rule": "indicator has a single value"
            if np.isfinite(values).any()
            else "indicator has no values",
            "ci": None,
        }, pd.DataFrame()
    scan = build_scan(panel, values, hyp.direction, cands, s.horizon_weeks)
    perf = performance(scan)
    idx, rule = pick_threshold(perf, s.threshold_min_recall, s.min_actionable_lead_weeks, hyp.kind)
    perf["chosen"] = perf.index == idx
    if idx is None:
        return {"threshold": None, "source": "suggested", "rule": rule, "ci": None}, perf
    lo, hi = bootstrap_threshold(
        scan, s.threshold_min_recall, s.min_actionable_lead_weeks, s.bootstrap_reps, seed, hyp.kind
    )
    ci = None if lo is None else [lo, hi]
    return {"threshold": float(cands[idx]), "source": "suggested", "rule": rule, "ci": ci}, perf


def _base_record(hyp: Hypothesis) -> dict:
    rec = hyp.as_dict()
    rec.pop("threshold")
    rec.update(
        verdict=None, verdict_reason=None, best_lag_weeks=None, headline_lag_weeks=None,
        hazard_ratio=None, ci_low=None, ci_high=None, p_value=None, q_value=None,
        lead_profile=[], glm_check={}, ph_check={}, threshold=None, threshold_source=None,
        threshold_rule=None, threshold_ci=None, lift=None, precision=None, recall=None,
        rate_off=None, lamp_on_share=None, median_warning_weeks=None, n_accounts=0, n_events=0,
        landmark_tests=[],
    )  # fmt: skip
    return rec


def _clean_problem(problem: str | None, threshold: float | None) -> str | None:
    if problem and problem.startswith("constant covariate: lamp"):
        return f"the lamp never changes at threshold {threshold:g} (always on or always off)"
    return problem


def _one_blas_thread():
    """Many small least-squares solves (GLM IRLS) run up to 50x slower with multithreaded
    OpenBLAS on a busy 2-core machine (thread oversubscription); one thread is fastest."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it only speed suffers
        return contextlib.nullcontext()
    return threadpool_limits(1, "blas")


def run_hypotheses(
    panel: pd.DataFrame,
    hypotheses: list[Hypothesis],
    testable: dict[str, str | None],
    s: Settings,
) -> Results:
    """`testable`: indicator id -> None if testable, else the reason it is not (panel meta)."""
    with _one_blas_thread():
        return _run(panel, hypotheses, testable, s)


def _run(
    panel: pd.DataFrame,
    hypotheses: list[Hypothesis],
    testable: dict[str, str | None],
    s: Settings,
) -> Results:
    key = panel[["account_id", "start"]]
    if not (key.equals(key.sort_values(["account_id", "start"], kind="stable"))):
        panel = panel.sort_values(["account_id", "start"], kind="stable").reset_index(drop=True)
    adjust, adjust_names = adjustment_matrix(panel, s.adjust_for)
    start = panel["start"].to_numpy(float)
    stop = panel["stop"].to_numpy(float)
    event = panel["event"].to_numpy() == 1
    records, profiles, curves, kms = [], {}, [], []
    lamp_cache: dict[str, tuple[str, float]] = {}
    for hyp in hypotheses:
        rec = _base_record(hyp)
        records.append(rec)
        reason = testable.get(hyp.indicator)
        if hyp.indicator not in panel.columns:
            reason = reason or "indicator not in the panel"
        if reason:
            rec.update(verdict=NOT_TESTABLE, verdict_reason=reason)
            continue
        if panel.empty:
            rec.update(verdict=INCONCLUSIVE, verdict_reason="the panel has no rows")
            continue
        values = panel[hyp.indicator].to_numpy(dtype=float)
        # Each hypothesis gets its own bootstrap stream, keyed by its id (not its position),
        # so adding or reordering hypotheses does not change the others' intervals.
        seed = int(
            np.random.SeedSequence([s.seed, zlib.crc32(hyp.id.encode())]).generate_state(1)[0]
        )
        choice, perf = _choose_threshold(panel, values, hyp, s, seed)
        rec.update(
            threshold=choice["threshold"], threshold_source=choice["source"],
            threshold_rule=choice["rule"], threshold_ci=choice["ci"],
        )  # fmt: skip
        if len(perf):
            curves.append(perf.assign(id=hyp.id))
            chosen = perf[perf["chosen"]]
            if len(chosen):
                c = chosen.iloc[0]
                rec.update(
                    lift=c["lift"], precision=c["precision"], recall=c["recall"],
                    rate_off=c["rate_off"], lamp_on_share=c["lamp_on_share"],
                    median_warning_weeks=c["median_warning_weeks"],
                )  # fmt: skip
        if choice["threshold"] is None:
            rec.update(
                verdict=INCONCLUSIVE, verdict_reason=f"no usable threshold: {choice['rule']}"
            )
            continue
        thr = choice["threshold"]
        lamp_cache[hyp.id] = (hyp.direction, thr)
        prof = lead_profile(
            panel, hyp.indicator, hyp.direction, thr, s.lags, adjust, adjust_names,
            s.min_events, s.min_accounts, with_glm=s.with_glm,
        )  # fmt: skip
        prof["problem"] = [_clean_problem(p, thr) for p in prof["problem"]]
        profiles[hyp.id] = prof
        now = lamp(values, hyp.direction, thr)
        km, tests = landmark_km(panel, now, s.landmark_weeks, s.landmark_follow_weeks)
        rec["landmark_tests"] = tests
        if len(km):
            kms.append(km.assign(id=hyp.id))

    # Benjamini-Hochberg over every fitted hypothesis x lag at once.
    keys = [(h, j) for h, prof in profiles.items() for j in range(len(prof))]
    pvals = np.array([profiles[h]["p_value"].iloc[j] for h, j in keys], dtype=float)
    qvals = bh_qvalues(pvals)
    for h in profiles:
        profiles[h]["q_value"] = np.nan
    for (h, j), q in zip(keys, qvals, strict=True):
        profiles[h].loc[j, "q_value"] = q

    chosen_lamps: dict[str, np.ndarray] = {}
    chosen_lags: dict[str, int] = {}
    by_id = {r["id"]: r for r in records}
    hyp_by_id = {h.id: h for h in hypotheses}
    for hid, prof in profiles.items():
        rec, hyp = by_id[hid], hyp_by_id[hid]
        verdict, reason, best = decide(
            prof,
            hyp.expected_sign,
            s.min_actionable_lead_weeks,
            s.fdr_alpha,
            s.min_effect_hr,
            s.rule_out_hr,
        )
        rec.update(verdict=verdict, verdict_reason=reason, best_lag_weeks=best)
        fitted = prof[prof["p_value"].notna()]
        if fitted.empty:
            head = prof.iloc[0]
        elif best is not None:
            head = prof[prof["lag_weeks"] == best].iloc[0]
        else:  # no evidence: show the lag that came closest
            head = fitted.loc[fitted["p_value"].idxmin()]
        rec.update(
            headline_lag_weeks=int(head["lag_weeks"]), hazard_ratio=head["hazard_ratio"],
            ci_low=head["ci_low"], ci_high=head["ci_high"], p_value=head["p_value"],
            q_value=head["q_value"], n_accounts=int(head["n_accounts"]), n_events=int(head["n_events"]),
        )  # fmt: skip
        rec["lead_profile"] = [
            {k: r[k] for k in ("lag_weeks", "hazard_ratio", "ci_low", "ci_high", "p_value",
                               "q_value", "coef", "se", "n_rows", "n_accounts", "n_events",
                               "lamp_on_share", "problem")}
            for r in prof.to_dict("records")
        ]  # fmt: skip
        rec["glm_check"] = _glm_summary(prof, best)
        if verdict != INCONCLUSIVE:
            lag = int(head["lag_weeks"])
            direction, thr = lamp_cache[hid]
            x = lamp(lag_within_account(panel, hyp.indicator, lag), direction, thr)
            keep = np.isfinite(x)
            ph = ph_interaction(start[keep], stop[keep], event[keep], x[keep], adjust[keep])
            rec["ph_check"] = {"lag_weeks": lag, "method": "lamp x log(tenure) interaction", **ph}
            # Combined model: a lamp whose indicator has no value is off (nothing to show the
            # CSM); only rows before the lag reaches back into the account's history are unknown.
            seen = np.isfinite(lag_within_account(panel, "start", lag))
            chosen_lamps[hid] = np.where(seen, np.nan_to_num(x, nan=0.0), np.nan)
            chosen_lags[hid] = lag

    combined = combined_model(
        panel, chosen_lamps, chosen_lags, adjust, adjust_names, s.combined_penalizer
    )
    tables = {
        "lead_profiles": _stack(profiles),
        "threshold_curves": _front(pd.concat(curves, ignore_index=True))
        if curves
        else pd.DataFrame(),
        "landmark_km": _front(pd.concat(kms, ignore_index=True)) if kms else pd.DataFrame(),
    }
    assert all(r["verdict"] in VERDICTS for r in records)
    return Results(records, combined, tables)


def _glm_summary(prof: pd.DataFrame, best: int | None) -> dict:
    per_lag = [
        {
            "lag_weeks": int(r["lag_weeks"]), "coef": r["glm_coef"], "se": r["glm_se"],
            "p_value": r["glm_p_value"], "problem": r["glm_problem"],
            "disagreement": r["disagreement"],
        }
        for r in prof.to_dict("records")
    ]  # fmt: skip
    dis = [d for d in per_lag if d["disagreement"]]
    at_best = next((d for d in per_lag if d["lag_weeks"] == best), None)
    return {
        "method": "binomial GLM, cloglog link, tenure-bin baseline, SEs clustered on account",
        "per_lag": per_lag,
        "n_disagreements": len(dis),
        "agrees_at_best_lag": None if at_best is None else at_best["disagreement"] is None,
    }


def _front(df: pd.DataFrame) -> pd.DataFrame:
    return df[["id"] + [c for c in df.columns if c != "id"]]


def _stack(profiles: dict[str, pd.DataFrame]) -> pd.DataFrame:
    if not profiles:
        return pd.DataFrame()
    return _front(pd.concat([p.assign(id=h) for h, p in profiles.items()], ignore_index=True))
