"""`churnlab health-score`: fit the health score on early weeks, validate it on later weeks
against a tenure + plan baseline, score every account-week and list this week's lamps.

Reads data/processed/panel.parquet (+ panel_meta.json for as_of), models/hypotheses.json,
the hypotheses YAML (actions, kinds) and data/interim/{accounts,contracts,csm_assignments}.
Writes models/health_score.json, data/processed/health_scores.parquet,
reports/action_list.csv, reports/opportunity_list.csv and metrics/health_score.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from churnlab.config import base_path, metrics_path
from churnlab.errors import UserError
from churnlab.health.actions import (
    OPPORTUNITY_COLUMNS,
    account_context,
    current_contracts,
    current_csm,
    lamp_rows,
    to_csv_text,
)
from churnlab.health.calibration import (
    CLOSED_TEST,
    band_calibration,
    calibration_metrics,
    calibration_split,
    heldout_recalibration,
    recalibrate,
    select_recalibration,
)
from churnlab.health.calibration import (
    METHOD as RECALIBRATION_METHOD,
)
from churnlab.health.lamps import LEADS, lamp_table, score_lamps, subject_keys
from churnlab.health.model import (
    RENEWAL_COLUMN,
    fit_hazard,
    horizon_probability_path,
    make_design,
    raw_features,
)
from churnlab.health.score import BANDS, MATURITY_LEVELS, band, band_cutoffs, health_score, maturity
from churnlab.health.validation import (
    PairCounter,
    bootstrap_metrics,
    calibration_table,
    horizon_labels,
    paired_difference,
    split_week,
    top_decile_lift,
)
from churnlab.health.worklist import (
    Worklist,
    indicator_wording,
    lamp_state,
    lit_lamps_now,
    weekly_worklist,
)
from churnlab.hypotheses.spec import DEFAULT_INDICATORS_FILE, KnownIndicators, load_hypotheses
from churnlab.io import read_json, write_json, write_metrics, write_parquet
from churnlab.reports.loaders import display_labels

PANEL_COLUMNS = ["account_id", "week_start", "event", "tenure_weeks", "billing_period", "mrr"]
# read when present: spells, the baseline's plan, the lists' segment, maturity's milestones
# and the renewal week; plus every hypothesis' indicator (`panel_columns`)
OPTIONAL_PANEL_COLUMNS = [
    "spell", "plan", "segment", "onboarding_complete", "goal_achieved", RENEWAL_COLUMN,
]  # fmt: skip


def panel_columns(available: list[str], lamps: pd.DataFrame) -> list[str]:
    """The panel columns this stage reads, in file order: the required ones, the optional
    ones present and the indicators of `lamps` present (issue 17: a 50k-account panel holds
    ~45 columns; reading only these roughly halves the stage's panel in memory)."""
    wanted = set(PANEL_COLUMNS) | set(OPTIONAL_PANEL_COLUMNS) | set(lamps["indicator"].dropna())
    return [c for c in available if c in wanted]


DEFINITIONS = {
    "model": "Discrete-time hazard GLM (binomial, complementary log-log link) on account-week "
    "rows: coefficients are log hazard ratios per week; SEs clustered on account.",
    "baseline": "Same model with tenure band + billing period (+ plan if present) and the "
    "renewal week only.",
    "renewal_week": "The weeks a term of the running contract ends (from weeks_to_renewal and "
    "the billing period: known in advance). When (almost) every training churn falls in such "
    "a week (fewer than 5 outside), only those weeks are at risk of churn (`model."
    "renewal_train.handling` = 'risk set', after Fader & Hardie 2007: in a contractual "
    "setting churn happens at renewal opportunities); when churn also happens in other weeks "
    "it is a 0/1 term `renewal_week` ('term'); without weeks_to_renewal in the panel, 'not "
    "used'. The horizon probability sums the hazards of the weeks in the horizon at risk.",
    "score": "100 x (1 - P(churn within horizon_weeks)); 100 = healthiest. P = 1 - exp(-sum "
    "over the next H weeks at risk of exp(eta_h)), where eta_h uses the covariates of week w+h "
    "as known at week w: tenure moves on; the renewal week follows the running contract's "
    "term ends; a lamp read at lag L uses its value from week w+h-L when that is not in the "
    "future, else its latest value.",
    "lamps": "One 0/1 term per hypothesis whose verdict is 'leads churn', read at its "
    "best_lag_weeks: on when the indicator is strictly below (low) / above (high) the "
    "threshold; unknown values count as off.",
    "bands": "red: P >= band_probabilities.red; amber: P >= band_probabilities.amber; "
    "else green, on the recalibrated P. `bands.validation` gives per band the mean predicted "
    "and the observed churn within the horizon on the validation weeks, with the observed "
    "value's 95% account-bootstrap interval and whether the prediction lies inside it.",
    "recalibration": "Logistic recalibration (Cox 1958): P = expit(a + b logit(p)). The "
    "validation model is fitted on the training weeks before a calibration slice (the latest "
    "health_score.calibration_weeks training weeks whose horizon ends before the split) and "
    "a, b are fitted on that slice, as far as the slice supports them: closed testing "
    "(Vergouwe et al., Stat Med 2017) keeps the predictions as they are, or recalibrates in "
    "the large (a only), unless a likelihood-ratio test at health_score.recalibration_alpha "
    "needs the fuller update (`update`, `tests`); `calibration` gives both models' a, b and "
    "weeks. The final model's slope is measured out of sample on a held-out slice and its "
    "intercept in sample (`calibration.final_rule`; `calibration.final_model.heldout`). "
    "validation.calibration_metrics: calibration-in-the-large (ideal 0) and slope (ideal 1) "
    "on the validation rows, before and after recalibration, with account-bootstrap "
    "intervals.",
    "observation_start": "First week in which churn can be observed (health_score."
    "observation_start, else the first panel week: the panel starts each account at its first "
    "contract, so every week is observed); earlier panel weeks are left out of fitting and "
    "validation.",
    "validation": "Fit on the first train_fraction of observed weeks (before split_week), "
    "score the later weeks. When that is impossible (no churn in the training weeks, e.g. a "
    "snapshot export dating every churn on the export day), the score is fitted on all "
    "observed weeks, not validated, and `validation.problem` says why. concordance = "
    "time-varying: each account churning in a week vs every account at risk that week (with "
    "the renewal week as the risk set: whose term also ends that week), by the weekly hazard. auc / lift / calibration = churn within the horizon, on validation "
    "rows whose whole horizon is observed. 95% intervals: percentile bootstrap over accounts.",
    "final_model": "After validation the same specification is refitted on all weeks "
    "(weights_final) and scores every week in health_scores.parquet and the action lists.",
    "maturity": "expansion = goal achieved; adoption = onboarding complete; else onboarding "
    "(tenure stands in where the milestone is unknown).",
    "action_list": "Latest week, one row per account x risk lamp on (lag 0), for hypotheses "
    "with a verdict in action_verdicts; mrr_at_risk = current MRR x churn_probability. Lamps "
    "and weeks_on are read on the account's latest spell only.",
    "spells": "Each spell of an account (panel column `spell`) is a run of consecutive weeks: "
    "lags, weeks_on and churn-within-horizon labels never reach across the gap before a "
    "reactivation.",
}

BASELINE_CAN = (
    "it ranks accounts by the churn risk of their tenure, billing period and plan, and cannot "
    "warn of a change in an account's behaviour"
)


def lamp_skip_reasons(train_fit, final_fit, used: pd.DataFrame) -> list[dict]:
    """{id, reason} for each readable lamp the model fits left out: by the validation model
    on the fitting weeks before the split, or by the final model on all observed weeks."""
    out = []
    for fit, when in ((train_fit, "training weeks"), (final_fit, "all observed weeks")):
        for d in fit.design.dropped:
            term = str(d["term"])
            if term.startswith("lamp:"):
                out.append({"id": term.removeprefix("lamp:"), "reason": f"{d['reason']} ({when})"})
    known = set(used["id"])
    return [x for x in out if x["id"] in known]


def score_message(
    snapshot: bool, lamps_in: list[str], skipped: list[dict], considered: list[str]
) -> str:
    """Which lamps enter the score and, for every hypothesis that leads churn and did not
    enter, the real reason."""
    if snapshot:
        return (
            "Snapshot export (accounts and contracts only, no usage data): the score is the "
            f"baseline, so {BASELINE_CAN}."
        )
    reasons = "; ".join(f"{x['id']}: {x['reason']}" for x in skipped)
    if lamps_in:
        names = ", ".join(t.removeprefix("lamp:") for t in lamps_in)
        out = f"{len(lamps_in)} lamp(s) from hypotheses that lead churn enter the score ({names})."
        if skipped:
            out += f" Left out: {reasons}."
        return out
    if not considered:
        return (
            "No hypothesis has the verdict 'leads churn', so the score is the baseline: "
            f"{BASELINE_CAN}; its validation compares the baseline with itself."
        )
    return (
        f"None of the {len(considered)} hypotheses with verdict 'leads churn' could enter the "
        f"score ({reasons}), so the score is the baseline: {BASELINE_CAN}; its validation "
        "compares the baseline with itself."
    )


def training_problem(
    panel: pd.DataFrame,
    observed: np.ndarray,
    train: np.ndarray,
    split: pd.Timestamp,
    train_fraction: float,
) -> str | None:
    """Why the score cannot be fitted on the training weeks and checked on later ones, in
    words naming the real cause (None when it can: the training weeks hold a churn)."""
    event = panel["event"].to_numpy()
    if event[train].sum() > 0:
        return None
    churn_weeks = panel.loc[observed & (event == 1), "week_start"]
    n = len(churn_weeks)
    if churn_weeks.nunique() == 1:
        return (
            f"all {n} churn events fall in the week of {churn_weeks.iloc[0].date()} (a "
            "snapshot export dates every churn on the export day), so the score cannot be fitted "
            "on earlier weeks and checked on later ones"
        )
    weeks = np.sort(panel.loc[observed, "week_start"].unique())
    first = churn_weeks.min()
    needed = (np.searchsorted(weeks, first.to_datetime64()) + 1) / len(weeks)
    return (
        f"no churn event in the training weeks {pd.Timestamp(weeks[0]).date()} to "
        f"{(split - pd.Timedelta(weeks=1)).date()} (the first {train_fraction:.0%} of observed "
        f"weeks); the first churn is in the week of {first.date()}: raise "
        f"health_score.train_fraction above {needed:.2f} or set health_score.observation_start"
    )


def validation_problem(
    panel: pd.DataFrame, valid: np.ndarray, complete: np.ndarray, y_h: np.ndarray, horizon: int
) -> str | None:
    """Why the out-of-time metrics cannot be computed, naming the real cause (None if they can)."""
    last = panel["week_start"].max()
    weeks_v = panel.loc[valid, "week_start"]
    first = weeks_v.min() if len(weeks_v) else last
    n_weeks = int(weeks_v.nunique())
    if not complete.any():
        return (
            f"the horizon of {horizon} weeks does not fit between the split week {first.date()} "
            f"and the last panel week {last.date()} ({n_weeks} validation weeks): no validation "
            "week has its whole horizon observed; lower health_score.horizon_weeks or "
            "health_score.train_fraction"
        )
    if panel.loc[valid, "event"].sum() == 0:
        return f"no churn in the validation weeks {first.date()} to {last.date()}"
    if y_h.sum() == 0:
        return (
            f"no churn within {horizon} weeks of any validation week whose horizon is observed "
            f"({first.date()} to {(last - pd.Timedelta(weeks=horizon - 1)).date()})"
        )
    if y_h.sum() == len(y_h):
        return "every validation week with an observed horizon is followed by churn"
    return None


FINAL_RECALIBRATION_RULE = (
    "The final model (fitted on all observed weeks) takes its calibration slope from a "
    "held-out slice and its intercept in sample: a model of the same specification is "
    "fitted on the weeks before the final model's latest calibration_weeks weeks whose whole "
    "horizon is observed and recalibrated on those weeks by closed testing (as the "
    "validation model); its slope (1 unless the slice needs one) shrinks the final model's "
    "predictions, and the intercept is re-estimated with that slope fixed on the same weeks "
    "(in-sample for the final model: drift up to those weeks, and what the horizon "
    "projection gets wrong on average). A slope measured in sample cannot see the model's "
    "own overfitting. Without a usable held-out slice (e.g. no churn in the weeks before "
    "it) the final model is recalibrated in sample by closed testing; `slope_source` says "
    "which. validation.final_procedure_check applies this procedure at the split (the "
    "training weeks in the place of all weeks: the held-out slice is their latest "
    "calibration_weeks weeks whose horizon ends before the split) and checks its bands on "
    "the validation weeks."
)


def calibration_rows(
    panel: pd.DataFrame,
    observed: np.ndarray,
    train: np.ndarray,
    known: np.ndarray,
    y: np.ndarray,
    split: pd.Timestamp,
    horizon_weeks: int,
    calibration_weeks: int,
    no_split: str | None,
) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """(rows the validation model is fitted on, calibration-slice rows or None, problem).

    The slice is `calibration.calibration_split`'s: the latest `calibration_weeks` training
    weeks whose horizon ends before the split week; the model is fitted on the weeks before
    it. Without a usable slice (no split, too few weeks, no churn before the slice, a slice
    without churned and not-churned rows) the model is fitted on every training week and not
    recalibrated; the problem says why."""
    if no_split is not None:
        return train, None, no_split
    try:
        before, in_slice = calibration_split(
            panel["week_start"], split, horizon_weeks, calibration_weeks
        )
    except ValueError as err:
        return train, None, f"{err} (health_score.calibration_weeks={calibration_weeks})"
    fit_rows = train & before
    slice_rows = train & observed & in_slice & known
    event = panel["event"].to_numpy()
    if event[fit_rows].sum() == 0:
        return train, None, "no churn in the weeks before the calibration slice"
    n_ev, n = int(y[slice_rows].sum()), int(slice_rows.sum())
    if n_ev == 0 or n_ev == n:
        return (
            train,
            None,
            (f"the calibration slice needs churned and not-churned rows ({n_ev} of {n})"),
        )
    return fit_rows, slice_rows, None


def _recalibration(
    p: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray | None,
    problem: str | None,
    alpha: float = 0.05,
) -> tuple[dict | None, str | None]:
    """`select_recalibration` on `rows` (closed testing at `alpha`: {update, intercept, slope,
    n_rows, n_events, tests, ...}), or (None, why). A slope <= 0 would reverse the order of
    the accounts: then it is not applied."""
    if problem is not None or rows is None:
        return None, problem or "no calibration slice"
    try:
        fit = select_recalibration(p[rows], y[rows].astype(float), alpha)
    except ValueError as err:
        return None, str(err)
    if not fit["slope"] > 0:
        return None, f"recalibration slope {fit['slope']:.3f} <= 0 (would reverse the ranking)"
    return fit, None


def _apply(p: np.ndarray, fit: dict | None) -> np.ndarray:
    return p if fit is None else recalibrate(p, fit["intercept"], fit["slope"])


def latest_complete_weeks(panel: pd.DataFrame, rows: np.ndarray, weeks: int) -> np.ndarray:
    """`rows` restricted to their latest `weeks` calendar weeks."""
    if not rows.any():
        return rows
    ws = panel["week_start"]
    last = ws[rows].max()
    return rows & (ws > last - weeks * pd.Timedelta(weeks=1)).to_numpy()


def _week_range(panel: pd.DataFrame, rows: np.ndarray | None) -> list[str | None]:
    if rows is None or not rows.any():
        return [None, None]
    ws = panel.loc[rows, "week_start"]
    return [ws.min().date().isoformat(), ws.max().date().isoformat()]


def _recal_block(panel, fit_rows, slice_rows, fit: dict | None, problem: str | None) -> dict:
    """What was recalibrated, on which weeks, with which a and b (null when not applied)."""
    return {
        "applied": fit is not None,
        "intercept": None if fit is None else fit["intercept"],
        "slope": None if fit is None else fit["slope"],
        "n_rows": None if fit is None else fit["n_rows"],
        "n_events": None if fit is None else fit["n_events"],
        # closed testing: which update the slice supports, and the tests behind it
        "update": None if fit is None else fit.get("update"),
        "tests": None if fit is None else fit.get("tests"),
        "logistic_fit": None if fit is None else fit.get("logistic"),
        "fit_weeks": _week_range(panel, fit_rows),
        "slice_weeks": _week_range(panel, slice_rows),
        "problem": problem,
    }


def heldout_slice(
    panel: pd.DataFrame, rows: np.ndarray, known: np.ndarray, horizon_weeks: int, weeks: int
) -> tuple[np.ndarray | None, np.ndarray, str | None]:
    """(held-out model rows or None, slice rows, problem) for a model fitted on `rows`.

    The slice is the latest `weeks` weeks of `rows` whose horizon ends by their
    last week (`calibration.calibration_split` with the week after it as the split), so its
    outcomes are known without weeks after `rows`; the held-out model is fitted on the weeks
    of `rows` before the slice. Without weeks before the slice (or in it): None, the latest
    complete-horizon weeks of `rows` as the slice, and why."""
    ws = panel["week_start"]
    end = ws[rows].max() + pd.Timedelta(weeks=1)
    try:
        before, in_slice = calibration_split(ws, end, horizon_weeks, weeks)
    except ValueError as err:
        return None, latest_complete_weeks(panel, rows & known, weeks), str(err)
    ho_rows, slice_rows = rows & before, rows & in_slice & known
    if not ho_rows.any() or not slice_rows.any():
        why = "no weeks before the held-out slice to fit on"
        return None, latest_complete_weeks(panel, rows & known, weeks), why
    if panel["event"].to_numpy()[ho_rows].sum() == 0:
        return None, slice_rows, "no churn in the weeks before the held-out slice"
    return ho_rows, slice_rows, None


def final_recalibration(
    panel, raw, event, groups, used, rows, known, y, p_model, horizon_weeks,
    calibration_weeks, use_lamps, alpha=0.05, problem=None, heldout=None,
) -> tuple[dict | None, dict]:  # fmt: skip
    """Recalibrate the predictions `p_model` of a model fitted on `rows` the way the final
    model is (FINAL_RECALIBRATION_RULE): the slope from a held-out slice (a model fitted on
    the weeks of `rows` before it, `raw`'s columns, lamps if `use_lamps`), the intercept in
    sample with the slope fixed (`calibration.heldout_recalibration`); without a held-out
    slice, in-sample closed testing (`calibration.select_recalibration`).

    heldout: optional (fit rows, predictions) of a model already fitted the same way on the
    held-out rows, reused when the rows are the same (no second fit). Returns (the applied
    fit or None, the JSON block: `_recal_block`'s keys + method, slope_source, heldout)."""
    if problem is not None:
        return None, {**_recal_block(panel, rows, None, None, problem), "heldout": None}
    ho_rows, slice_rows, ho_problem = heldout_slice(
        panel, rows, known, horizon_weeks, calibration_weeks
    )
    recal, why = None, None
    if ho_rows is not None:
        if heldout is not None and np.array_equal(heldout[0], ho_rows):
            p_ho = heldout[1]
        else:
            fit = _fit_pair(raw, event, groups, ho_rows, use_lamps=use_lamps)
            p_ho = horizon_probability_path(fit, panel, used, horizon_weeks)
        try:
            recal = heldout_recalibration(
                p_ho[slice_rows], p_model[slice_rows], y[slice_rows].astype(float), alpha
            )
        except ValueError as err:
            ho_problem = f"held-out slice: {err}"
    if recal is not None:
        held = recal["heldout"]
        source = "held-out slice"
        if not held["slope"] > 0:
            why = (
                f"held-out recalibration slope {held['slope']:.3f} <= 0 (would reverse the ranking)"
            )
            recal = None
    else:
        held = None
        source = f"in-sample slice (no held-out slice: {ho_problem})"
        recal, why = _recalibration(p_model, y, slice_rows, None, alpha)
    block = _recal_block(panel, rows, slice_rows, recal, why)
    block["method"] = None if recal is None else recal["method"]
    block["slope_source"] = source
    block["heldout"] = (
        None
        if held is None
        else {
            "fit_weeks": _week_range(panel, ho_rows),
            "slice_weeks": _week_range(panel, slice_rows),
            "update": held["update"],
            "slope": held["slope"],
            "intercept": held["intercept"],
            "logistic_fit": held["logistic"],
            "tests": held["tests"],
            "n_rows": held["n_rows"],
            "n_events": held["n_events"],
        }
    )
    return recal, block


def final_procedure_check(
    panel, raw, event, groups, used, train, known, y, complete, has_lamps,
    horizon_weeks, calibration_weeks, red, amber, reps, seed, alpha=0.05, heldout=None,
) -> dict:  # fmt: skip
    """The final model's recalibration procedure at the split: fit on all training weeks,
    recalibrate by `final_recalibration` with the training weeks in the place of all weeks
    (the held-out slice nested inside them), band calibration on the validation rows (as
    `bands.validation`). heldout: see `final_recalibration`."""
    fit = _fit_pair(raw, event, groups, train, use_lamps=has_lamps)
    p_raw = horizon_probability_path(fit, panel, used, horizon_weeks)
    recal, block = final_recalibration(
        panel, raw, event, groups, used, train, known, y, p_raw, horizon_weeks,
        calibration_weeks, has_lamps, alpha, heldout=heldout,
    )  # fmt: skip
    p = _apply(p_raw, recal)[complete]
    bt = band_calibration(
        p, y[complete], band(p, red, amber).to_numpy(),
        panel.loc[complete, "account_id"].to_numpy(), reps, seed,
    )  # fmt: skip
    return {
        "recalibration": block,
        "bands": bt.to_dict(orient="records"),
        "within_interval": bool(bt.loc[bt["rows"] > 0, "within_interval"].all()),
    }


def _fit_pair(raw, event, groups, mask, use_lamps):
    design = make_design(raw[mask], event[mask], use_lamps)
    return fit_hazard(raw[mask], event[mask], groups[mask], design)


def _metric_block(boot: dict, score_key: str, base_key: str) -> dict:
    clean = {k: {m: v for m, v in d.items() if m != "draws"} for k, d in boot.items()}
    return {
        "score": clean[score_key],
        "baseline": clean[base_key],
        "difference": paired_difference(boot[score_key], boot[base_key]),
    }


def sorted_panel(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel sorted by account_id, week_start with a fresh 0..n-1 index. The panel stage
    writes it so sorted: then the frame itself is returned (no copy of the whole panel;
    callers add columns to a shallow copy and never write into it)."""
    acc = panel["account_id"].to_numpy()
    week = panel["week_start"].to_numpy()
    in_order = len(panel) < 2 or bool(
        np.all((acc[:-1] < acc[1:]) | ((acc[:-1] == acc[1:]) & (week[:-1] <= week[1:])))
    )
    if in_order and panel.index.equals(pd.RangeIndex(len(panel))):
        return panel
    return panel.sort_values(["account_id", "week_start"]).reset_index(drop=True)


def compute_health(
    panel: pd.DataFrame,
    lamps: pd.DataFrame,
    *,
    horizon_weeks: int,
    train_fraction: float,
    red: float,
    amber: float,
    bootstrap_reps: int,
    seed: int,
    onboarding_weeks: int = 12,
    expansion_weeks: int = 52,
    observation_start: pd.Timestamp | None = None,
    snapshot: bool = False,
    calibration_weeks: int = 12,
    recalibration_alpha: float = 0.05,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Fit, validate and score. Returns the JSON-ready result and the scored panel
    (panel columns + eta, churn_probability, score, band, maturity).

    snapshot: the panel comes from a snapshot export (panel_meta.json "snapshot"): no lamp
    enters, the score is the baseline, and the message says what that can and cannot do.
    Raises UserError when the observed weeks hold no churn at all."""
    panel = sorted_panel(panel)
    if snapshot:  # no activity tables: no lamp can be read, whatever hypotheses.json says
        used = lamps.iloc[0:0]
        skipped = [
            {"id": row.id, "reason": "snapshot export: no usage data"}
            for row in lamps.itertuples(index=False)
            if row.verdict == LEADS
        ]
    else:
        used, skipped = score_lamps(lamps, list(panel.columns))
    lamps_considered = lamps.loc[lamps["verdict"] == LEADS, "id"]
    raw = raw_features(panel, used)
    event = panel["event"].astype(int)
    groups = panel["account_id"]

    # Churn is observable from observation_start on. The v2 panel starts every spell at its
    # contract start, so by default every panel week counts; a later observation_start (an
    # export that starts with the customers alive on some date) leaves out earlier weeks,
    # survivors by construction that would drag the hazard towards zero.
    if observation_start is None:
        observation_start = panel["week_start"].min()
    observed = (panel["week_start"] >= observation_start).to_numpy()
    if event[observed].sum() == 0:
        raise UserError(
            f"panel.parquet: no churn event in the observed weeks "
            f"{pd.Timestamp(observation_start).date()} to {panel['week_start'].max().date()}: "
            "there is nothing to learn a churn risk from (check health_score.observation_start "
            "and that the panel has churned spells)"
        )
    split = split_week(panel.loc[observed, "week_start"], train_fraction)
    train = observed & (panel["week_start"] < split).to_numpy()
    problem = training_problem(panel, observed, train, split, train_fraction)
    if problem is not None:  # fit on every observed week; nothing is left to validate on
        train = observed
    valid = observed & ~train
    labels = horizon_labels(panel, horizon_weeks)
    known = labels["complete"].to_numpy()
    y_all = labels["label"].to_numpy()

    # --- calibration slice: the model to validate is fitted before it, recalibrated on it --
    fit_rows, slice_rows, cal_problem = calibration_rows(
        panel, observed, train, known, y_all, split, horizon_weeks, calibration_weeks,
        None if problem is None else "the score is not validated out of time",
    )  # fmt: skip

    base_fit = _fit_pair(raw, event, groups, fit_rows, use_lamps=False)
    full_fit = _fit_pair(raw, event, groups, fit_rows, use_lamps=True)
    has_lamps = bool(full_fit.design.lamps)
    eta_full = full_fit.linear_predictor(raw)
    eta_base = base_fit.linear_predictor(raw)
    p_full_raw = horizon_probability_path(full_fit, panel, used, horizon_weeks)
    p_base_raw = horizon_probability_path(base_fit, panel, used, horizon_weeks)
    alpha = recalibration_alpha
    recal_v, cal_problem = _recalibration(p_full_raw, y_all, slice_rows, cal_problem, alpha)
    recal_b, _ = _recalibration(p_base_raw, y_all, slice_rows, cal_problem, alpha)
    p_full = _apply(p_full_raw, recal_v)
    p_base = _apply(p_base_raw, recal_b)

    # --- out-of-time validation -------------------------------------------------------
    complete = valid & known
    y_h = y_all[complete]
    ev_v = event.to_numpy()[valid]
    validation: dict[str, Any] = {
        "split_week": split.date().isoformat() if problem is None else None,
        "n_rows": int(valid.sum()),
        "n_accounts": int(panel.loc[valid, "account_id"].nunique()),
        "n_events": int(ev_v.sum()),
        "n_rows_complete_horizon": int(complete.sum()),
        "n_positive_complete_horizon": int(y_h.sum()),
        "bootstrap_reps": bootstrap_reps,
        "seed": seed,
    }
    if problem is None:
        problem = validation_problem(panel, valid, complete, y_h, horizon_weeks)
    acc_c = panel.loc[complete, "account_id"].to_numpy()
    if problem is None:
        # concordance among the rows at risk in their week: with the renewal week as the
        # risk set, a churner is compared with the accounts whose term also ends that week
        # (the others cannot churn that week; counting them would reward knowing the date)
        at_risk = full_fit.design.at_risk(raw)
        conc_rows = valid if at_risk is None else valid & at_risk
        weeks_c = panel["week_start"].to_numpy()[conc_rows]
        ev_c = event.to_numpy()[conc_rows]
        conc = bootstrap_metrics(
            panel.loc[conc_rows, "account_id"].to_numpy(),
            {
                "score": PairCounter(eta_full[conc_rows], ev_c, weeks_c),
                "baseline": PairCounter(eta_base[conc_rows], ev_c, weeks_c),
            },
            bootstrap_reps,
            seed,
        )
        auc = bootstrap_metrics(
            acc_c,
            {
                "score": PairCounter(p_full[complete], y_h),
                "baseline": PairCounter(p_base[complete], y_h),
            },
            bootstrap_reps,
            seed,
        )
        validation["concordance"] = _metric_block(conc, "score", "baseline")
        if at_risk is not None:
            validation["concordance"]["risk_set"] = "renewal weeks"
            validation["concordance"]["n_rows"] = int(conc_rows.sum())
        validation["auc"] = _metric_block(auc, "score", "baseline")
        validation["top_decile_lift"] = {
            "score": top_decile_lift(p_full[complete], y_h),
            "baseline": top_decile_lift(p_base[complete], y_h),
        }
        validation["calibration"] = {
            "score": calibration_table(p_full[complete], y_h).to_dict(orient="records"),
            "baseline": calibration_table(p_base[complete], y_h).to_dict(orient="records"),
        }
        validation["calibration_metrics"] = {
            "score": calibration_metrics(p_full[complete], y_h, acc_c, bootstrap_reps, seed),
            "score_before_recalibration": calibration_metrics(
                p_full_raw[complete], y_h, acc_c, bootstrap_reps, seed
            ),
        }
        validation["observed_horizon_churn"] = float(y_h.mean())
        validation["mean_predicted"] = {
            "score": float(p_full[complete].mean()),
            "baseline": float(p_base[complete].mean()),
            "score_before_recalibration": float(p_full_raw[complete].mean()),
        }
    else:
        validation["problem"] = problem
    bands_v = band(p_full[complete], red, amber)
    bt = band_calibration(p_full[complete], y_h, bands_v.to_numpy(), acc_c, bootstrap_reps, seed)
    rates = bt.set_index("band")["observed"]
    ratio = (
        float(rates["red"] / rates["green"])
        if pd.notna(rates.get("red")) and rates.get("green", 0) > 0
        else None
    )

    # --- final model: same specification on all weeks; its slope from a held-out slice, its
    # intercept on its latest complete-horizon weeks (FINAL_RECALIBRATION_RULE; the same
    # procedure at the split is checked below) ---------------------------------------------
    # the final model considers the validated lamps only (a lamp must be checked to be used)
    keep_cols = [c for c in raw.columns if not c.startswith("lamp:")] + full_fit.design.lamps
    final_fit = _fit_pair(raw[keep_cols], event, groups, observed, use_lamps=has_lamps)
    final_lamps = final_fit.design.lamps
    skipped = skipped + lamp_skip_reasons(full_fit, final_fit, used)
    eta = final_fit.linear_predictor(raw)
    p_final_raw = horizon_probability_path(final_fit, panel, used, horizon_weeks)
    recal_f, final_block = final_recalibration(
        panel, raw[keep_cols], event, groups, used, observed, known, y_all, p_final_raw,
        horizon_weeks, calibration_weeks, has_lamps, alpha,
        "snapshot export" if snapshot else None,
    )  # fmt: skip
    scored = panel.copy(deep=False)  # new columns only: the panel's own are shared
    scored["churn_probability"] = _apply(p_final_raw, recal_f)
    if validation.get("split_week") and "problem" not in validation and recal_f is not None:
        # the final model's procedure applied at the split: fit on every training week,
        # slope from the slice nested in them, intercept in sample, bands on later weeks.
        # That held-out slice is the validation model's own: its predictions are reused
        validation["final_procedure_check"] = final_procedure_check(
            panel, raw, event, groups, used, train, known, y_all, complete, has_lamps,
            horizon_weeks, calibration_weeks, red, amber, bootstrap_reps, seed, alpha,
            heldout=(fit_rows, p_full_raw),
        )  # fmt: skip
    calibration_info = {
        "method": f"{RECALIBRATION_METHOD}; {CLOSED_TEST}",
        "recalibration_alpha": alpha,
        "calibration_weeks": calibration_weeks,
        "validation_model": _recal_block(panel, fit_rows, slice_rows, recal_v, cal_problem),
        "final_model": final_block,
        "final_rule": FINAL_RECALIBRATION_RULE,
    }
    scored["weekly_hazard_lp"] = eta
    scored["score"] = health_score(scored["churn_probability"].to_numpy())
    scored["band"] = band(scored["churn_probability"].to_numpy(), red, amber).to_numpy()
    scored["maturity"] = maturity(panel, onboarding_weeks, expansion_weeks)

    # maturity x band: validation churn per cell (train-fitted bands) and the latest week
    mat_v = scored.loc[complete, "maturity"].to_numpy()
    cell = pd.DataFrame({"maturity": mat_v, "band": bands_v.to_numpy(), "y": y_h})
    cells_v = cell.groupby(["maturity", "band"]).agg(rows=("y", "size"), observed=("y", "mean"))
    latest_mask = scored["week_start"] == scored["week_start"].max()
    latest = scored[latest_mask & (scored["event"] == 0)]
    grid = pd.MultiIndex.from_product([MATURITY_LEVELS, BANDS], names=["maturity", "band"])
    cells_now = latest.groupby(["maturity", "band"]).agg(
        accounts=("account_id", "size"), mrr=("mrr", "sum")
    )
    view = pd.DataFrame(index=grid).join(cells_now).join(cells_v).reset_index()
    view[["accounts", "rows"]] = view[["accounts", "rows"]].fillna(0).astype(int)

    source = "lamps + baseline" if final_lamps else "baseline only"
    message = score_message(snapshot, final_lamps, skipped, considered=list(lamps_considered))
    if validation.get("problem"):
        message += (
            " It is not validated out of time: " + validation["problem"] + "."
            if validation["split_week"] is not None
            else " It is fitted on all observed weeks and not validated out of time: "
            + validation["problem"]
            + "."
        )
    result: dict[str, Any] = {
        "schema_version": 1,
        "horizon_weeks": horizon_weeks,
        "train_fraction": train_fraction,
        "observation_start": pd.Timestamp(observation_start).date().isoformat(),
        "score_source": source,
        "snapshot": bool(snapshot),
        "validated": "concordance" in validation,
        "message": message,
        "definitions": DEFINITIONS,
        "lamps_used": used.assign(term=lambda d: "lamp:" + d["id"])
        .loc[lambda d: d["term"].isin(final_lamps)]
        .drop(columns="term")
        .to_dict(orient="records"),
        "lamps_skipped": skipped,
        "model": {
            "type": "discrete-time hazard GLM, binomial family, cloglog link",
            "weights_train": full_fit.weights(),
            "weights_final": final_fit.weights(),
            "dropped_terms_train": full_fit.design.dropped,
            "dropped_terms_final": final_fit.design.dropped,
            "reference_levels": full_fit.design.reference,
            "n_rows_train": int(train.sum()),
            "n_events_train": int(event[train].sum()),
            "n_rows_final": int(observed.sum()),
            "n_events_final": int(event[observed].sum()),
            "converged": bool(full_fit.converged and final_fit.converged),
            # how the weeks a contract term ends enter (model.py docstring)
            "renewal_train": {"handling": full_fit.design.renewal, **full_fit.design.renewal_note},
            "renewal_final": {
                "handling": final_fit.design.renewal,
                **final_fit.design.renewal_note,
            },
        },
        "baseline_model": {"weights_train": base_fit.weights()},
        "bands": {
            "cutoffs": band_cutoffs(red, amber),
            "validation": bt.to_dict(orient="records"),
            "within_interval": bool(bt.loc[bt["rows"] > 0, "within_interval"].all())
            if validation.get("split_week") and "problem" not in validation
            else None,
            "red_green_churn_ratio": ratio,
        },
        "validation": validation,
        "calibration": calibration_info,
        "maturity_view": view.to_dict(orient="records"),
        "latest_week": {
            "week_start": scored["week_start"].max().date().isoformat(),
            "accounts": int(len(latest)),
            "by_band": {b: int((latest["band"] == b).sum()) for b in BANDS},
        },
    }
    return result, scored


WORKLIST_RULE = (
    "A lamp lights as its alert design says (hypotheses alert_policy: lit after on_weeks "
    "weeks beyond the threshold in a row, off after off_weeks weeks back). "
    "A lamp's state: newly lit when lit for at most health_score.new_weeks weeks (this one "
    "included; a lamp lit since the first panel week is never new), chronic when lit longer "
    "than health_score.chronic_weeks (the action did not resolve it), else long-lit. The "
    "weekly list: accounts with a newly lit lamp, per CSM (accounts without a CSM are the "
    "group 'unassigned', not a CSM), ranked within the CSM by expected MRR at risk = churn "
    "probability within the horizon x current MRR; the first health_score.capacity per CSM "
    "are listed, each with the action of its strongest new lamp (largest hazard ratio). "
    "action_list.csv keeps every lit account x lamp: `listed` marks the listed row, "
    "`rank_in_csm` the account's rank among its CSM's newly lit accounts."
)


def work_columns(
    rows: pd.DataFrame,
    lit: pd.DataFrame,
    wl: Worklist | None,
    new_weeks: int,
    chronic_weeks: int,
) -> pd.DataFrame:
    """Fill lamp_state and run_start per row from `lit`, and, given the work list,
    rank_in_csm (the account's rank within its CSM group among newly lit accounts) and
    listed (True on the one row per listed account that carries its action)."""
    if rows.empty:
        return rows
    state = lit.assign(
        lamp_state=lamp_state(lit["weeks_lit"], lit.get("left_censored"), new_weeks, chronic_weeks)
    ).set_index(["account_id", "hypothesis_id"])
    key = pd.MultiIndex.from_frame(rows[["account_id", "hypothesis_id"]])
    rows = rows.copy()
    rows["lamp_state"] = state["lamp_state"].reindex(key).to_numpy()
    rows["run_start"] = state["run_start"].reindex(key).to_numpy()
    if wl is not None and "rank_in_csm" in rows:
        rank = wl.accounts.set_index("account_id")["rank_in_csm"]
        rows["rank_in_csm"] = rows["account_id"].map(rank).astype("Int64")
        picked = pd.MultiIndex.from_frame(wl.items[["account_id", "hypothesis_id"]])
        rows["listed"] = key.isin(picked)
    return rows


def weekly_lists(
    panel_now: pd.DataFrame,
    risk: pd.DataFrame,
    opp: pd.DataFrame,
    context: pd.DataFrame,
    wording: dict[str, dict],
    capacity: int,
    new_weeks: int,
    chronic_weeks: int,
    labels: dict[str, dict[str, str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, Worklist]:
    """(action list rows, opportunity list rows, the weekly work list) for the latest week.

    panel_now: the running spells' rows (lamps read at lag 0 in the latest week); risk / opp:
    `lamp_table` rows of the lamps for each list; context: `actions.account_context`;
    labels: the user's labels (`reports.loaders.display_labels` of params `vocabulary`) the
    lists speak in (billing_period, why, rule_in_words)."""
    lit_risk = lit_lamps_now(panel_now, risk)
    lit_opp = lit_lamps_now(panel_now, opp)
    wl = weekly_worklist(
        lit_risk, context, capacity=capacity, new_weeks=new_weeks,
        chronic_weeks=chronic_weeks, wording=wording, labels=labels,
    )  # fmt: skip
    actions = work_columns(
        lamp_rows(lit_risk, context, risk, wording, "mrr_at_risk", labels=labels),
        lit_risk, wl, new_weeks, chronic_weeks,
    )  # fmt: skip
    opportunities = work_columns(
        lamp_rows(lit_opp, context, opp, wording, "mrr", OPPORTUNITY_COLUMNS, labels),
        lit_opp, None, new_weeks, chronic_weeks,
    )  # fmt: skip
    return actions, opportunities, wl


def latest_spell_rows(scored: pd.DataFrame, latest: pd.DataFrame) -> pd.DataFrame:
    """Rows of the spells that are running in the latest week (one spell per account), so a
    reactivated account's lamps and weeks_on are read on its current spell only."""
    keys = subject_keys(scored)
    running = pd.MultiIndex.from_frame(latest[keys])
    return scored[pd.MultiIndex.from_frame(scored[keys]).isin(running)]


def _read(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise UserError(f"{path}: not found ({what})")
    return pd.read_parquet(path)


def configured_hypotheses(
    path: Path, meta: dict, params: dict, panel_columns: list[str]
) -> list[dict] | None:
    """The CS lead's hypotheses file, read and validated by the project's loader
    (`hypotheses.spec.load_hypotheses`, the same schema and messages as the hypotheses
    stage), as `Hypothesis.as_dict()` records for `lamp_table`; None when the file is absent
    (hypotheses.json alone then names actions and kinds). The valid indicator ids are
    panel_meta.json's (built-in and user-defined), else the built-in catalog plus the
    panel's columns.

    Raises ConfigError naming file, hypothesis and field when the file is invalid."""
    if not path.exists():
        return None
    ind_file = str((params.get("panel") or {}).get("indicators_file") or DEFAULT_INDICATORS_FILE)
    known = (
        KnownIndicators.from_meta(meta, ind_file)
        if meta.get("indicators")
        else KnownIndicators.catalog(panel_columns, indicators_file=ind_file)
    )
    return [h.as_dict() for h in load_hypotheses(path, known)]


def run(params: dict) -> None:
    processed = base_path(params, "processed_dir")
    interim = base_path(params, "interim_dir")
    models = base_path(params, "models_dir")
    reports = base_path(params, "reports_dir")
    cfg = params.get("health_score", {}) or {}
    hyp_file = Path((params.get("hypotheses") or {}).get("file", "hypotheses.yaml"))

    panel_path = processed / "panel.parquet"
    if not panel_path.exists():
        raise UserError(f"{panel_path}: not found (run `churnlab panel` first)")
    available = pq.read_schema(panel_path).names
    missing = [c for c in PANEL_COLUMNS if c not in available]
    if missing:
        raise UserError(f"{panel_path}: missing column(s) {', '.join(missing)}")
    hyp_path = models / "hypotheses.json"
    if not hyp_path.exists():
        raise UserError(f"{hyp_path}: not found (run `churnlab hypotheses` first)")
    tested = read_json(hyp_path).get("hypotheses", [])
    meta_path = processed / "panel_meta.json"
    meta = read_json(meta_path) if meta_path.exists() else {}
    lamps = lamp_table(tested, configured_hypotheses(hyp_file, meta, params, available))
    panel = pd.read_parquet(panel_path, columns=panel_columns(available, lamps))

    capacity = int(cfg.get("capacity", 10))
    new_weeks = int(cfg.get("new_weeks", 2))
    chronic_weeks = int(cfg.get("chronic_weeks", 12))
    if capacity < 1 or not 1 <= new_weeks <= chronic_weeks:
        raise UserError(
            "params.yaml: health_score needs capacity >= 1 and 1 <= new_weeks <= chronic_weeks "
            f"(got capacity={capacity}, new_weeks={new_weeks}, chronic_weeks={chronic_weeks})"
        )
    probs = cfg.get("band_probabilities", {}) or {}
    red, amber = float(probs.get("red", 0.25)), float(probs.get("amber", 0.10))
    if not 0 < amber < red < 1:
        raise UserError(
            f"params.yaml: health_score.band_probabilities needs 0 < amber < red < 1 "
            f"(got amber={amber}, red={red})"
        )
    horizon = int(cfg.get("horizon_weeks", 12))
    maturity_cfg = cfg.get("maturity", {}) or {}
    result, scored = compute_health(
        panel,
        lamps,
        horizon_weeks=horizon,
        train_fraction=float(cfg.get("train_fraction", 0.6)),
        red=red,
        amber=amber,
        bootstrap_reps=int(cfg.get("bootstrap_reps", 200)),
        seed=int(params["base"].get("seed", 0)),
        onboarding_weeks=int(maturity_cfg.get("onboarding_weeks", 12)),
        expansion_weeks=int(maturity_cfg.get("expansion_weeks", 52)),
        observation_start=(
            pd.Timestamp(cfg["observation_start"]) if cfg.get("observation_start") else None
        ),
        snapshot=bool(meta.get("snapshot")),
        calibration_weeks=int(cfg.get("calibration_weeks", 12)),
        recalibration_alpha=float(cfg.get("recalibration_alpha", 0.05)),
    )

    # --- this week's lists ---------------------------------------------------------------
    last_week = scored["week_start"].max()
    as_of = last_week + pd.Timedelta(days=6)
    if meta.get("as_of"):
        as_of = pd.Timestamp(meta["as_of"]).tz_localize(None).normalize()
    accounts = _read(interim / "accounts.parquet", "run `churnlab ingest` first")
    contracts = _read(interim / "contracts.parquet", "run `churnlab ingest` first")
    csm_path = interim / "csm_assignments.parquet"
    csm = current_csm(pd.read_parquet(csm_path) if csm_path.exists() else None, as_of)
    current = current_contracts(contracts, as_of)

    latest = scored[(scored["week_start"] == last_week) & (scored["event"] == 0)].copy()
    latest["health_score"] = latest["score"]
    if "mrr" not in latest.columns:
        latest["mrr"] = np.nan
    for col in ("segment", "billing_period"):
        if col not in latest.columns:
            latest[col] = ""
    panel_now = latest_spell_rows(scored, latest)
    action_verdicts = list(cfg.get("action_verdicts", [LEADS]))
    risk = lamps[(lamps["kind"] == "risk") & lamps["verdict"].isin(action_verdicts)]
    opp = lamps[(lamps["kind"] == "opportunity") & (lamps["verdict"] != "opposite direction")]
    context = account_context(latest, accounts, current, csm)
    trailing = int((params.get("panel") or {}).get("trailing_weeks", 4))
    ind_meta = meta.get("indicators") or {}
    wording = {
        ind: indicator_wording(ind, trailing, ind_meta.get(ind))
        for ind in lamps["indicator"].dropna().unique()
    }
    # the CSVs go to a CRM: in the company's own labels (DESIGN §9), as the report pages
    labels = display_labels(params.get("vocabulary"))
    actions, opportunities, wl = weekly_lists(
        panel_now, risk, opp, context, wording, capacity, new_weeks, chronic_weeks, labels
    )
    result["as_of"] = as_of.date().isoformat()
    result["latest_week"].update(
        {
            "action_rows": int(len(actions)),
            "action_accounts": int(actions["account_id"].nunique()),
            "mrr_at_risk_action_accounts": float(
                actions.drop_duplicates("account_id")["mrr_at_risk"].sum()
            ),
            "opportunity_rows": int(len(opportunities)),
            "opportunity_accounts": int(opportunities["account_id"].nunique()),
            "action_verdicts": action_verdicts,
            "worklist": wl.summary,
        }
    )
    result["definitions"] = {**result["definitions"], "worklist": WORKLIST_RULE}

    write_json(models / "health_score.json", result)
    # `event` marks an account's churn week: reports count "red now" among accounts still
    # customers (a churned account is not at risk any more)
    score_cols = ["account_id", "week_start", "score", "band", "churn_probability", "maturity"]
    score_cols += [c for c in ("spell", "event") if c in scored.columns]
    write_parquet(scored[score_cols], processed / "health_scores.parquet")
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "action_list.csv").write_text(to_csv_text(actions), encoding="utf-8")
    (reports / "opportunity_list.csv").write_text(to_csv_text(opportunities), encoding="utf-8")
    v = result["validation"]
    write_metrics(
        metrics_path("health_score"),
        {
            "score_source": result["score_source"],
            "lamps_used": len(result["lamps_used"]),
            "concordance": (v.get("concordance") or {}).get("score", {}).get("estimate"),
            "concordance_baseline": (v.get("concordance") or {})
            .get("baseline", {})
            .get("estimate"),
            "auc": (v.get("auc") or {}).get("score", {}).get("estimate"),
            "auc_baseline": (v.get("auc") or {}).get("baseline", {}).get("estimate"),
            "top_decile_lift": (v.get("top_decile_lift") or {}).get("score"),
            "red_green_churn_ratio": result["bands"]["red_green_churn_ratio"],
            "action_accounts": result["latest_week"]["action_accounts"],
            "worklist_accounts": wl.summary["accounts_listed"],
            "accounts_newly_lit": wl.summary["accounts_newly_lit"],
            "accounts_chronic": wl.summary["accounts_chronic"],
            "bands_within_interval": result["bands"].get("within_interval"),
        },
    )
