"""Try one hypothesis on the cached panel, with the hypotheses stage's statistics and guards.

`try_hypothesis` runs `hypotheses.analysis.run_hypotheses` - the stage's own code - on the one
hypothesis: the same threshold choice (a suggested threshold is picked on the stage's random
half of the accounts and tested on the other half, same seed), the same lead profile (Cox, LR
p-values, GLM cross-check, minimum-events guards), lamp performance, alerts and landmark KM.

The verdict needs the whole family, because false discoveries are controlled across
hypotheses (two-level Benjamini-Bogomolov, `verdict.two_level_qvalues`). The bench therefore
adds the new hypothesis to the family of models/hypotheses.json (replacing a stored
hypothesis with the same id) and runs the family selection again: the verdict shown is the
one `dvc repro hypotheses` gives once the hypothesis is in hypotheses.yaml, as long as the
panel and the hypotheses settings are unchanged (checked: `Workspace.family`). The other
hypotheses' lead profiles do not depend on the new one, only their q-values do, so the bench
also shows which verdicts the addition would change. With `family=False` the hypothesis is
judged alone (a family of one; q = the within-hypothesis BH q) and the result says so.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import yaml

from churnlab.errors import ConfigError
from churnlab.explore.workspace import Workspace, open_workspace
from churnlab.hypotheses.alert_budget import build_budget_scan, curve_from_scan
from churnlab.hypotheses.analysis import (
    BUDGET_RENAMED,
    Settings,
    run_hypotheses,
)
from churnlab.hypotheses.design import churn_within, subject_codes
from churnlab.hypotheses.family import (
    apply_verdict,
    family_selection,
    hypothesis_from_record,
    profile_from_record,
)
from churnlab.hypotheses.lamp_alerts import calendar_weeks
from churnlab.hypotheses.lamp_perf import build_scan, candidate_thresholds, performance
from churnlab.hypotheses.spec import Hypothesis, parse_hypotheses
from churnlab.hypotheses.stage import billing_values_in_meanings
from churnlab.reports.loaders import ReportData, display_labels
from churnlab.reports.pages import attribute_rule, lit_from_start

SOURCE = "your idea (explore bench)"
# bench-only fields of an idea: not part of a hypotheses.yaml entry
BENCH_FIELDS = ("lags",)
PERFORMANCE_FIELDS = (
    "lamp_on_share", "precision", "rate_off", "lift", "recall", "median_warning_weeks",
)  # fmt: skip
# Two different "median warning" measures share the name `median_warning_weeks` in
# models/hypotheses.json (the record's lamp performance, and its `alerts`); the bench's
# tables name them apart so they cannot be read as one (a new user saw 12.0 and 9.0 for one
# attribute lamp): weeks the lamp was on before churn, counted within the horizon, vs weeks
# from an alert (off -> on) to churn.
LAMP_ON_WEEKS = "median_lamp_on_weeks_before_churn"
ALERT_WARNING_WEEKS = "median_alert_warning_weeks"
VERDICT_FIELDS = (
    "id", "kind", "verdict_label", "verdict", "verdict_reason", "best_lag_weeks",
    "headline_lag_weeks", "hazard_ratio", "ci_low", "ci_high", "p_value", "q_value",
    "hypothesis_p_value", "hypothesis_q_value", "lamp_rule", "threshold", "threshold_method",
    "threshold_rule", "threshold_ci", "warning_weeks_basis", "n_accounts", "n_events",
)  # fmt: skip
LEAD_COLUMNS = (
    "lag_weeks", "hazard_ratio", "ci_low", "ci_high", "p_value", "q_value", "q_value_alone",
    "coef", "se", "n_rows", "n_accounts", "n_events", "lamp_on_share", "problem",
    "glm_p_value", "disagreement",
)  # fmt: skip


def idea_dict(idea: str | dict[str, Any]) -> dict[str, Any]:
    """An idea as a dict: a dict is copied, text is read as YAML (one mapping; a one-item
    list, as pasted from hypotheses.yaml, is accepted).

    Raises:
        ConfigError: the text is not YAML or not one mapping of field: value.
    """
    if isinstance(idea, str):
        try:
            raw = yaml.safe_load(idea)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{SOURCE}: not valid YAML: {exc}") from exc
        if isinstance(raw, list) and len(raw) == 1:
            raw = raw[0]
        idea = raw
    if not isinstance(idea, dict):
        raise ConfigError(f"{SOURCE}: expected one mapping of field: value (id, indicator, ...)")
    return dict(idea)


def parse_idea(idea: str | dict[str, Any], ws: Workspace) -> tuple[Hypothesis, list[int] | None]:
    """Validate an idea exactly as hypotheses.yaml entries are validated.

    Args:
        idea: the fields of a hypotheses.yaml entry (id, statement, stage, indicator,
            direction, threshold or "suggest", expected_lead_weeks, action, kind; or
            attribute + values), as a dict or YAML text; optionally `lags` (a list of weeks)
            to try other lags than params.yaml's `hypotheses.lags` (bench only: the stage
            always uses params.yaml's).
        ws: the workspace (known indicators from panel_meta.json, the billing vocabulary).

    Returns:
        (hypothesis, lags or None).

    Raises:
        ConfigError: one line naming the idea, the field and why (unknown indicator with
            the closest known id, missing field, bad direction, bad lags ...).
    """
    raw = idea_dict(idea)
    lags = raw.pop("lags", None)
    if lags is not None:
        items = lags if isinstance(lags, list) else [lags]
        if not items or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in items):
            raise ConfigError(
                f"{SOURCE}: hypothesis '{raw.get('id')}', field 'lags': {lags!r} is not a list "
                "of whole weeks >= 0"
            )
        lags = sorted(set(items))
    (hyp,) = parse_hypotheses([raw], SOURCE, ws.known)
    return billing_values_in_meanings(hyp, ws.vocabulary_billing), lags


@dataclass
class Exploration:
    """What the bench found for one hypothesis. Every table is a plain DataFrame (sort,
    filter, restyle); `churnlab.explore.plots` draws the figures from them.

    Attributes:
        hypothesis: the validated hypothesis.
        record: the record `churnlab hypotheses` would write for it (models/hypotheses.json)
            - with the family's q-values when `family` is set.
        verdict: one row: verdict, reason, best lag, headline HR / CI / p / q, the
            hypothesis' Simes p and family q, threshold and lamp rule (an attribute's values
            in the user's labels: `reports.pages.attribute_rule`).
        lead_profile: one row per lag: Cox HR with 95% CI, LR p-value, q_value (family),
            q_value_alone (as if it were the only hypothesis), counts, problems, GLM check.
        threshold_curve: the trade-off over candidate thresholds (lamp_perf and alert-budget
            columns, `chosen` marks the threshold used); a suggested threshold's curve is
            the stage's (tuning half); a configured one's is drawn on every account for
            context. Empty for an attribute.
        performance: one row: the lamp judged per account-week (precision, lift, recall,
            share on, `median_lamp_on_weeks_before_churn`: the record's
            `median_warning_weeks`, weeks lit before churn within the horizon, so at most
            `horizon_weeks`).
        alerts: one row: the lamp judged as alerts (precision of a lighting, share lit,
            churners warned, `median_alert_warning_weeks`: the record's
            `alerts.median_warning_weeks`, weeks from an off -> on lighting to churn,
            lightings per CSM-week, ...). A lamp lit from an account's first week (an
            attribute, onboarding progress) lights once, at the start: `notes` says its
            alert measures do not apply.
        landmark_km: KM curves per landmark week x lamp state; landmark_tests: log-rank per
            landmark.
        family: one row per hypothesis of the family with the new one added: Simes p,
            family q, selected, verdict_stage (models/hypotheses.json now), verdict (with
            the new one added), changed, is_new.
        notes: what to keep in mind when reading the numbers (bench-only lags, a family
            judged alone, ...).
        cpu_seconds: CPU time of the analysis (process time).
    """

    hypothesis: Hypothesis
    settings: Settings
    record: dict
    verdict: pd.DataFrame
    lead_profile: pd.DataFrame
    threshold_curve: pd.DataFrame
    performance: pd.DataFrame
    alerts: pd.DataFrame
    landmark_km: pd.DataFrame
    landmark_tests: pd.DataFrame
    family: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0


def try_hypothesis(
    idea: str | dict[str, Any], ws: Workspace | None = None, family: bool = True
) -> Exploration:
    """Analyse one hypothesis on the cached panel as the hypotheses stage would.

    Args:
        idea: see `parse_idea`.
        ws: the workspace (`open_workspace()`); default: opened from the working directory.
        family: judge the hypothesis inside the family of models/hypotheses.json (the
            verdict the stage will give); False: alone (needs no hypotheses output).

    Raises:
        ConfigError: the idea is invalid (see `parse_idea`).
        MissingInputError: models/hypotheses.json is missing and `family` is set.
        UserError: models/hypotheses.json is out of date (see `Workspace.family`).
    """
    t0 = time.process_time()
    ws = ws if ws is not None else open_workspace()
    hyp, lags = parse_idea(idea, ws)
    s = ws.settings if lags is None else replace(ws.settings, lags=lags)
    notes = []
    if lags is not None and lags != ws.settings.lags:
        notes.append(
            f"lags {lags} are the bench's; the stage tests every hypothesis at params.yaml "
            f"hypotheses.lags {ws.settings.lags}"
        )
    stored = ws.family() if family else None  # fail early: before the analysis runs
    res = run_hypotheses(ws.panel, [hyp], ws.testable, s)
    rec = res.hypotheses[0]
    prof = _own_profile(res.tables["lead_profiles"])
    fam = pd.DataFrame()
    if stored is not None and len(prof):
        rec, prof, fam = _in_family(rec, prof, hyp, stored, s)
    elif stored is None:
        notes.append(
            "judged alone (family=False): q-values control false discoveries within this "
            "hypothesis' lags only; the stage's verdict also depends on the other hypotheses"
        )
    if rec["verdict"] == "not testable":
        notes.append(f"not testable: {rec['verdict_reason']}")
    curve = _threshold_curve(res.tables["threshold_curves"], hyp, rec, ws, s)
    if len(curve) and hyp.threshold is None:
        notes.append(
            "the threshold was chosen on the tuning half of the accounts "
            f"({_tuning(rec)}); every other number is measured on the test half"
        )
    elif len(curve):
        notes.append(
            "configured threshold: the stage keeps no trade-off curve for it; this one is "
            "drawn on every account for context"
        )
    if rec.get("alerts") and _lit_from_start(rec, ws):
        notes.append(
            "lit from the start: the lamp is on from an account's first week, so alert "
            f"measures do not apply to it ({ALERT_WARNING_WEEKS} counts only churners who "
            f"left within the horizon of starting); {LAMP_ON_WEEKS} is capped at the "
            f"{s.horizon_weeks}-week horizon - the lamp can be acted on from the start"
        )
    verdict = pd.DataFrame([{k: rec.get(k) for k in VERDICT_FIELDS}])
    labels = display_labels((ws.params or {}).get("vocabulary"))
    if hyp.is_attribute and labels.get(rec.get("attribute") or ""):
        # the stage's rule names the meanings (monthly / annual): show the user's labels
        verdict["lamp_rule"] = attribute_rule(pd.Series(rec, dtype=object), "en", labels)
    km = res.tables["landmark_km"]
    return Exploration(
        hypothesis=hyp,
        settings=s,
        record=rec,
        verdict=verdict,
        lead_profile=prof.reindex(columns=[c for c in LEAD_COLUMNS if c in prof.columns]),
        threshold_curve=curve,
        performance=pd.DataFrame([{k: rec.get(k) for k in PERFORMANCE_FIELDS}]).rename(
            columns={"median_warning_weeks": LAMP_ON_WEEKS}
        ),
        alerts=pd.DataFrame([rec["alerts"]]).rename(
            columns={"median_warning_weeks": ALERT_WARNING_WEEKS}
        )
        if rec.get("alerts")
        else pd.DataFrame(),
        landmark_km=km.drop(columns="id") if "id" in km.columns else km,
        landmark_tests=pd.DataFrame(rec.get("landmark_tests") or []),
        family=fam,
        notes=notes,
        cpu_seconds=time.process_time() - t0,
    )


def _lit_from_start(rec: dict, ws: Workspace) -> bool:
    """The reports' rule (`reports.pages.lit_from_start`): an attribute, or an onboarding
    indicator whose lamp is on at 0."""
    return bool(lit_from_start(pd.Series(rec, dtype=object), ReportData(panel_meta=ws.meta)))


def _own_profile(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    prof = table.drop(columns="id").reset_index(drop=True)
    return prof.rename(columns={"q_value": "q_value_alone"})


def _tuning(rec: dict) -> str:
    t = rec.get("threshold_tuning") or {}
    return f"{t.get('tuning_accounts')} accounts, {t.get('tuning_events')} churns"


def _in_family(
    rec: dict, prof: pd.DataFrame, hyp: Hypothesis, stored: dict, s: Settings
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The record, profile and family table with the hypothesis added to the stored family."""
    records = [r for r in stored.get("hypotheses") or [] if r.get("id") != hyp.id]
    before = {r["id"]: r.get("verdict") for r in stored.get("hypotheses") or []}
    profiles = {r["id"]: profile_from_record(r) for r in records if r.get("lead_profile")}
    hyps = {r["id"]: hypothesis_from_record(r) for r in records if r["id"] in profiles}
    profiles[hyp.id] = prof.drop(columns=["q_value_alone"])
    hyps[hyp.id] = hyp
    table, with_q = family_selection(profiles, hyps, s)
    rec = copy.deepcopy(rec)
    alone_ph = rec.get("ph_check") or {}
    full = with_q[hyp.id].assign(q_value_alone=prof["q_value_alone"].to_numpy())
    lag = apply_verdict(rec, full.drop(columns="q_value_alone"), hyp, s)
    row = table[table["id"] == hyp.id].iloc[0]
    rec.update(
        hypothesis_p_value=row["hypothesis_p_value"], hypothesis_q_value=row["hypothesis_q_value"]
    )
    if rec["verdict"] == "inconclusive":
        rec["ph_check"] = {}
    elif alone_ph.get("lag_weeks") != lag:
        rec["ph_check"] = {
            "lag_weeks": lag,
            "problem": "not computed by the bench at this lag (the family moved the headline "
            "lag); the stage computes it",
        }
    table.insert(2, "verdict_stage", table["id"].map(before))
    table["changed"] = table["verdict_stage"].notna() & (table["verdict_stage"] != table["verdict"])
    table["is_new"] = table["id"] == hyp.id
    return rec, full, table


