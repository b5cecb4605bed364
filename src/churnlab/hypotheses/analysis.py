"""Test every hypothesis on the panel: threshold, lamp performance, lead profile, GLM
cross-check, FDR, verdict, PH check, landmark KM, combined model. Pure: DataFrames and
values in, a result dict and report tables out."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnlab.health.alerts import confirm_lamp
from churnlab.hypotheses.alert_budget import (
    bootstrap_budget_threshold,
    build_budget_scan,
    choose_threshold,
    curve_from_scan,
)
from churnlab.hypotheses.alert_policy import choose_policy, policy_curve, policy_grid
from churnlab.hypotheses.case_cohort import CaseCohortSample, case_cohort_sample, use_case_cohort
from churnlab.hypotheses.combined import combined_model
from churnlab.hypotheses.design import (
    adjustment_columns,
    attribute_lamp,
    churn_within,
    lag_within_spell,
    lamp,
    sort_keys,
    subject_codes,
)
from churnlab.hypotheses.family import apply_verdict, family_qvalues, label_verdict
from churnlab.hypotheses.lamp_alerts import alert_frame, calendar_weeks, lamp_alerts
from churnlab.hypotheses.lamp_perf import (
    bootstrap_threshold,
    build_scan,
    candidate_thresholds,
    performance,
    pick_threshold,
)
from churnlab.hypotheses.landmark import landmark_km
from churnlab.hypotheses.lead import (
    MODEL_VARIANCE,
    ROBUST_VARIANCE,
    lead_profile,
    repeated_spells,
)
from churnlab.hypotheses.ph_check import ph_interaction
from churnlab.hypotheses.spec import Hypothesis
from churnlab.hypotheses.subject_frame import subject_frame
from churnlab.hypotheses.verdict import INCONCLUSIVE, NOT_TESTABLE, VERDICTS
from churnlab.progress import progress


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
    # alert budget for suggested risk thresholds (alert_budget.choose_threshold)
    max_share_lit: float = 0.2
    min_lightings: int = 20
    budget_objective: str = "chi_square"
    # the lamp as an alert: on-/off-delays tried, and the lift a delay must buy (alert_policy)
    alert_on_weeks: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    alert_off_weeks: list[int] = field(default_factory=lambda: [1, 2, 4])
    alert_min_lift: float = 2.0
    # independent hypotheses in this many forked worker processes (1 = in this process)
    workers: int = 1
    # the lead profile's Cox fits: full cohort or a case-cohort sample (case_cohort.py)
    sampling_design: str = "auto"
    sampling_max_rows: int = 5_000_000
    subcohort_fraction: float = 0.5


@dataclass
class Results:
    hypotheses: list[dict]
    combined_model: dict
    tables: dict[str, pd.DataFrame]


# budget_curve columns whose names lamp_perf's curve already uses with a per-week meaning
BUDGET_RENAMED = {
    "precision": "lighting_precision",
    "lift": "lighting_lift",
    "base_rate": "lighting_base_rate",
    "median_warning_weeks": "lighting_median_warning_weeks",
}


def _choose_threshold(
    panel: pd.DataFrame,
    values: np.ndarray,
    hyp: Hypothesis,
    s: Settings,
    seed: int,
    weeks: np.ndarray,
    subjects: np.ndarray,
) -> tuple[dict, pd.DataFrame]:
    """`suggest`: scan the candidates on `panel` (the tuning half), pick by the stated rule,
    bootstrap interval. `weeks` / `subjects`: calendar week number and subject (account +
    spell) code per row of `panel`.

    A risk lamp's threshold is chosen under the alert budget (`alert_budget.choose_threshold`:
    at most `max_share_lit` of account-weeks lit, >= `min_lightings` lightings, median warning
    of a lighting >= `min_actionable_lead_weeks`, the best `budget_objective`); when nothing
    fits, `lamp_perf.pick_threshold` (sharpest split) chooses and `rule` says why. An
    opportunity keeps `pick_threshold`. Returns the choice ({threshold, source, rule, method,
    ci}) and one curve over the candidates: lamp_perf's columns, the budget curve's (see
    BUDGET_RENAMED), `chosen` and `chosen_by`."""
    cands = candidate_thresholds(values)
    if len(cands) == 0:
        return {
            "threshold": None,
            "source": "suggested",
            "rule": "indicator has a single value"
            if np.isfinite(values).any()
            else "indicator has no values",
            "method": None,
            "ci": None,
        }, pd.DataFrame()
    scan = build_scan(panel, values, hyp.direction, cands, s.horizon_weeks, subjects)
    perf = performance(scan)
    budget = build_budget_scan(
        values, cands, hyp.direction, churn_within(subject_frame(panel, subjects), s.horizon_weeks),
        subjects, weeks, panel["event"].to_numpy(), s.horizon_weeks,
        account=panel["account_id"].to_numpy(),
    )  # fmt: skip
    bcurve = curve_from_scan(budget)
    rules = dict(
        max_share_lit=s.max_share_lit, min_warning_weeks=s.min_actionable_lead_weeks,
        min_lightings=s.min_lightings, objective=s.budget_objective,
    )  # fmt: skip
    idx, why = (None, None)
    if hyp.kind == "risk":
        idx, why = choose_threshold(bcurve.assign(chi_square=perf["chi_square"]), **rules)
    if idx is not None:
        method, rule = "alert budget", f"alert budget: {why}"
    else:
        idx, rule = pick_threshold(
            perf, s.threshold_min_recall, s.min_actionable_lead_weeks, hyp.kind
        )
        method = "sharpest split" if hyp.kind == "risk" else "lowest lift"
        if why is not None:
            rule = f"{rule} (the alert budget found nothing: {why})"
    curve = perf.join(bcurve.drop(columns=["threshold", "chosen"]).rename(columns=BUDGET_RENAMED))
    curve["chosen"] = curve.index == idx
    curve["chosen_by"] = method if idx is not None else None
    if idx is None:
        return {
            "threshold": None, "source": "suggested", "rule": rule, "method": None, "ci": None,
        }, curve  # fmt: skip
    if method == "alert budget":
        lo, hi = bootstrap_budget_threshold(budget, s.bootstrap_reps, seed, **rules, perf_scan=scan)
    else:
        lo, hi = bootstrap_threshold(
            scan, s.threshold_min_recall, s.min_actionable_lead_weeks, s.bootstrap_reps, seed,
            hyp.kind,
        )  # fmt: skip
    ci = None if lo is None else [lo, hi]
    return {
        "threshold": float(cands[idx]), "source": "suggested", "rule": rule, "method": method,
        "ci": ci,
    }, curve  # fmt: skip


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
        threshold_rule=None, threshold_ci=None, threshold_tuning=None, lamp_rule=None, lift=None,
        precision=None, recall=None,
        rate_off=None, lamp_on_share=None, median_warning_weeks=None, n_accounts=0, n_events=0,
        landmark_tests=[], hypothesis_p_value=None, hypothesis_q_value=None,
        threshold_method=None, alerts=None, verdict_label=None, warning_weeks_basis=None,
        verdict_warning_weeks=None, alert_policy=None, cox_variance=None,
    )  # fmt: skip
    if hyp.is_attribute:
        rec["values_not_in_data"] = []
    return rec


def _clean_problem(problem: str | None, threshold: float | None) -> str | None:
    if problem and problem.startswith("constant covariate: lamp"):
        if threshold is None:
            return "the lamp never changes (always on or always off)"
        return f"the lamp never changes at threshold {threshold:g} (always on or always off)"
    return problem


def panel_reason(panel: pd.DataFrame) -> str | None:
    """Why no hypothesis can be tested on this panel at all (None if one can): no rows, or no
    churn - with nothing to compare, a lamp is `not testable`, not `inconclusive`."""
    if panel.empty:
        return "the panel has no rows"
    if int(panel["event"].sum()) == 0:
        return (
            "no churn in the panel (no spell ends in churn before as_of): nothing to test against"
        )
    return None


def indicator_reason(panel: pd.DataFrame, indicator: str, meta_reason: str | None) -> str | None:
    """Why an indicator hypothesis is `not testable` (None if it is testable): the panel meta
    says so (e.g. its table is missing, a snapshot has no events), the column is absent, the
    panel has nothing to test against, or the indicator has fewer than two values."""
    if meta_reason:
        return meta_reason
    if indicator not in panel.columns:
        return "indicator not in the panel"
    reason = panel_reason(panel)
    if reason:
        return reason
    values = panel[indicator].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return "indicator has no values in the data"
    if values.min() == values.max():
        return f"indicator has one value in the data ({values[0]:g})"
    return None


def attribute_reason(
    panel: pd.DataFrame, hyp: Hypothesis, lamp_now: np.ndarray | None, missing: list[str]
) -> str | None:
    """Why an attribute hypothesis is `not testable` (None if it is testable). Listed values
    that do not occur are not an error: the lamp uses the ones that do (the record lists the
    others in `values_not_in_data`); if none occurs, or the lamp cannot vary, it is not
    testable and the reason lists the values the data has."""
    col = hyp.attribute
    if col not in panel.columns:
        return f"column '{col}' is not in the panel"
    reason = panel_reason(panel)
    if reason or lamp_now is None:
        return reason
    levels = sorted({str(v).strip() for v in panel[col].dropna()}, key=str.casefold)
    shown = ", ".join(f"'{v}'" for v in levels[:20]) + (" ..." if len(levels) > 20 else "")
    if not levels:
        return f"'{col}' has no values in the data"
    if len(levels) == 1:
        return f"'{col}' has one value in the data ({shown})"
    if len(missing) == len(hyp.values or ()):
        return f"none of the values occur in '{col}' (the data has {shown})"
    known = lamp_now[np.isfinite(lamp_now)]
    if known.min() == known.max():
        return (
            f"the lamp is on for every account with a known '{col}': the values cover every "
            f"value in the data ({shown})"
        )
    return None


@dataclass
class _Lamp:
    """How a tested hypothesis' lamp is rebuilt at any lag for the PH check and the combined
    model: `source` (panel column or per-row values) compared with direction / threshold."""

    source: str | np.ndarray
    direction: str
    threshold: float
    # rows it is tested on (all, or the test half; "all" / "test" when sent from a worker)
    rows: np.ndarray | str
    adjusters: np.ndarray  # bool mask of adjustment columns used (attribute: not its own)


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
    """`testable`: indicator id -> None if testable, else the reason it is not (panel meta).

    The panel may hold several spells per account (column `spell`, CONTRACTS §3 v2): each
    spell is its own subject at risk from its start (Cox / KM / lags / horizons), while the
    threshold split and the bootstraps resample whole accounts. The lead profile's Cox SEs
    are clustered on account when an account has several spells in the rows tested (each
    record's `cox_variance`; `lead.lead_profile` says why not otherwise); the GLM
    cross-check's always are."""
    with _one_blas_thread():
        return _run(panel, hypotheses, testable, s)


@dataclass
class _Shared:
    """What every hypothesis reads and none changes, built once before the hypotheses run
    (and before worker processes fork, so they share it copy-on-write): the sorted panel,
    its model columns, the random threshold split and the case-cohort samples."""

    panel: pd.DataFrame
    testable: dict[str, str | None]
    s: Settings
    adjust: np.ndarray
    adjust_names: list[str]
    adjust_sources: list[str]
    weeks: np.ndarray
    subjects: np.ndarray
    split: tuple | None  # (tuning panel, test-row mask, test panel, sizes)
    # case-cohort sample of the whole panel ("all") and of the test half ("test"), or None
    samples: dict[str, CaseCohortSample | None]
    # does an account hold several spells in the whole panel ("all") / the test half
    # ("test")? Then the lead profile's Cox variance is clustered on account
    robust: dict[str, bool]
    # the subject frame the lags are taken on (subject_frame) and, with repeated spells, the
    # account code per row that the PH check and the combined model cluster on (else None)
    light: pd.DataFrame | None = None
    accounts: np.ndarray | None = None
    # lamp-free Cox fits, per panel and adjuster set (lead._reduced_loglik); a forked worker
    # fills its own copy
    reduced: dict = field(default_factory=dict)


@dataclass
class _Outcome:
    """One hypothesis' results, merged in the hypotheses' order. `lamp.rows` is "all" or
    "test" (the test half's mask is rebuilt from the shared split, not sent back)."""

    rec: dict
    profile: pd.DataFrame | None = None
    curve: pd.DataFrame | None = None
    km: pd.DataFrame | None = None
    policy: pd.DataFrame | None = None
    lamp: _Lamp | None = None


def _prepare(
    panel: pd.DataFrame, hypotheses: list[Hypothesis], testable: dict, s: Settings
) -> _Shared:
    adjust, adjust_names, adjust_sources = adjustment_columns(panel, s.adjust_for)
    # the split is a pure function of the seed and the accounts: made up front whenever an
    # indicator hypothesis may need it (a suggested threshold or an alert-design grid)
    grid = policy_grid(s.alert_on_weeks, s.alert_off_weeks)
    indicators = [h for h in hypotheses if not h.is_attribute]
    need = any(h.threshold is None for h in indicators) or (indicators and len(grid) > 1)
    split = _split(panel, s.seed) if need and panel_reason(panel) is None else None
    samples: dict[str, CaseCohortSample | None] = {"all": None, "test": None}
    if use_case_cohort(s.sampling_design, len(panel), s.sampling_max_rows):
        for name, frame in (("all", panel), ("test", split[2] if split else None)):
            if frame is not None and len(frame):
                samples[name] = case_cohort_sample(
                    frame["account_id"].to_numpy(), frame["event"].to_numpy(),
                    s.subcohort_fraction, s.seed,
                )  # fmt: skip
    subjects = subject_codes(panel)
    robust = {"all": repeated_spells(panel, subjects), "test": False}
    if split is not None:
        robust["test"] = repeated_spells(split[2], subjects[split[1]])
    # repeated spells: the PH check and the combined model cluster on account as the lead
    # profile does (one account's spells are not independent); else model-based, unchanged
    accounts = pd.factorize(panel["account_id"])[0] if robust["all"] else None
    return _Shared(
        panel, testable, s, adjust, adjust_names, adjust_sources, calendar_weeks(panel),
        subjects, split, samples, robust, subject_frame(panel, subjects), accounts,
    )  # fmt: skip


# The shared inputs of the running hypotheses stage, set before worker processes fork (a
# forked worker reads its parent's copy; nothing is pickled but the task and its result).
_SHARED: _Shared | None = None
_HYPOTHESES: list[Hypothesis] = []


def _work(i: int) -> _Outcome:
    assert _SHARED is not None
    return _one_hypothesis(_HYPOTHESES[i], _SHARED)


def _ph_work(task: tuple[_Lamp, int]) -> dict:
    assert _SHARED is not None
    return _ph_check(_SHARED, *task)


def _worker_start() -> None:
    # the worker keeps one BLAS thread (the parent's limit is set again after fork: OpenBLAS
    # threads do not survive a fork)
    global _BLAS_LIMIT
    _BLAS_LIMIT = _one_blas_thread()
    _BLAS_LIMIT.__enter__()


_BLAS_LIMIT = None


@contextlib.contextmanager
def _worker_pool(shared: _Shared, hypotheses: list[Hypothesis], workers: int):
    """`workers` forked processes sharing `shared` copy-on-write (None: work in this process,
    for workers <= 1, one hypothesis, or no fork start method). The pool lives through both
    parallel phases - the hypotheses, then the PH checks - so it forks once."""
    global _SHARED, _HYPOTHESES
    workers = min(workers, len(hypotheses))
    if workers <= 1 or "fork" not in mp.get_all_start_methods():
        yield None
        return
    _SHARED, _HYPOTHESES = shared, hypotheses
    try:
        with mp.get_context("fork").Pool(workers, initializer=_worker_start) as pool:
            yield pool
    finally:
        _SHARED, _HYPOTHESES = None, []


def _outcomes(shared: _Shared, hypotheses: list[Hypothesis], pool) -> list[_Outcome]:
    """Every hypothesis' outcome, in the hypotheses' order. With a pool (`_worker_pool`) they
    run in its processes, which share the panel copy-on-write and receive only a hypothesis'
    index; each result depends only on the shared inputs and the hypothesis' own seed, so
    the outcomes are the same as in one process, bit for bit."""
    if pool is None:
        return [
            _one_hypothesis(h, shared)
            for h in progress(hypotheses, desc="hypotheses", unit="hypothesis")
        ]
    outcomes = pool.imap(_work, range(len(hypotheses)), chunksize=1)
    return list(progress(outcomes, total=len(hypotheses), desc="hypotheses", unit="hypothesis"))


def _ph_check(sh: _Shared, lp: _Lamp, lag: int) -> dict:
    """A verdict's PH check (`ph_check.ph_interaction`) at its best lag, on the rows the lamp
    was tested on; reads `sh` only, so it runs in any process."""
    panel = sh.panel
    src = panel[lp.source].to_numpy(float) if isinstance(lp.source, str) else lp.source
    x = lamp(lag_within_spell(sh.light, src, lag), lp.direction, lp.threshold)
    keep = np.isfinite(x) & _rows_mask(sh, lp.rows)
    ph = ph_interaction(
        panel["start"].to_numpy(float)[keep], panel["stop"].to_numpy(float)[keep],
        (panel["event"].to_numpy() == 1)[keep], x[keep], sh.adjust[:, lp.adjusters][keep],
        cluster=None if sh.accounts is None else sh.accounts[keep],
    )  # fmt: skip
    return {
        "lag_weeks": lag, "method": "lamp x log(tenure) interaction",
        "cox_variance": MODEL_VARIANCE if sh.accounts is None else ROBUST_VARIANCE, **ph,
    }  # fmt: skip


def _rows_mask(sh: _Shared, rows: np.ndarray | str) -> np.ndarray:
    # a lamp's rows as sent from a worker: "all" or "test" (the shared split's test half)
    if isinstance(rows, str):
        return np.ones(len(sh.panel), bool) if rows == "all" else sh.split[1]
    return rows


def _one_hypothesis(hyp: Hypothesis, sh: _Shared) -> _Outcome:
    """Test one hypothesis on the shared inputs: threshold, lamp performance, lead profile,
    alerts, landmark KM (the verdict needs every hypothesis' p-values: see `_run`). Reads
    `sh` only, so hypotheses can run in any order or process."""
    panel, s, subjects, weeks = sh.panel, sh.s, sh.subjects, sh.weeks
    rec = _base_record(hyp)
    out = _Outcome(rec)
    if hyp.is_attribute:
        col = hyp.attribute
        now, missing = (
            attribute_lamp(panel, col, hyp.values) if col in panel.columns else (None, [])
        )
        rec["values_not_in_data"] = missing
        rec["lamp_rule"] = f"{col} in [{', '.join(hyp.values or ())}]"
        reason = attribute_reason(panel, hyp, now, missing)
        if reason:
            rec.update(verdict=NOT_TESTABLE, verdict_reason=reason)
            return out
        assert now is not None
        used = np.array([src != col for src in sh.adjust_sources], bool)
        _test_attribute(
            rec, hyp, panel, now, sh.adjust[:, used], [n for n, u in zip(sh.adjust_names, used,
            strict=True) if u], s, out, sh.reduced.setdefault(("attribute", col), {}), subjects,
            sh.samples["all"], sh.robust["all"],
        )  # fmt: skip
        out.lamp = _Lamp(now, "high", 0.5, "all", used)
        rec["alerts"] = lamp_alerts(alert_frame(panel, subjects), now, s.horizon_weeks)
        return out
    reason = indicator_reason(panel, hyp.indicator, sh.testable.get(hyp.indicator))
    if reason:
        rec.update(verdict=NOT_TESTABLE, verdict_reason=reason)
        return out
    # Each hypothesis gets its own bootstrap stream, keyed by its id (not its position),
    # so adding or reordering hypotheses does not change the others' intervals.
    seed = int(np.random.SeedSequence([s.seed, zlib.crc32(hyp.id.encode())]).generate_state(1)[0])
    split = sh.split
    if hyp.threshold is None:  # suggested: choose on one half, test on the other
        part, rows, test, sizes = split
        choice, curve = _choose_threshold(
            part, part[hyp.indicator].to_numpy(dtype=float), hyp, s, seed, weeks[~rows],
            subjects[~rows],
        )  # fmt: skip
        rec["threshold_tuning"] = sizes
        half, sample = "test", sh.samples["test"]
    else:  # configured in hypotheses.yaml: every account, no curve
        choice = {"threshold": hyp.threshold, "source": "configured", "rule": None,
                  "method": "configured", "ci": None}  # fmt: skip
        curve = pd.DataFrame()
        rows, test = np.ones(len(panel), bool), panel
        half, sample = "all", sh.samples["all"]
    rec.update(
        threshold=choice["threshold"], threshold_source=choice["source"],
        threshold_rule=choice["rule"], threshold_ci=choice["ci"],
        threshold_method=choice["method"],
    )  # fmt: skip
    if len(curve):
        out.curve = curve.assign(id=hyp.id)
    if choice["threshold"] is None:
        rec.update(verdict=INCONCLUSIVE, verdict_reason=f"no usable threshold: {choice['rule']}")
        return out
    thr = choice["threshold"]
    rec["lamp_rule"] = f"{hyp.indicator} {'<' if hyp.direction == 'low' else '>'} {thr:g}"
    values = test[hyp.indicator].to_numpy(dtype=float)
    _performance(rec, test, values, hyp.direction, thr, s.horizon_weeks, subjects[rows])
    out.lamp = _Lamp(hyp.indicator, hyp.direction, thr, half, np.ones(len(sh.adjust_names), bool))
    # the lamp-free fits: cached per process (a pure function of the rows kept, so a worker's
    # own cache gives the same numbers as one shared by every hypothesis)
    prof = lead_profile(
        test, hyp.indicator, hyp.direction, thr, s.lags, sh.adjust[rows], sh.adjust_names,
        s.min_events, s.min_accounts, with_glm=s.with_glm,
        min_state_events=s.min_state_events,
        reduced_cache=sh.reduced.setdefault(hyp.threshold is None, {}), subjects=subjects[rows],
        sample=sample, robust=sh.robust[half],
    )  # fmt: skip
    rec["cox_variance"] = _variance_used(sample, sh.robust[half])
    prof["problem"] = [_clean_problem(p, thr) for p in prof["problem"]]
    out.profile = prof
    if sample is not None:
        rec["sampling"] = _sampling_record(sample, len(test))
    now = lamp(values, hyp.direction, thr)
    grid = policy_grid(s.alert_on_weeks, s.alert_off_weeks)
    # the alert design is chosen on the tuning half and measured on the other (both halves
    # need rows: a one-account panel has none to choose on)
    if len(grid) > 1 and len(split[0]) and len(split[2]):
        rec["alert_policy"], out.policy = _alert_policy(hyp, thr, split, weeks, subjects, s)
        _, t_rows, t_panel, _ = split
        on, off = rec["alert_policy"]["on_weeks"], rec["alert_policy"]["off_weeks"]
        t_now = lamp(t_panel[hyp.indicator].to_numpy(dtype=float), hyp.direction, thr)
        lit = confirm_lamp(t_now, subjects[t_rows], weeks[t_rows], on, off)
        rec["alerts"] = lamp_alerts(alert_frame(t_panel, subjects[t_rows]), lit, s.horizon_weeks)
    else:
        # as the CSM sees it: the lamp read at week start (lag 0), on the accounts tested
        rec["alerts"] = lamp_alerts(alert_frame(test, subjects[rows]), now, s.horizon_weeks)
    km, tests = landmark_km(
        test, now, s.landmark_weeks, s.landmark_follow_weeks, subjects=subjects[rows]
    )
    rec["landmark_tests"] = tests
    if len(km):
        out.km = km.assign(id=hyp.id)
    return out


def _variance_used(sample: CaseCohortSample | None, robust: bool) -> str:
    """A record's `cox_variance`: a case-cohort sample is always fitted with the robust
    variance (its weights need it); the full cohort when an account has several spells."""
    return ROBUST_VARIANCE if sample is not None or robust else MODEL_VARIANCE


def _sampling_record(sample: CaseCohortSample, n_rows: int) -> dict:
    return {
        **sample.describe(n_rows),
        "p_value": "robust Wald test (a likelihood-ratio test is not valid for the weighted "
        "pseudo-likelihood of a case-cohort sample)",
        "glm_check": "fitted on the same sampled rows with the same weights (design-weighted "
        "cloglog GLM, sandwich variance clustered on account)",
    }


def _run(
    panel: pd.DataFrame,
    hypotheses: list[Hypothesis],
    testable: dict[str, str | None],
    s: Settings,
) -> Results:
    keys = sort_keys(panel)
    key = panel[keys]
    if not (key.equals(key.sort_values(keys, kind="stable"))):
        panel = panel.sort_values(keys, kind="stable").reset_index(drop=True)
    shared = _prepare(panel, hypotheses, testable, s)
    with _worker_pool(shared, hypotheses, s.workers) as pool:
        return _run_shared(shared, hypotheses, s, pool)


def _run_shared(shared: _Shared, hypotheses: list[Hypothesis], s: Settings, pool) -> Results:
    """The hypotheses (in `pool`'s processes, if any), the verdicts, the PH checks (in the
    pool again, while this process fits the combined model) and the report tables."""
    panel = shared.panel
    adjust, adjust_names = shared.adjust, shared.adjust_names
    all_adjusters = np.ones(len(adjust_names), bool)
    records, profiles, curves, kms, policies = [], {}, [], [], []
    lamps: dict[str, _Lamp] = {}  # tested hypotheses' lamps, rows "all" / "test" as sent
    for hyp, out in zip(hypotheses, _outcomes(shared, hypotheses, pool), strict=True):
        records.append(out.rec)
        for frames, frame in ((curves, out.curve), (kms, out.km), (policies, out.policy)):
            if frame is not None:
                frames.append(frame)
        if out.profile is not None:
            profiles[hyp.id] = out.profile
        if out.lamp is not None:
            lamps[hyp.id] = out.lamp

    # Two-level false-discovery control (hypotheses first, then lags within the selected
    # ones) and the verdicts: family.py holds the one copy of this step (the bench uses it).
    profiles, family = family_qvalues(profiles, s.fdr_alpha)
    by_id = {r["id"]: r for r in records}
    for h, (fp, fq) in family.items():
        by_id[h].update(hypothesis_p_value=fp, hypothesis_q_value=fq)

    light, start = shared.light, panel["start"].to_numpy(float)
    chosen_lamps: dict[str, np.ndarray] = {}
    chosen_lags: dict[str, int] = {}
    ph_tasks: list[tuple[dict, tuple[_Lamp, int]]] = []
    for hyp, rec in zip(hypotheses, records, strict=True):
        if hyp.id not in profiles:  # not testable, or no usable threshold: no lead profile
            label_verdict(rec, hyp, s)
            continue
        lag = apply_verdict(rec, profiles[hyp.id], hyp, s)
        if rec["verdict"] != INCONCLUSIVE:
            lp = lamps[hyp.id]
            ph_tasks.append((rec, (lp, lag)))
            src = panel[lp.source].to_numpy(float) if isinstance(lp.source, str) else lp.source
            x = lamp(lag_within_spell(light, src, lag), lp.direction, lp.threshold)
            # Combined model: a lamp whose indicator has no value is off (nothing to show the
            # CSM); only rows before the lag reaches back into the spell's history are unknown.
            seen = np.isfinite(lag_within_spell(light, start, lag))
            chosen_lamps[hyp.id] = np.where(seen, np.nan_to_num(x, nan=0.0), np.nan)
            chosen_lags[hyp.id] = lag
    # the PH checks are independent fits: in the workers, while this process fits the
    # combined model (issue 17: the serial tail after the hypotheses)
    tasks = [task for _, task in ph_tasks]
    pending = pool.map_async(_ph_work, tasks, chunksize=1) if pool is not None else None

    # The combined model leaves out the adjusters of any attribute that is itself a lamp there
    # (its dummies would duplicate the lamp).
    combined_adjusters = all_adjusters.copy()
    for h in chosen_lamps:
        combined_adjusters &= lamps[h].adjusters
    combined = combined_model(
        panel, chosen_lamps, chosen_lags, adjust[:, combined_adjusters],
        [n for n, u in zip(adjust_names, combined_adjusters, strict=True) if u],
        s.combined_penalizer, cluster=shared.accounts,
    )  # fmt: skip
    checks = pending.get() if pending is not None else [_ph_check(shared, *t) for t in tasks]
    for (rec, _), check in zip(ph_tasks, checks, strict=True):
        rec["ph_check"] = check
    tables = {
        "lead_profiles": _stack(profiles),
        "threshold_curves": _front(pd.concat(curves, ignore_index=True))
        if curves
        else pd.DataFrame(),
        "landmark_km": _front(pd.concat(kms, ignore_index=True)) if kms else pd.DataFrame(),
        "alert_policies": _front(pd.concat(policies, ignore_index=True))
        if policies
        else pd.DataFrame(),
    }
    assert all(r["verdict"] in VERDICTS for r in records)
    return Results(records, combined, tables)


def _alert_policy(
    hyp: Hypothesis,
    thr: float,
    split: tuple,
    weeks: np.ndarray,
    subjects: np.ndarray,
    s: Settings,
) -> tuple[dict, pd.DataFrame]:
    """The lamp's alert design (`alert_policy`): every on-/off-delay of the grid judged on
    the tuning half, the design chosen there by `choose_policy`, and the same curve on the
    test half (the trade-off the report shows: precision vs churners warned vs warning).
    Returns the record's `alert_policy` dict and both curves stacked (columns `id`, `half`
    and POLICY_COLUMNS), whatever the threshold's source (a configured threshold is tested on
    every account, but its alert design is still chosen on one half and measured on the
    other)."""
    part, test_rows, test, sizes = split
    grid = policy_grid(s.alert_on_weeks, s.alert_off_weeks)
    curves = {}
    for half, frame, mask in (("tuning", part, ~test_rows), ("test", test, test_rows)):
        raw = lamp(frame[hyp.indicator].to_numpy(dtype=float), hyp.direction, thr)
        curves[half] = policy_curve(
            raw, subjects[mask], weeks[mask], frame["event"].to_numpy(),
            churn_within(subject_frame(frame, subjects[mask]), s.horizon_weeks),
            s.horizon_weeks, grid,
            account=frame["account_id"].to_numpy(),
        )  # fmt: skip
    idx, rule = choose_policy(
        curves["tuning"], s.alert_min_lift, s.min_actionable_lead_weeks, s.min_lightings,
        s.max_share_lit,
    )  # fmt: skip
    for c in curves.values():
        c["chosen"] = c.index == idx
    on, off = (int(curves["tuning"].loc[idx, k]) for k in ("on_weeks", "off_weeks"))
    keep = ["on_weeks", "off_weeks", "share_lit", "precision", "lift", "churners_warned_share",
            "median_warning_weeks", "lightings_known", "chosen"]  # fmt: skip
    tradeoff = curves["test"][keep].to_dict("records")
    policy = {
        "on_weeks": on,
        "off_weeks": off,
        "rule": rule,
        "min_lift": s.alert_min_lift,
        "chosen_on": f"tuning half ({sizes['tuning_accounts']} accounts)",
        "measured_on": f"test half ({sizes['test_accounts']} accounts)",
        "tradeoff_test_half": [{k: _plain(v) for k, v in r.items()} for r in tradeoff],
    }
    stacked = pd.concat([c.assign(half=h) for h, c in curves.items()], ignore_index=True).assign(
        id=hyp.id
    )
    return policy, stacked[["id", "half", *curves["test"].columns]]


def _plain(v):
    # JSON-ready scalars (numpy ints / bools / floats)
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    return float(v) if isinstance(v, np.floating | float) else v


def _performance(
    rec: dict,
    panel: pd.DataFrame,
    values: np.ndarray,
    direction: str,
    thr: float,
    horizon: int,
    subjects: np.ndarray | None = None,
) -> None:
    scan = build_scan(panel, values, direction, np.array([thr]), horizon, subjects)
    perf = performance(scan).iloc[0]
    rec.update(
        lift=perf["lift"], precision=perf["precision"], recall=perf["recall"],
        rate_off=perf["rate_off"], lamp_on_share=perf["lamp_on_share"],
        median_warning_weeks=perf["median_warning_weeks"],
    )  # fmt: skip


def _test_attribute(
    rec: dict,
    hyp: Hypothesis,
    panel: pd.DataFrame,
    now: np.ndarray,
    adjust: np.ndarray,
    adjust_names: list[str],
    s: Settings,
    out: _Outcome,
    reduced_cache: dict,
    subjects: np.ndarray | None = None,
    sample: CaseCohortSample | None = None,
    robust: bool = False,
) -> None:
    """An attribute hypothesis: no threshold to choose, so every account is used. The lamp is
    read in the same week (lag 0 only: an attribute is known from the spell's first week, and
    lagging a static value would only drop each spell's first weeks). Cox adjusts for
    `adjust_for` minus the attribute itself. The Kaplan-Meier groups are fixed at the spell's
    start (landmark week 0, whole follow-up) - no immortal-time bias for a value known then."""
    _performance(rec, panel, now, "high", 0.5, s.horizon_weeks, subjects)
    prof = lead_profile(
        panel, now, "high", 0.5, [0], adjust, adjust_names, s.min_events, s.min_accounts,
        with_glm=s.with_glm, min_state_events=s.min_state_events, reduced_cache=reduced_cache,
        subjects=subjects, sample=sample, robust=robust,
    )  # fmt: skip
    rec["cox_variance"] = _variance_used(sample, robust)
    prof["problem"] = [_clean_problem(p, None) for p in prof["problem"]]
    out.profile = prof
    if sample is not None:
        rec["sampling"] = _sampling_record(sample, len(panel))
    follow = int(panel["stop"].max())
    km, tests = landmark_km(panel, now, [0], follow, subjects=subjects)
    rec["landmark_tests"] = tests
    if len(km):
        out.km = km.assign(id=hyp.id)


def _front(df: pd.DataFrame) -> pd.DataFrame:
    return df[["id"] + [c for c in df.columns if c != "id"]]


def _stack(profiles: dict[str, pd.DataFrame]) -> pd.DataFrame:
    if not profiles:
        return pd.DataFrame()
    return _front(pd.concat([p.assign(id=h) for h, p in profiles.items()], ignore_index=True))
