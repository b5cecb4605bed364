"""`churnlab hypotheses`: read the panel and the hypotheses file, test each hypothesis,
write models/hypotheses.json, report tables and metrics (docs/CONTRACTS.md §4)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from churnlab.config import base_path, metrics_path
from churnlab.errors import ConfigError, UserError
from churnlab.hypotheses.alert_budget import OBJECTIVES
from churnlab.hypotheses.analysis import Settings, run_hypotheses
from churnlab.hypotheses.design import sort_keys
from churnlab.hypotheses.lamp_alerts import csm_per_row
from churnlab.hypotheses.spec import (
    DEFAULT_INDICATORS_FILE,
    Hypothesis,
    KnownIndicators,
    load_hypotheses,
)
from churnlab.hypotheses.verdict import LEADS, VERDICTS
from churnlab.io import read_json, write_json, write_metrics, write_parquet

REQUIRED = ("account_id", "start", "stop", "event")
# Panel columns read when present: the spell (subject), the calendar week and the CSM in
# charge (alerts per CSM-week).
CONTEXT_COLUMNS = ("spell", "week_start", "csm_id")
# Tables whose absence makes an export a snapshot (brief v2: tables.json "snapshot").
ACTIVITY_TABLES = ("events", "tickets", "surveys", "touchpoints", "milestones", "users")


def settings_from_params(params: dict[str, Any]) -> Settings:
    hp = params.get("hypotheses") or {}
    sampling = hp.get("sampling") or {}
    try:
        s = Settings(
            lags=sorted({int(v) for v in hp["lags"]}),
            adjust_for=list(hp.get("adjust_for") or []),
            horizon_weeks=int(hp["horizon_weeks"]),
            min_actionable_lead_weeks=int(hp["min_actionable_lead_weeks"]),
            fdr_alpha=float(hp["fdr_alpha"]),
            min_effect_hr=float(hp.get("min_effect_hr", 1.0)),
            rule_out_hr=float(hp["rule_out_hr"]) if hp.get("rule_out_hr") else None,
            min_events=int(hp["min_events"]),
            min_accounts=int(hp["min_accounts"]),
            min_state_events=int(hp.get("min_state_events", 1)),
            threshold_min_recall=float(hp["threshold_min_recall"]),
            bootstrap_reps=int(hp["bootstrap_reps"]),
            landmark_weeks=[int(v) for v in hp.get("landmark_weeks", [13, 26, 52])],
            landmark_follow_weeks=int(hp.get("landmark_follow_weeks", 26)),
            combined_penalizer=float(hp.get("combined_penalizer", 1.0)),
            seed=int(params["base"]["seed"]),
            max_share_lit=float(hp.get("max_share_lit", 0.2)),
            min_lightings=int(hp.get("min_lightings", 20)),
            budget_objective=str(hp.get("budget_objective", "chi_square")),
            alert_on_weeks=_weeks_list(hp.get("alert_on_weeks", [1, 2, 3, 4])),
            alert_off_weeks=_weeks_list(hp.get("alert_off_weeks", [1, 2, 4])),
            alert_min_lift=float(hp.get("alert_min_lift", 2.0)),
            workers=int(hp.get("workers", 1)),
            sampling_design=str(sampling.get("design", "auto")),
            sampling_max_rows=int(sampling.get("max_rows", 5_000_000)),
            subcohort_fraction=float(sampling.get("subcohort_fraction", 0.5)),
        )
    except KeyError as exc:
        raise ConfigError(f"params.yaml: hypotheses.{exc.args[0]} is missing") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"params.yaml: hypotheses section has a bad value: {exc}") from exc
    if not s.lags or min(s.lags) < 0:
        raise ConfigError("params.yaml: hypotheses.lags must be a non-empty list of weeks >= 0")
    if not 0 < s.max_share_lit <= 1:
        raise ConfigError(
            f"params.yaml: hypotheses.max_share_lit must be in (0, 1] (got {s.max_share_lit})"
        )
    for key in ("alert_on_weeks", "alert_off_weeks"):
        weeks = getattr(s, key)
        if not weeks or min(weeks) < 1:
            raise ConfigError(
                f"params.yaml: hypotheses.{key} must be a non-empty list of weeks >= 1 "
                f"(got {weeks})"
            )
    if not s.alert_min_lift > 0:
        raise ConfigError(
            f"params.yaml: hypotheses.alert_min_lift must be > 0 (got {s.alert_min_lift})"
        )
    if s.workers < 1:
        raise ConfigError(f"params.yaml: hypotheses.workers must be >= 1 (got {s.workers})")
    if s.sampling_design not in ("auto", "full", "case_cohort"):
        raise ConfigError(
            "params.yaml: hypotheses.sampling.design must be one of auto, full, case_cohort "
            f"(got {s.sampling_design!r})"
        )
    if not 0 < s.subcohort_fraction <= 1 or s.sampling_max_rows < 1:
        raise ConfigError(
            "params.yaml: hypotheses.sampling needs subcohort_fraction in (0, 1] and "
            f"max_rows >= 1 (got {s.subcohort_fraction}, {s.sampling_max_rows})"
        )
    if s.budget_objective not in OBJECTIVES:
        raise ConfigError(
            f"params.yaml: hypotheses.budget_objective must be one of {', '.join(OBJECTIVES)} "
            f"(got {s.budget_objective!r})"
        )
    return s


def _weeks_list(value) -> list[int]:
    # a single number is a one-element list (e.g. alert_on_weeks: 3 fixes the on-delay)
    return sorted({int(v) for v in (value if isinstance(value, list | tuple) else [value])})


def panel_columns(names: list[str], adjust_for: list[str], hyps: list[Hypothesis]) -> list[str]:
    """The panel columns the stage reads, in the file's order: the counting-process columns,
    `spell`, `week_start` and `csm_id` when present, the adjusters, and each hypothesis'
    indicator or attribute column. A 50,000-account panel has 44 columns, of which the
    default hypotheses use 24: reading the rest cost gigabytes (issue 17)."""
    wanted = {*REQUIRED, *CONTEXT_COLUMNS, *adjust_for}
    wanted |= {h.attribute if h.is_attribute else h.indicator for h in hyps}
    return [c for c in names if c in wanted]


def read_panel(path: Path, adjust_for: list[str], columns: list[str] | None = None) -> pd.DataFrame:
    """The panel in the stage's row order (`design.sort_keys`), index 0..n-1.

    Args:
        path: panel.parquet (a file, or a folder of parts from Spark).
        adjust_for: `hypotheses.adjust_for` (each must be a column).
        columns: read only these (see `panel_columns`); None reads every column.

    Raises:
        UserError: no panel, a required or adjust_for column missing, an event other than
            0/1, or a row whose stop does not exceed its start (file row named).
    """
    if not path.exists():
        raise UserError(f"{path}: panel not found (run `churnlab panel` first)")
    if columns is not None:
        # the checks below name a missing column; ask only for those the file has
        names = set(pq.read_schema(path).names) if path.is_file() else None
        columns = [c for c in columns if names is None or c in names]
    panel = pd.read_parquet(path, columns=columns)
    for col in (*REQUIRED, *adjust_for):
        if col not in panel.columns:
            what = "hypotheses.adjust_for names" if col in adjust_for else "required"
            raise UserError(f"{path}: column '{col}' is missing ({what})")
    bad = ~panel["event"].isin([0, 1])
    if bad.any():
        raise UserError(f"{path}: row {int(bad.idxmax()) + 1}, column 'event': must be 0 or 1")
    bad = (panel["stop"] <= panel["start"]).to_numpy()
    if bad.any():
        raise UserError(
            f"{path}: row {int(bad.argmax()) + 1}, columns 'start'/'stop': stop must exceed start"
        )
    keys = sort_keys(panel)
    if (
        isinstance(panel.index, pd.RangeIndex)
        and panel.index.start == 0
        and rows_sorted(panel, keys)
    ):
        # the panel stage writes rows in this order already: a stable sort would return the
        # same rows, after a full copy of the frame (issue 17)
        return panel
    return panel.sort_values(keys, kind="stable").reset_index(drop=True)


def rows_sorted(frame: pd.DataFrame, keys: list[str]) -> bool:
    """True when the rows are in ascending order of `keys` (ties allowed), so a stable sort
    would keep every row where it is. A missing key value counts as unsorted (pandas puts
    those last, and comparisons with them are False)."""
    n = len(frame)
    if n < 2 or not keys:
        return True
    # per adjacent pair: still tied on the keys so far / already strictly ascending
    tied = np.ones(n - 1, bool)
    ascending = np.zeros(n - 1, bool)
    try:
        for key in keys:
            v = frame[key].to_numpy()
            prev, nxt = v[:-1], v[1:]
            ascending |= tied & (nxt > prev)
            tied &= nxt == prev
    except TypeError:  # pd.NA or mixed types among the keys: let pandas sort
        return False
    return bool((ascending | tied).all())


def testable_from_meta(meta: dict) -> dict[str, str | None]:
    """Indicator id -> None if the panel meta calls it testable, else the reason. In a
    snapshot export (meta `snapshot: true`) an indicator that needs an activity table is not
    testable even if an older meta forgot to say so."""
    out = {}
    snapshot = bool(meta.get("snapshot"))
    for ind, info in (meta.get("indicators") or {}).items():
        info = info or {}
        reason = None if info.get("testable", True) else (info.get("reason") or "not testable")
        needs = [t for t in info.get("tables") or () if t in ACTIVITY_TABLES]
        if reason is None and snapshot and needs:
            reason = f"snapshot export: no {', '.join(needs)} table (accounts and contracts only)"
        out[ind] = reason
    return out


def known_indicators(meta: dict, params: dict) -> KnownIndicators:
    """Valid indicator ids: panel_meta.json's list (built-in and user-defined); the built-in
    catalog only when there is no meta. The indicators file is named in the error message."""
    path = (params.get("panel") or {}).get("indicators_file") or DEFAULT_INDICATORS_FILE
    if meta.get("indicators"):
        return KnownIndicators.from_meta(meta, str(path))
    return KnownIndicators.catalog(indicators_file=str(path))


def n_spells(panel: pd.DataFrame) -> int:
    """Subjects at risk: (account, spell) pairs, or accounts when the panel has no spells."""
    if "spell" not in panel.columns:
        return int(panel["account_id"].nunique())
    return int(len(panel[["account_id", "spell"]].drop_duplicates()))


def billing_values_in_meanings(h: Hypothesis, vocabulary: dict | None) -> Hypothesis:
    """An attribute hypothesis on billing_period may name the user's own labels (`Yearly`);
    ingest wrote their meanings (`annual`) through `vocabulary.billing_period`, so translate
    the values the same way (trimmed, case-insensitive). Other attributes are kept as written
    in the data and need no translation."""
    if h.attribute != "billing_period" or not vocabulary:
        return h
    meaning_of = {
        str(label).strip().casefold(): meaning
        for meaning, labels in vocabulary.items()
        for label in ([labels] if isinstance(labels, str) else labels or [])
    }
    meanings = {str(m).casefold() for m in vocabulary}

    def translate(v: str) -> str:
        key = str(v).strip().casefold()
        # a value that already names a meaning (any case) is kept as the user wrote it
        return v if key in meanings else meaning_of.get(key, v)

    return replace(h, values=tuple(dict.fromkeys(translate(v) for v in h.values or ())))


def run(params: dict) -> None:
    s = settings_from_params(params)
    processed = base_path(params, "processed_dir")
    panel_path = processed / "panel.parquet"
    if not panel_path.exists():
        raise UserError(f"{panel_path}: panel not found (run `churnlab panel` first)")
    meta_path = processed / "panel_meta.json"
    meta = read_json(meta_path) if meta_path.exists() else {}
    testable = testable_from_meta(meta)
    hyps = load_hypotheses(
        params["hypotheses"].get("file", "hypotheses.yaml"), known_indicators(meta, params)
    )
    hyps = [
        billing_values_in_meanings(h, (params.get("vocabulary") or {}).get("billing_period"))
        for h in hyps
    ]
    # only the columns the hypotheses use (the panel is read after the hypotheses are known)
    names = pq.read_schema(panel_path).names if panel_path.is_file() else None
    columns = None if names is None else panel_columns(names, s.adjust_for, hyps)
    panel = read_panel(panel_path, s.adjust_for, columns)
    # the CSM in charge each week, for a lamp's lightings per CSM-week (alerts)
    csm_path = base_path(params, "interim_dir") / "csm_assignments.parquet"
    if "csm_id" not in panel.columns and csm_path.exists():
        panel["csm_id"] = csm_per_row(panel, pd.read_parquet(csm_path))

    res = run_hypotheses(panel, hyps, testable, s)

    settings = {
        "lags": s.lags, "adjust_for": s.adjust_for, "horizon_weeks": s.horizon_weeks,
        "min_actionable_lead_weeks": s.min_actionable_lead_weeks, "fdr_alpha": s.fdr_alpha,
        "min_effect_hr": s.min_effect_hr, "rule_out_hr": s.rule_out_hr,
        "min_events": s.min_events, "min_accounts": s.min_accounts,
        "min_state_events": s.min_state_events,
        "threshold_min_recall": s.threshold_min_recall, "bootstrap_reps": s.bootstrap_reps,
        "landmark_weeks": s.landmark_weeks, "landmark_follow_weeks": s.landmark_follow_weeks,
        "combined_penalizer": s.combined_penalizer, "seed": s.seed,
        "max_share_lit": s.max_share_lit, "min_lightings": s.min_lightings,
        "budget_objective": s.budget_objective,
        "alert_on_weeks": s.alert_on_weeks, "alert_off_weeks": s.alert_off_weeks,
        "alert_min_lift": s.alert_min_lift,
        "n_panel_rows": len(panel), "n_panel_accounts": int(panel["account_id"].nunique()),
        "n_panel_spells": n_spells(panel), "n_panel_events": int(panel["event"].sum()),
        "snapshot": bool(meta.get("snapshot", False)),
        "rules": {
            "lamp": "low: on when indicator < threshold; high: on when indicator > threshold; attribute: on in the weeks where the account's attribute (segment, customer_goal, plan, billing_period, region; the value in force that week) is one of values, compared trimmed and case-insensitively; a missing value is unknown (row left out)",
            "spells": "an account that churned and came back has one spell per stretch of contracts; each spell is its own subject at risk from its own start (start/stop count weeks since the spell's first week): Cox risk sets, lags, churn within the horizon, landmark KM groups and recall are per spell, and a lag never reaches into another spell. Cox standard errors are clustered on account when an account has several spells (cox_variance; the GLM cross-check's always are); the random threshold split, the threshold bootstrap and min_accounts count whole accounts",
            "attribute": "an attribute is known from a spell's first week, so it is tested at lag 0 only (lagging a static value would only drop rows), with the adjust_for columns except the attribute itself; significant in the expected direction = leads churn (there is no too late to act on); lamp performance uses every account (no threshold to choose); landmark KM groups are fixed at week 0 of each spell and followed to its end; listed values absent from the data are reported in values_not_in_data; not testable when none occurs, the attribute has one value, or the values cover every value in the data",
            "not_testable": "not testable (rather than inconclusive) when the data cannot answer at all: the indicator's table is missing or the export is a snapshot without it, the column is absent, the indicator has no value or one value in the data, the attribute cannot vary, or the panel has no rows or no churn",
            "lead_profile": "time-varying Cox (Efron), lamp lagged k weeks within account, adjusted for adjust_for; rows whose lagged value is unknown are dropped; p_value = likelihood-ratio test of the lamp (model with vs without it on the same rows; wald_p_value kept beside it), CI = Wald; a lag is not fitted when fewer than min_state_events churns are expected by chance in the rarer lamp state; with repeated spells, SE/CI/Wald p use the account-clustered sandwich and p_value = LRT / (robust / model-based variance of the lamp)",
            "verdict": "evidence = lags with BH q <= fdr_alpha, HR at least min_effect_hr away from 1 and the expected sign (risk: HR > 1, opportunity: HR < 1); best lag = the longest of them whose |log HR| is within one SE of the peak's; leads churn if best lag >= min_actionable_lead_weeks, else too late to act on; evidence only in the other direction = opposite direction; no evidence only if the 95% CI at the closest lag excludes HR rule_out_hr (risk) or 1/rule_out_hr (opportunity), else inconclusive",
            "fdr": "two-level Benjamini-Hochberg (Benjamini-Bogomolov): a Simes p-value per hypothesis over its lags (hypothesis_p_value), BH across hypotheses (hypothesis_q_value) selects R of m; within a selected hypothesis its lags are BH-tested at fdr_alpha * R / m; a lag's q_value is its within-hypothesis BH q times m / R",
            "threshold_suggestion": "suggested thresholds are chosen on a random half of the accounts (stratified by churn, fixed by base.seed) and everything inferential (lead profile, GLM, lamp performance, alerts, landmark KM, PH check) is measured on the other half; configured thresholds use every account. Risk lamps: alert budget (threshold_method 'alert budget') - among candidates lit in at most max_share_lit of account-weeks, with >= min_lightings lightings, a median warning of a lighting >= min_actionable_lead_weeks and lift > 1, the best budget_objective (chi_square: the sharpest split of churn-within-horizon weeks, the default; precision / lift: of a lighting, churn within horizon_weeks after an off->on transition); if none fits, the sharpest split (largest chi-square with recall >= threshold_min_recall; threshold_method 'sharpest split', threshold_rule says why the budget found nothing). Opportunities: lowest lift with the lamp on in >= threshold_min_recall of weeks. threshold_curves.parquet holds both curves over the same candidates (lighting_* columns are the budget curve's), chosen marks the pick and chosen_by its method. Rule: threshold_rule",
            "alerts": "alerts: the lamp judged as an alert, read as the CSM sees it (at week start, lag 0) under its alert_policy, on the test half of the accounts (every account for an attribute, or for a configured threshold when alert_on_weeks and alert_off_weeks leave one design only); subject = account + spell, calendar weeks; share_lit_median / share_lit_latest = share of the week's active subjects lit; a lighting = first week of a lit run (runs starting in the first week of data are not counted); lightings_per_100_account_weeks; lightings_per_csm_week = median over (week, CSM) cells of the CSM in charge that week (accounts without one are 'unassigned', not a CSM); precision = churn within horizon_weeks after a lighting, base_rate = the same for any subject-week, lift = precision / base_rate; churners_warned_share = churners with a lighting in the horizon_weeks ending with their churn week, median_warning_weeks from that lighting to the end of the churn week; median_weeks_lit / p75_weeks_lit = lengths of lit runs (ongoing runs at their length so far)",
            "alert_policy": "alert_policy: how the lamp lights as an alert (alerts are measured on it). An on-delay (lit once the indicator has been beyond the threshold on_weeks weeks in a row) and an off-delay (off once it has been back off_weeks weeks in a row), as alarm management (ANSI/ISA-18.2) answers a chattering alarm. Every pair of alert_on_weeks x alert_off_weeks is judged on the tuning half of the accounts (also for a configured threshold); among designs whose lightings reach lift >= alert_min_lift with >= min_lightings lightings, a median warning >= min_actionable_lead_weeks and no larger share lit than the plain lamp or max_share_lit, the plain lamp (1, 1) when it reaches that itself, else the highest lift (ties: the least delay, on_weeks then off_weeks); the plain lamp when none does. alerts and tradeoff_test_half are measured on the other half; hypothesis_tables/alert_policies.parquet holds both halves. The verdict, lead profile and thresholds use the plain lamp (the indicator beyond its threshold).",
            "verdict_label": "verdict_label = verdict, except an opportunity that leads churn (its lamp marks accounts that churn less, weeks ahead) is 'leads retention'; warning_weeks_basis says which warning time the verdict rests on (best lag; verdict_warning_weeks) and that median_warning_weeks is lamp-on time before churn, not evidence of lead",
            "lamp_performance": "account-weeks with known outcome; precision = churn within horizon among lamp-on weeks; lift = precision / overall rate; recall = churned accounts with the lamp on in their last horizon weeks; median warning = weeks from the first lamp-on week in that window to churn (capped at horizon)",
        },
    }  # fmt: skip
    if any("sampling" in r for r in res.hypotheses):
        # only when a sample was used: the full-cohort record stays as it was
        settings["sampling"] = {
            "design": s.sampling_design, "max_rows": s.sampling_max_rows,
            "subcohort_fraction": s.subcohort_fraction,
        }  # fmt: skip
        settings["rules"]["sampling"] = (
            "case-cohort (Prentice 1986) above sampling.max_rows panel rows (design auto) or "
            "always (case_cohort): a random subcohort of accounts (subcohort_fraction, fixed by "
            "base.seed) keeps all its rows, other accounts only their churn row; each lag's Cox "
            "model is fitted on those rows with Barlow (1994) weights and a robust variance "
            "clustered on account; p_value = robust Wald test (no likelihood-ratio test: the "
            "weighted pseudo-likelihood is not a likelihood); n_rows / n_accounts / n_events "
            "count the whole cohort; the GLM cross-check is fitted on the same rows with the "
            "same weights (a design-weighted cloglog GLM as survey::svyglm, Lumley 2010; "
            "sandwich variance clustered on account); the record's sampling says what was drawn"
        )
    models = base_path(params, "models_dir")
    write_json(
        models / "hypotheses.json",
        {"hypotheses": res.hypotheses, "combined_model": res.combined_model, "settings": settings},
    )
    tables_dir = processed / "hypothesis_tables"
    tables_dir.mkdir(parents=True, exist_ok=True)
    for name, df in res.tables.items():
        write_parquet(df, tables_dir / f"{name}.parquet")
    counts = Counter(r["verdict"] for r in res.hypotheses)
    write_metrics(
        metrics_path("hypotheses"),
        {
            "n_hypotheses": len(res.hypotheses),
            "verdicts": {v: counts.get(v, 0) for v in VERDICTS},
            "leading_risks": sorted(
                r["id"] for r in res.hypotheses if r["verdict"] == LEADS and r["kind"] == "risk"
            ),
            # an opportunity that "leads churn" marks accounts that churn less, weeks ahead
            "leading_opportunities": sorted(
                r["id"]
                for r in res.hypotheses
                if r["verdict"] == LEADS and r["kind"] == "opportunity"
            ),
            "n_glm_disagreements": sum(
                r["glm_check"].get("n_disagreements", 0) for r in res.hypotheses
            ),
            "n_panel_rows": len(panel),
            "n_panel_events": int(panel["event"].sum()),
        },
    )