def _threshold_curve(
    stage_curves: pd.DataFrame, hyp: Hypothesis, rec: dict, ws: Workspace, s: Settings
) -> pd.DataFrame:
    """A suggested threshold: the stage's curve (tuning half). A configured one: the same
    columns over the candidates plus the configured value, on every account (the stage's
    rows for it), `chosen` = the configured threshold."""
    if len(stage_curves):
        return stage_curves.drop(columns="id").reset_index(drop=True)
    if hyp.is_attribute or rec.get("threshold") is None or rec["verdict"] == "not testable":
        return pd.DataFrame()
    panel, thr = ws.panel, float(rec["threshold"])
    values = panel[hyp.indicator].to_numpy(dtype=float)
    cands = np.union1d(candidate_thresholds(values), [thr])
    perf = performance(build_scan(panel, values, hyp.direction, cands, s.horizon_weeks))
    budget = build_budget_scan(
        values, cands, hyp.direction, churn_within(panel, s.horizon_weeks),
        subject_codes(panel), calendar_weeks(panel), panel["event"].to_numpy(), s.horizon_weeks,
        account=panel["account_id"].to_numpy(),
    )  # fmt: skip
    bcurve = curve_from_scan(budget).drop(columns=["threshold", "chosen"])
    curve = perf.join(bcurve.rename(columns=BUDGET_RENAMED))
    curve["chosen"] = np.isclose(curve["threshold"], thr)
    curve["chosen_by"] = np.where(curve["chosen"], "configured", None)
    return curve
