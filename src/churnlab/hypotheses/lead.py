"""Lead profile: the lamp's hazard ratio when it is read `lag` weeks before each week.

Under the mechanism "indicator reacts at trouble onset T0, hazard rises from T0 + lead", the
lamp lagged by k weeks separates elevated from normal weeks best at k = lead, so the profile
peaks at the true lead (shorter lags include not-yet-elevated weeks, longer ones miss
recently elevated ones)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from scipy import stats

from churnlab.hypotheses.case_cohort import CaseCohortSample
from churnlab.hypotheses.cox import fit_cox
from churnlab.hypotheses.design import lag_within_spell, lamp, subject_codes
from churnlab.hypotheses.glm_check import compare, fit_cloglog, tenure_bins
from churnlab.hypotheses.subject_frame import subject_frame

PROFILE_COLUMNS = [
    "lag_weeks", "hazard_ratio", "ci_low", "ci_high", "p_value", "wald_p_value", "coef", "se", "n_rows",
    "n_accounts", "n_events", "lamp_on_share", "problem", "glm_coef", "glm_se", "glm_p_value",
    "glm_problem", "disagreement",
]  # fmt: skip


# A record's `cox_variance`: which variance the lead profile's Cox SEs, CIs and p-values use
MODEL_VARIANCE = "model-based"
ROBUST_VARIANCE = "robust, clustered on account"


def repeated_spells(panel: pd.DataFrame, subjects: np.ndarray | None = None) -> bool:
    """Does any account hold more than one spell (subject) in these rows?

    Args:
        panel: rows with `account_id` (and `spell`, if the panel has several per account).
        subjects: the rows' subject codes (`design.subject_codes`), if the caller has them.

    Returns True when the Cox fits on these rows need the account-clustered variance (see
    `lead_profile`)."""
    if len(panel) == 0:
        return False
    if subjects is None:
        subjects = subject_codes(panel)
    # a subject is one (account, spell): more subjects than accounts = some account has two
    return len(np.unique(subjects)) > panel["account_id"].nunique()


def _reduced_loglik(start, stop, event, keep, adjusters, full, cache) -> float | None:
    """Log partial likelihood of the adjusters-only model on the same rows (None if it
    cannot be fitted). `cache` must belong to one panel: the key is the rows kept."""
    if adjusters.shape[1] == 0:
        return full.loglik_null
    key = hashlib.blake2b(keep.tobytes(), digest_size=16).hexdigest()
    if cache is not None and key in cache:
        return cache[key]
    fit = fit_cox(start[keep], stop[keep], event[keep], adjusters)
    value = None if fit.problem else fit.loglik
    if cache is not None:
        cache[key] = value
    return value


def lead_profile(
    panel: pd.DataFrame,
    indicator: str | np.ndarray,
    direction: str,
    threshold: float,
    lags: list[int],
    adjust: np.ndarray,
    adjust_names: list[str],
    min_events: int,
    min_accounts: int,
    with_glm: bool = True,
    min_state_events: int = 0,
    reduced_cache: dict | None = None,
    subjects: np.ndarray | None = None,
    sample: CaseCohortSample | None = None,
    robust: bool | None = None,
) -> pd.DataFrame:
    """One row per lag: Cox HR of the lamp (adjusted), its GLM cross-check, and any problem.

    `indicator`: a panel column, or one value per panel row (e.g. an attribute's 0/1 lamp
    with direction "high", threshold 0.5); it is lagged within each spell. `n_accounts`
    counts accounts (an account's spells together); the GLM's errors are clustered on them.

    `p_value` is the likelihood-ratio test of the lamp (`wald_p_value` beside it); the CI is
    Wald's. A lag is not fitted when fewer than `min_state_events` churns are expected in the
    rarer lamp state if the lamp made no difference. `reduced_cache` shares the lamp-free
    fits between hypotheses (they depend only on the rows kept). `subjects`: the rows'
    subject codes (`design.subject_codes`), when the caller has them: the lags are then
    looked up on `subject_frame` (same values, without re-pairing account and spell).

    `sample`: a case-cohort sample of the panel's rows (`case_cohort.case_cohort_sample`):
    each lag's Cox model is then fitted on the sampled rows only, with Barlow weights and a
    robust variance clustered on account (Therneau & Li 1999), and `p_value` is the robust
    Wald test (= `wald_p_value`): a likelihood-ratio test needs a true likelihood, and the
    weighted partial likelihood of a sample is not one. The lamp is still lagged on the whole
    panel (a case's history is known), and `n_rows`, `n_accounts`, `n_events` and
    `lamp_on_share` still count the whole cohort the sample stands for. The GLM cross-check
    is fitted on the same sampled rows with the same weights (a design-weighted cloglog GLM,
    its sandwich variance clustered on account: `glm_check`), so it costs what the sampled
    Cox fit costs, and `disagreement` compares it with the robust Wald p.

    `robust`: the variance of the full-cohort Cox fits; None (the default) = robust exactly
    when some account has several spells in `panel` (`repeated_spells`). An account that
    churned and came back is one subject per spell, and its spells are not independent (the
    same customer, CSM and product habits): the model-based variance, which treats every
    subject as independent, is then too small. The robust variance is the Lin & Wei (1989)
    sandwich with the spells of one account summed into one cluster - what R's
    `coxph(..., cluster = account_id)` reports as `robust se` (`cox.fit_cox(cluster=)`,
    checked against lifelines' `CoxPHFitter(robust=True, cluster_col=)` and a jackknife in
    tests/hypotheses/test_hyp_cluster_spells.py). The CI and `wald_p_value` use it, and
    `p_value` is the likelihood-ratio statistic divided by the variance inflation
    (robust / model-based variance of the lamp's coefficient) - the adjusted likelihood
    ratio of Chandler & Bate (2007, Biometrika 94:167) for one parameter, which keeps the
    likelihood-ratio test's good behaviour with few churns in one lamp state (see `p_value`
    above) and is chi-square(1) under within-account dependence.

    With one spell per account the model-based variance is kept: the subjects are then
    independent and the many weekly rows of one subject are no reason to cluster (the
    counting-process partial likelihood already accounts for them - R's `coxph` without
    `cluster` on (start, stop] data), so the model-based variance is valid and efficient,
    while the sandwich only adds noise (it is biased low when few churns fall in one lamp
    state: the sparse lamps the likelihood-ratio test guards against), and single-spell
    companies keep byte-identical results."""
    acc_codes = pd.factorize(panel["account_id"])[0]
    if robust is None:
        robust = repeated_spells(panel, subjects)
    start = panel["start"].to_numpy(float)
    stop = panel["stop"].to_numpy(float)
    event = panel["event"].to_numpy().astype(bool)
    source, where = indicator, panel
    if subjects is not None:
        where = subject_frame(panel, subjects)
        if isinstance(indicator, str):
            source = panel[indicator].to_numpy(dtype=float)
    in_sample, weights = None, None
    if sample is not None:
        in_sample = np.zeros(len(panel), bool)
        in_sample[sample.rows] = True
        weights = np.zeros(len(panel))
        weights[sample.rows] = sample.weights
    rows = []
    for lag in lags:
        x = lamp(lag_within_spell(where, source, lag), direction, threshold)
        keep = ~np.isnan(x)
        n_events = int(event[keep].sum())
        n_accounts = len(np.unique(acc_codes[keep]))
        row: dict = {c: None for c in PROFILE_COLUMNS}
        row.update(lag_weeks=lag, n_rows=int(keep.sum()), n_accounts=n_accounts, n_events=n_events)
        row["lamp_on_share"] = float(x[keep].mean()) if keep.any() else None
        if n_events < min_events or n_accounts < min_accounts:
            row["problem"] = (
                f"too little data: {n_events} events in {n_accounts} accounts "
                f"(need {min_events} and {min_accounts})"
            )
            rows.append(row)
            continue
        share = float(np.mean(x[keep]))
        # Judged on the churns EXPECTED in the rarer lamp state if the lamp made no difference,
        # not on the observed ones: skipping lags that happened to see few churns with the lamp
        # on would keep exactly the lags where noise put many there (a selection bias).
        expected = n_events * min(share, 1.0 - share)
        if 0.0 < share < 1.0 and expected < min_state_events:
            row["problem"] = (
                f"too few churns to compare: the lamp is {'on' if share < 0.5 else 'off'} in "
                f"{min(share, 1 - share):.2%} of the weeks, so only {expected:.1f} of the "
                f"{n_events} churns would fall there by chance (need {min_state_events})"
            )
            rows.append(row)
            continue
        if in_sample is not None:
            _fit_sampled(row, x, keep & in_sample, start, stop, event, adjust, adjust_names,
                         weights, acc_codes, with_glm)  # fmt: skip
            rows.append(row)
            continue
        design = np.column_stack([x[keep], adjust[keep]])
        # Drop adjusters that are constant in these rows (e.g. one segment only).
        var = design.std(axis=0)
        cols = [0] + [j for j in range(1, design.shape[1]) if var[j] > 0]
        design = design[:, cols]
        names = ["lamp"] + [adjust_names[j - 1] for j in cols[1:]]
        fit = fit_cox(
            start[keep], stop[keep], event[keep], design, names,
            cluster=acc_codes[keep] if robust else None,
        )  # fmt: skip
        if fit.problem:
            row["problem"] = fit.problem
            rows.append(row)
            continue
        row.update(fit.term(0))
        # p from the likelihood-ratio test against the model without the lamp: with few
        # churns in one lamp state the Wald p-value is unreliable (a decoy lit in 0.07% of
        # weeks reached HR 9, Wald p 0.002 on 3 churns); the LRT holds up far better there.
        reduced = _reduced_loglik(start, stop, event, keep, design[:, 1:], fit, reduced_cache)
        row["wald_p_value"] = row["p_value"]
        if reduced is not None:
            lr = max(0.0, 2.0 * (fit.loglik - reduced))
            if robust:  # within-account dependence inflates the statistic by this factor
                lr *= (float(fit.naive_se[0]) / float(fit.se[0])) ** 2
            row["p_value"] = float(stats.chi2.sf(lr, 1))
        if with_glm:
            _glm_into(row, event[keep], stop[keep], design, acc_codes[keep], names)
        rows.append(row)
    out = pd.DataFrame(rows, columns=PROFILE_COLUMNS)
    # Fixed dtypes: a column that is None at every lag must still be float, not object.
    text = {"problem", "glm_problem", "disagreement"}
    counts = {"lag_weeks", "n_rows", "n_accounts", "n_events"}
    for col in PROFILE_COLUMNS:
        if col in counts:
            out[col] = out[col].astype("int64")
        elif col not in text:
            out[col] = out[col].astype("float64")
    return out


def _fit_sampled(
    row, x, fit_rows, start, stop, event, adjust, adjust_names, weights, acc_codes, with_glm
):
    """One lag's Cox fit on a case-cohort sample (see `lead_profile`): Barlow weights, robust
    variance clustered on account, robust Wald p; and the GLM cross-check on the same rows
    with the same weights (`glm_check.fit_cloglog(weights=)`). Fills `row` in place."""
    design = np.column_stack([x[fit_rows], adjust[fit_rows]])
    var = design.std(axis=0)
    cols = [0] + [j for j in range(1, design.shape[1]) if var[j] > 0]
    design = design[:, cols]
    names = ["lamp"] + [adjust_names[j - 1] for j in cols[1:]]
    fit = fit_cox(
        start[fit_rows], stop[fit_rows], event[fit_rows], design, names,
        weights=weights[fit_rows], cluster=acc_codes[fit_rows],
    )  # fmt: skip
    if fit.problem:
        row["problem"] = fit.problem
        return
    row.update(fit.term(0))
    row["wald_p_value"] = row["p_value"]
    if with_glm:
        _glm_into(row, event[fit_rows], stop[fit_rows], design, acc_codes[fit_rows], names,
                  weights[fit_rows])  # fmt: skip


def _glm_into(row, event, stop, design, groups, names, weights=None):
    """The GLM cross-check of one lag on the Cox fit's rows (and weights), compared with the
    Cox coefficient and p already in `row`. Fills `row` in place."""
    glm = fit_cloglog(
        event.astype(float), design, groups, tenure_bins(stop, event), names, weights=weights
    )
    row.update(
        glm_coef=glm["coef"], glm_se=glm["se"], glm_p_value=glm["p_value"],
        glm_problem=glm["problem"], disagreement=compare(row["coef"], row["p_value"], glm),
    )  # fmt: skip
