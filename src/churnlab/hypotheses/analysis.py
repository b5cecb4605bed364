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
    decide,
    two_level_qvalues,
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
    min_state_events: int = 1
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
    """`suggest`: scan the candidates on `panel`, pick by the stated rule, bootstrap interval.
    Returns the choice and the scanned curve."""
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


def tuning_half(panel: pd.DataFrame, seed: int) -> np.ndarray:
    """Per row: is the account in the half used to choose suggested thresholds?

    A threshold picked to separate churners best on some accounts flatters any test run on
    those same accounts (a pure-noise indicator then "works"), so a suggested threshold is
    chosen on one half and everything inferential is measured on the other. The split is
    random per account, stratified by whether the account churned (each half gets half the
    events), and fixed by the seed and the set of account ids (not by row order)."""
    ids = panel["account_id"].astype(str).to_numpy()
    uniq, inv = np.unique(ids, return_inverse=True)
    churned = np.zeros(len(uniq), bool)
    churned[inv[panel["event"].to_numpy() == 1]] = True
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7E57]))
    pick = np.zeros(len(uniq), bool)
    for group in (np.flatnonzero(churned), np.flatnonzero(~churned)):
        pick[rng.permutation(group)[: len(group) // 2]] = True
    return pick[inv]


def _split(panel: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, dict]:
    tune = tuning_half(panel, seed)
    part = panel[tune].reset_index(drop=True)
    test = panel[~tune].reset_index(drop=True)
    sizes = {
        "tuning_accounts": int(part["account_id"].nunique()),
        "tuning_events": int(part["event"].sum()),
        "test_accounts": int(test["account_id"].nunique()),
        "test_events": int(test["event"].sum()),
    }
    return part, ~tune, test, sizes


def _base_record(hyp: Hypothesis) -> dict:
    rec = hyp.as_dict()
    rec.pop("threshold")
    rec.update(
        verdict=None, verdict_reason=None, best_lag_weeks=None, headline_lag_weeks=None,
        hazard_ratio=None, ci_low=None, ci_high=None, p_value=None, q_value=None,
        lead_profile=[], glm_check={}, ph_check={}, threshold=None, threshold_source=None,
        threshold_rule=None, threshold_ci=None, threshold_tuning=None, lift=None,
        precision=None, recall=None,
        rate_off=None, lamp_on_share=None, median_warning_weeks=None, n_accounts=0, n_events=0,
        landmark_tests=[], hypothesis_p_value=None, hypothesis_q_value=None,
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
    # hypothesis id -> (direction, threshold, rows it is tested on)
    lamp_cache: dict[str, tuple[str, float, np.ndarray]] = {}
    split = None  # (tuning panel, test-row mask, test panel, sizes), made when first needed
    reduced_fits: dict[bool, dict] = {}  # lamp-free Cox fits, per panel (all / test half)
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
        # Each hypothesis gets its own bootstrap stream, keyed by its id (not its position),
        # so adding or reordering hypotheses does not change the others' intervals.
        seed = int(
            np.random.SeedSequence([s.seed, zlib.crc32(hyp.id.encode())]).generate_state(1)[0]
        )
        if hyp.threshold is None:  # suggested: choose on one half, test on the other
            if split is None:
                split = _split(panel, s.seed)
            part, rows, test, sizes = split
            choice, curve = _choose_threshold(
                part, part[hyp.indicator].to_numpy(dtype=float), hyp, s, seed
            )
            rec["threshold_tuning"] = sizes
        else:  # configured in hypotheses.yaml: every account, no curve
            choice = {"threshold": hyp.threshold, "source": "configured", "rule": None, "ci": None}
            curve = pd.DataFrame()
            rows, test = np.ones(len(panel), bool), panel
        rec.update(
            threshold=choice["threshold"], threshold_source=choice["source"],
            threshold_rule=choice["rule"], threshold_ci=choice["ci"],
        )  # fmt: skip
        if len(curve):
            curves.append(curve.assign(id=hyp.id))
        if choice["threshold"] is None:
            rec.update(
                verdict=INCONCLUSIVE, verdict_reason=f"no usable threshold: {choice['rule']}"
            )
            continue
        thr = choice["threshold"]
        values = test[hyp.indicator].to_numpy(dtype=float)
        perf = performance(
            build_scan(test, values, hyp.direction, np.array([thr]), s.horizon_weeks)
        ).iloc[0]
        rec.update(
            lift=perf["lift"], precision=perf["precision"], recall=perf["recall"],
            rate_off=perf["rate_off"], lamp_on_share=perf["lamp_on_share"],
            median_warning_weeks=perf["median_warning_weeks"],
        )  # fmt: skip
        lamp_cache[hyp.id] = (hyp.direction, thr, rows)
        prof = lead_profile(
            test, hyp.indicator, hyp.direction, thr, s.lags, adjust[rows], adjust_names,
            s.min_events, s.min_accounts, with_glm=s.with_glm,
            min_state_events=s.min_state_events,
            reduced_cache=reduced_fits.setdefault(hyp.threshold is None, {}),
        )  # fmt: skip
        prof["problem"] = [_clean_problem(p, thr) for p in prof["problem"]]
        profiles[hyp.id] = prof
        now = lamp(values, hyp.direction, thr)
        km, tests = landmark_km(test, now, s.landmark_weeks, s.landmark_follow_weeks)
        rec["landmark_tests"] = tests
        if len(km):
            kms.append(km.assign(id=hyp.id))

    # Two-level false-discovery control: hypotheses first, then lags within the selected ones.
    ids = list(profiles)
    fam_p, fam_q, lag_q = two_level_qvalues(
        [profiles[h]["p_value"].to_numpy(dtype=float) for h in ids], s.fdr_alpha
    )
    by_id = {r["id"]: r for r in records}
    for h, fp, fq, q in zip(ids, fam_p, fam_q, lag_q, strict=True):
        profiles[h]["q_value"] = q
        by_id[h].update(hypothesis_p_value=fp, hypothesis_q_value=fq)

    chosen_lamps: dict[str, np.ndarray] = {}
    chosen_lags: dict[str, int] = {}
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
            {k: r[k] for k in ("lag_weeks", "hazard_ratio", "ci_low", "ci_high", "p_value", "wald_p_value",
                               "q_value", "coef", "se", "n_rows", "n_accounts", "n_events",
                               "lamp_on_share", "problem")}
            for r in prof.to_dict("records")
        ]  # fmt: skip
        rec["glm_check"] = _glm_summary(prof, best)
        if verdict != INCONCLUSIVE:
            lag = int(head["lag_weeks"])
            direction, thr, tested = lamp_cache[hid]
            x = lamp(lag_within_account(panel, hyp.indicator, lag), direction, thr)
            keep = np.isfinite(x) & tested
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
