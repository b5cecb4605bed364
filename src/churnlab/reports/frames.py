"""Pure reshaping of the stage outputs into the small tables the report plots and tables show.

Every function takes already-loaded JSON dicts / DataFrames and returns a DataFrame (no file
or params access). They tolerate absent optional fields: a report shows "not available"
rather than failing when an upstream stage did not produce something.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from churnlab.reports.i18n import verdict_key

HYPOTHESIS_ID_COLUMNS = ("hypothesis_id", "hypothesis", "id")


def pick(df: pd.DataFrame, candidates: Sequence[str]) -> str | None:
    """The first of `candidates` that is a column of `df` (upstream spelling varies)."""
    for c in candidates:
        if c in df.columns:
            return c
    return None


# --- KPIs ------------------------------------------------------------------------------


def kpi_monthly(kpis: dict) -> pd.DataFrame:
    """The monthly KPI series of models/kpis.json as a DataFrame sorted by month."""
    series = None
    for key in ("monthly", "series", "months", "monthly_series"):
        if isinstance(kpis.get(key), list):
            series = kpis[key]
            break
    if series is None:  # any list of records that has a "month" field
        series = next(
            (
                v
                for v in kpis.values()
                if isinstance(v, list) and v and isinstance(v[0], dict) and "month" in v[0]
            ),
            [],
        )
    df = pd.DataFrame(series)
    if df.empty or "month" not in df:
        return pd.DataFrame(columns=["month", "logo_churn_rate", "grr", "nrr", "active_accounts"])
    df["month"] = pd.to_datetime(df["month"].astype(str).str.slice(0, 7) + "-01")
    return df.sort_values("month").reset_index(drop=True)


def pooled_months(kpis: dict, monthly: pd.DataFrame) -> int | None:
    """Over how many observed months the headline figures are pooled.

    `headline.months_pooled` when the kpis stage wrote it, else the monthly records inside
    `headline.window_months` [first, last], else None (unknown).
    """
    head = kpis.get("headline") or {}
    if head.get("months_pooled") is not None:
        return int(head["months_pooled"])
    window = head.get("window_months")
    if isinstance(window, list) and len(window) == 2 and not monthly.empty:
        lo, hi = (pd.Timestamp(str(w)[:7] + "-01") for w in window)
        return int(((monthly["month"] >= lo) & (monthly["month"] <= hi)).sum())
    return None


def kpi_headline(kpis: dict, monthly: pd.DataFrame) -> dict:
    """Headline figures with what each one covers.

    logo_churn: the kpis stage's pooled monthly churn over `months` observed months, else
    the latest month's (`logo_basis` "pooled" / "latest"). grr / nrr: the 12-month figure
    (`grr_12m`, basis "12m", window end `retention_end`), else the pooled monthly figure
    ("pooled"), else the latest month's ("latest"). `latest_month` = "YYYY-MM" of the last
    monthly record.
    """
    head = dict(kpis.get("headline") or {})
    last = monthly.iloc[-1] if not monthly.empty else pd.Series(dtype=object)
    months = pooled_months(kpis, monthly)
    out = {
        "active_accounts": head.get("active_accounts_now", last.get("active_accounts")),
        "window": head.get("retention_12m_window") or head.get("window_months"),
        "months": months,
        "latest_month": last["month"].strftime("%Y-%m") if "month" in last else None,
        "retention_end": (head.get("retention_12m_window") or [None, None])[-1],
    }
    if head.get("monthly_logo_churn") is not None:
        out["logo_churn"], out["logo_basis"] = head["monthly_logo_churn"], "pooled"
    else:
        out["logo_churn"], out["logo_basis"] = last.get("logo_churn_rate"), "latest"
    for key in ("grr", "nrr"):
        if head.get(f"{key}_12m") is not None:
            out[key], out[f"{key}_basis"] = head[f"{key}_12m"], "12m"
        elif head.get(f"monthly_{key}") is not None:
            out[key], out[f"{key}_basis"] = head[f"monthly_{key}"], "pooled"
        else:
            out[key], out[f"{key}_basis"] = last.get(key), "latest"
    return out


# MRR bridge movements in display order: (column of the monthly series, sign).
BRIDGE_MOVES = [
    ("new_mrr", 1),
    ("expansion_mrr", 1),
    ("reactivated_mrr", 1),
    ("contraction_mrr", -1),
    ("churned_mrr", -1),
]


def mrr_bridge(monthly: pd.DataFrame, months: int | None) -> pd.DataFrame:
    """MRR at the start of the last `months` monthly records, each movement, MRR at the end.

    Columns: step (start / new_mrr / ... / other / end), amount (signed, currency units),
    first, last (the months covered). `reactivated_mrr` appears only when the kpis stage
    writes it; `other` only when the movements do not add up to the end MRR (more than 0.5).
    Empty when the series has no MRR columns.
    """
    cols = ["step", "amount", "first", "last"]
    need = {"mrr_start", "mrr_end", "new_mrr", "churned_mrr"}
    if monthly.empty or not need <= set(monthly.columns):
        return pd.DataFrame(columns=cols)
    window = monthly.tail(months) if months else monthly
    first, last = window["month"].iloc[0], window["month"].iloc[-1]
    rows = [("start", float(window["mrr_start"].iloc[0]))]
    for col, sign in BRIDGE_MOVES:
        if col in window:
            rows.append((col, sign * float(pd.to_numeric(window[col]).fillna(0).abs().sum())))
    end = float(window["mrr_end"].iloc[-1])
    other = end - sum(a for _, a in rows)
    if abs(other) > 0.5:
        rows.append(("other", other))
    rows.append(("end", end))
    df = pd.DataFrame(rows, columns=["step", "amount"])
    return df.assign(first=first, last=last)[cols]


def kpi_km(
    kpi_tables: dict[str, pd.DataFrame], by: str, groups: Sequence[str] | None = None
) -> pd.DataFrame:
    """KM retention curves of kpi_tables/km_curves.parquet for one `by` (group, months, survival)."""
    km = kpi_tables.get("km_curves", pd.DataFrame())
    if km.empty or not {"by", "group", "months", "survival"} <= set(km.columns):
        return pd.DataFrame(columns=["group", "months", "survival"])
    out = km[km["by"].astype(str) == by]
    if groups is not None:
        out = out[out["group"].astype(str).isin([str(g) for g in groups])]
    cols = ["group", "months", "survival"] + [
        c for c in ("ci_low", "ci_high", "at_risk") if c in out
    ]
    return out[cols].astype({"group": str}).sort_values(["group", "months"]).reset_index(drop=True)


def cohort_matrix(kpi_tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Cohort retention as a cohort_month x months_since matrix of retention shares."""
    cr = kpi_tables.get("cohort_retention", pd.DataFrame())
    if cr.empty or not {"cohort_month", "months_since", "retention"} <= set(cr.columns):
        return pd.DataFrame()
    mat = cr.pivot_table(
        index="cohort_month", columns="months_since", values="retention", aggfunc="first"
    )
    mat.index = pd.to_datetime(mat.index).strftime("%Y-%m")
    return mat.sort_index()


# --- panel-derived views (segments, goals) ----------------------------------------------


def _subject_keys(panel: pd.DataFrame) -> list[str]:
    """A survival subject is one spell of one account (one per account on an older panel)."""
    return ["account_id", "spell"] if "spell" in panel else ["account_id"]


def spell_lifetimes(panel: pd.DataFrame) -> pd.DataFrame:
    """One row per subject (account x spell): attributes, weeks observed (max stop, counted
    from the spell's first week) and whether the spell ended in churn. For KM curves: each
    spell is its own subject, as in the kpis and hypotheses stages."""
    cols = ["account_id", "segment", "customer_goal", "weeks", "churned"]
    if panel.empty:
        return pd.DataFrame(columns=cols)
    keys = _subject_keys(panel)
    attrs = [c for c in ("segment", "customer_goal", "billing_period", "plan") if c in panel]
    agg = {"stop": "max", "event": "max", **{c: "last" for c in attrs}}
    out = (
        panel.sort_values([*keys, "stop"])
        .groupby(keys, sort=True, dropna=False)
        .agg(agg)
        .reset_index()
    )
    return out.rename(columns={"stop": "weeks", "event": "churned"}).astype({"churned": int})


def account_lifetimes(panel: pd.DataFrame) -> pd.DataFrame:
    """One row per account: its latest attributes, weeks observed over all its spells and
    whether it is churned now (its latest spell ended in churn; a churned account that came
    back is a customer again)."""
    cols = ["account_id", "segment", "customer_goal", "weeks", "churned"]
    spells = spell_lifetimes(panel)
    if spells.empty:
        return pd.DataFrame(columns=cols)
    if "spell" not in spells:
        return spells
    spells = spells.sort_values(["account_id", "spell"])
    attrs = [c for c in spells.columns if c not in ("account_id", "spell", "weeks", "churned")]
    agg = {"weeks": "sum", "churned": "last", **{c: "last" for c in attrs}}
    return spells.groupby("account_id", sort=True).agg(agg).reset_index()


def kaplan_meier(durations: Iterable[float], events: Iterable[int]) -> pd.DataFrame:
    """Product-limit estimate S(t) at 0 and every event time: columns weeks, survival, at_risk.

    Ties: accounts censored at t are still at risk for events at t (the usual convention).
    """
    d = np.asarray(list(durations), dtype=float)
    e = np.asarray(list(events), dtype=int)
    rows = [(0.0, 1.0, len(d))]
    s = 1.0
    for time in np.unique(d[e == 1]):
        at_risk = int((d >= time).sum())
        deaths = int(((d == time) & (e == 1)).sum())
        s *= 1 - deaths / at_risk
        rows.append((float(time), s, at_risk))
    if len(d) and d.max() > rows[-1][0]:  # carry the curve to the end of follow-up
        rows.append((float(d.max()), s, int((d >= d.max()).sum())))
    return pd.DataFrame(rows, columns=["weeks", "survival", "at_risk"])


def retention_by_group(
    lifetimes: pd.DataFrame, group_col: str | None, all_label: str
) -> pd.DataFrame:
    """KM retention curves per value of `group_col` (or one curve labelled `all_label`)."""
    if lifetimes.empty:
        return pd.DataFrame(columns=["group", "weeks", "survival", "at_risk"])
    groups = (
        [(all_label, lifetimes)]
        if group_col is None
        else sorted(lifetimes.groupby(group_col), key=lambda x: str(x[0]))
    )
    parts = []
    for name, g in groups:
        curve = kaplan_meier(g["weeks"], g["churned"])
        curve.insert(0, "group", str(name))
        parts.append(curve)
    return pd.concat(parts, ignore_index=True)


def monthly_churn(panel: pd.DataFrame) -> pd.DataFrame:
    """Monthly logo churn from the panel: churn events in the month / accounts active in it."""
    if panel.empty:
        return pd.DataFrame(columns=["month", "active_accounts", "churned", "logo_churn_rate"])
    month = pd.to_datetime(panel["week_start"]).dt.to_period("M").dt.to_timestamp()
    df = pd.DataFrame({"month": month, "account_id": panel["account_id"], "event": panel["event"]})
    out = (
        df.groupby("month", sort=True)
        .agg(active_accounts=("account_id", "nunique"), churned=("event", "sum"))
        .reset_index()
    )
    out["logo_churn_rate"] = out["churned"] / out["active_accounts"]
    return out


def observed_months(monthly: pd.DataFrame, kpis: dict) -> pd.DataFrame:
    """Keep the months the kpis stage reports: from its observation start to its last complete month.

    Before `observation_start` churn was not recorded (only survivors are in the data), and a
    trailing partial month would understate churn.
    """
    if monthly.empty:
        return monthly
    start = (kpis.get("headline") or {}).get("observation_start") or kpis.get("observation_start")
    months = kpi_monthly(kpis)["month"]
    keep = pd.Series(True, index=monthly.index)
    if start:
        keep &= monthly["month"] >= pd.Timestamp(str(start)[:10]).to_period("M").to_timestamp()
    if not months.empty:
        keep &= monthly["month"] <= months.max()
    return monthly[keep].reset_index(drop=True)


def active_scores(scores: pd.DataFrame, panel: pd.DataFrame | None = None) -> pd.DataFrame:
    """Score rows of accounts still customers: rows whose week is the account's churn week
    are dropped (`event` = 1 in health_scores.parquet, else in the panel when given).

    A churned account is not "in the red band now": counting it made red exceed active."""
    if scores.empty:
        return scores
    if "event" in scores:
        return scores[pd.to_numeric(scores["event"]).fillna(0) == 0]
    if panel is not None and not panel.empty and {"event", "week_start"} <= set(panel.columns):
        churn = panel.loc[panel["event"] == 1, ["account_id", "week_start"]]
        key = pd.MultiIndex.from_frame(churn.astype({"account_id": str}))
        mine = pd.MultiIndex.from_arrays(
            [scores["account_id"].astype(str), pd.to_datetime(scores["week_start"])]
        )
        return scores[~mine.isin(key)]
    return scores


def band_share_by_week(scores: pd.DataFrame, panel: pd.DataFrame | None = None) -> pd.DataFrame:
    """Share of active scored accounts in each band per week: week_start, red, amber, green."""
    scores = active_scores(scores, panel)
    if scores.empty or "band" not in scores:
        return pd.DataFrame(columns=["week_start", "red", "amber", "green"])
    counts = pd.crosstab(
        pd.to_datetime(scores["week_start"]), scores["band"].astype(str).str.lower()
    )
    for band in ("red", "amber", "green"):
        if band not in counts:
            counts[band] = 0
    shares = counts[["red", "amber", "green"]].div(counts.sum(axis=1), axis=0)
    return shares.rename_axis(None, axis=1).reset_index().rename(columns={"index": "week_start"})


def latest_bands(scores: pd.DataFrame, panel: pd.DataFrame | None = None) -> pd.Series:
    """Active accounts per band in the latest scored week (index red/amber/green)."""
    if scores.empty or "band" not in scores:
        return pd.Series(dtype=int)
    week = pd.to_datetime(scores["week_start"])
    last = active_scores(scores[week == week.max()], panel)
    return (
        last["band"]
        .astype(str)
        .str.lower()
        .value_counts()
        .reindex(["red", "amber", "green"], fill_value=0)
    )


# --- hypotheses ----------------------------------------------------------------------------


def glm_at_lag(glm_check: dict, lag: object) -> dict:
    """The discrete-time GLM cross-check at one lag as a hazard ratio with a 95% CI.

    hypotheses.json stores GLM coefficients (cloglog, so exp(coef) is a hazard ratio) per lag.
    """
    for entry in glm_check.get("per_lag") or []:
        if lag is not None and entry.get("lag_weeks") == lag and entry.get("coef") is not None:
            coef, se = float(entry["coef"]), entry.get("se")
            half = 1.959964 * float(se) if se is not None else math.nan
            return {
                "hazard_ratio": math.exp(coef),
                "ci_low": math.exp(coef - half),
                "ci_high": math.exp(coef + half),
                "disagreement": entry.get("disagreement"),
            }
    return {}


# hypotheses.json `alerts` measures (the lamp judged as an alert, CONTRACTS §4), flattened as
# `alert_<key>` columns; missing in files written before them.
ALERT_KEYS = (
    "share_lit_median", "share_lit_latest", "lightings_per_100_account_weeks",
    "lightings_per_csm_week", "precision", "base_rate", "lift", "churners_warned_share",
    "median_warning_weeks", "median_weeks_lit", "p75_weeks_lit",
)  # fmt: skip


def display_key(key: str, kind: object, label: object = None) -> str:
    """The verdict as shown: an opportunity whose lamp leads (its accounts churn less, weeks
    ahead) reads `leads_retention`, never `leads_churn`; a stage-written `verdict_label`
    naming a known verdict wins."""
    if label is not None and not (isinstance(label, float) and math.isnan(label)):
        named = verdict_key(label)
        text = str(label).strip().lower().replace("-", " ").replace(" ", "_")
        if named != "inconclusive" or text == "inconclusive":
            return named
    if key == "leads_churn" and str(kind or "").lower() == "opportunity":
        return "leads_retention"
    return key


def hypotheses_table(hyp: dict) -> pd.DataFrame:
    """One row per hypothesis with the scalar fields of models/hypotheses.json and `verdict_key`.

    `lag_weeks` is the lag the headline numbers come from (`headline_lag_weeks`, else the best
    lag); GLM columns are the cross-check at that lag; `ph_*` the proportional-hazards check.
    """
    rows = []
    for h in hyp.get("hypotheses", []):
        row = {k: v for k, v in h.items() if not isinstance(v, dict | list)}
        for k in ("values", "values_not_in_data"):  # an attribute hypothesis' lamp values
            row[k] = h.get(k) if isinstance(h.get(k), list) else None
        ci = h.get("threshold_ci")
        row["threshold_ci_low"], row["threshold_ci_high"] = (
            ci if isinstance(ci, list) and len(ci) == 2 else (None, None)
        )
        tuning = h.get("threshold_tuning") or {}
        row["tuning_accounts"] = tuning.get("tuning_accounts")
        row["test_accounts"] = tuning.get("test_accounts")
        row["verdict_key"] = verdict_key(h.get("verdict"))
        row["display_key"] = display_key(row["verdict_key"], h.get("kind"), h.get("verdict_label"))
        alerts = h.get("alerts")
        row["has_alerts"] = isinstance(alerts, dict)
        for k in ALERT_KEYS:
            row[f"alert_{k}"] = (alerts or {}).get(k)
        lag = h.get("headline_lag_weeks", h.get("best_lag_weeks"))
        row["lag_weeks"] = lag
        glm = h.get("glm_check") or {}
        at_lag = glm_at_lag(glm, lag)
        for k in ("hazard_ratio", "ci_low", "ci_high", "disagreement"):
            row[f"glm_{k}"] = at_lag.get(k)
        row["glm_agrees"] = glm.get("agrees_at_best_lag")
        row["glm_n_disagreements"] = glm.get("n_disagreements")
        ph = h.get("ph_check") or {}
        row["ph_proportional"] = ph.get("proportional")
        row["ph_p_value"] = ph.get("p_value")
        rows.append(row)
    cols = ["id", "statement", "stage", "indicator", "direction", "kind", "action", "verdict", "verdict_key",
            "verdict_reason", "hazard_ratio", "ci_low", "ci_high", "q_value", "best_lag_weeks", "lag_weeks",
            "threshold", "threshold_rule", "precision", "recall", "lift", "median_warning_weeks", "n_accounts",
            "n_events", "glm_hazard_ratio", "glm_agrees", "ph_proportional", "threshold_source",
            "tuning_accounts", "test_accounts", "verdict_label", "warning_weeks_basis", "display_key",
            "has_alerts", "attribute", "lamp_rule", *[f"alert_{k}" for k in ALERT_KEYS]]  # fmt: skip
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df:
            df[c] = None
    return df


def lead_profile(hyp: dict, hypothesis_id: str) -> pd.DataFrame:
    """The lead profile (lag_weeks, hazard_ratio, ci_low, ci_high, q_value) of one hypothesis."""
    for h in hyp.get("hypotheses", []):
        if str(h.get("id")) == str(hypothesis_id):
            df = pd.DataFrame(h.get("lead_profile") or [])
            for c in ("lag_weeks", "hazard_ratio", "ci_low", "ci_high", "q_value"):
                if c not in df:
                    df[c] = np.nan
            return (
                df.astype({c: float for c in ("hazard_ratio", "ci_low", "ci_high")})
                .sort_values("lag_weeks")
                .reset_index(drop=True)
            )
    return pd.DataFrame(columns=["lag_weeks", "hazard_ratio", "ci_low", "ci_high", "q_value"])


# Verdicts ordered from most to least actionable, for sorting tables.
VERDICT_ORDER = [
    "leads_churn",
    "leads_retention",
    "too_late",
    "opposite_direction",
    "no_evidence",
    "inconclusive",
    "not_testable",
]


def sort_hypotheses(df: pd.DataFrame) -> pd.DataFrame:
    """Leading hypotheses first, then by hazard-ratio strength (|log HR|), then id."""
    if df.empty:
        return df
    key = df["display_key"] if "display_key" in df else df["verdict_key"]
    order = key.map({v: i for i, v in enumerate(VERDICT_ORDER)}).fillna(len(VERDICT_ORDER))
    strength = -np.abs(np.log(pd.to_numeric(df["hazard_ratio"], errors="coerce").astype(float)))
    return (
        df.assign(_o=order, _s=strength.fillna(0), _id=df["id"].astype(str))
        .sort_values(["_o", "_s", "_id"])
        .drop(columns=["_o", "_s", "_id"])
        .reset_index(drop=True)
    )


def top_leading(df: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The `n` 'leads churn' hypotheses with the largest effect (|log HR|), lamps over
    indicators first: an attribute (billing period, plan, ...) is known from the first week,
    so it describes who churns rather than warning that an account is about to."""
    if df.empty:
        return df
    lead = df[df["verdict_key"] == "leads_churn"]
    if "attribute" in lead.columns:
        is_attribute = lead["attribute"].notna() & (lead["attribute"].astype(str) != "")
        lead = pd.concat(
            [sort_hypotheses(lead[~is_attribute]), sort_hypotheses(lead[is_attribute])]
        )
        return lead.head(n).reset_index(drop=True)
    return sort_hypotheses(lead).head(n).reset_index(drop=True)


def hypothesis_rows(table: pd.DataFrame, hypothesis_id: str) -> pd.DataFrame:
    """Rows of a hypothesis_tables/*.parquet table that belong to one hypothesis."""
    if table.empty:
        return table
    col = pick(table, HYPOTHESIS_ID_COLUMNS)
    if col is None:
        return table.iloc[0:0]
    return table[table[col].astype(str) == str(hypothesis_id)].reset_index(drop=True)


def km_curve(rows: pd.DataFrame) -> pd.DataFrame:
    """Normalise a landmark-KM table to landmark_week, weeks, survival, lamp_on (bool), ci_*.

    The hypotheses stage writes several landmark weeks per hypothesis; tables without a
    landmark column get landmark_week 0.
    """
    cols = ["landmark_week", "weeks", "survival", "lamp_on", "ci_low", "ci_high", "at_risk"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    tcol = pick(rows, ("weeks_since_landmark", "weeks", "timeline", "weeks_after_landmark", "t"))
    scol = pick(rows, ("survival", "km_estimate", "surv", "retention"))
    gcol = pick(rows, ("lamp", "lamp_on", "group", "state", "lamp_state"))
    if tcol is None or scol is None or gcol is None:
        return pd.DataFrame(columns=cols)
    g = rows[gcol]
    if g.dtype == bool or pd.api.types.is_numeric_dtype(g):
        lamp = g.astype(bool)
    else:
        lamp = g.astype(str).str.lower().isin(["on", "true", "1", "lamp_on", "lamp on"])
    res = pd.DataFrame(
        {
            "landmark_week": rows["landmark_week"].astype(int) if "landmark_week" in rows else 0,
            "weeks": rows[tcol].astype(float),
            "survival": rows[scol].astype(float),
            "lamp_on": lamp.to_numpy(),
        }
    )
    for out_col, candidates in (
        ("ci_low", ("ci_low", "lower", "ci_lower")),
        ("ci_high", ("ci_high", "upper", "ci_upper")),
        ("at_risk", ("at_risk",)),
    ):
        src = pick(rows, candidates)
        res[out_col] = rows[src].astype(float).to_numpy() if src else np.nan
    return res.sort_values(["landmark_week", "lamp_on", "weeks"]).reset_index(drop=True)


def threshold_curve(rows: pd.DataFrame) -> pd.DataFrame:
    """Normalise a threshold-curve table to threshold, precision, recall, lift, chosen, and the
    alert columns share_lit, lightings, churners_warned_share, median_warning_weeks,
    base_rate (NaN when the table predates them)."""
    cols = ["threshold", "precision", "recall", "lift", "chosen", *CURVE_ALERT_COLUMNS]
    tcol = pick(rows, ("threshold", "cutoff")) if not rows.empty else None
    if tcol is None:
        return pd.DataFrame(columns=cols)
    res = pd.DataFrame({"threshold": rows[tcol].astype(float)})
    for c in ("precision", "recall", "lift", *CURVE_ALERT_COLUMNS):
        res[c] = rows[c].astype(float).to_numpy() if c in rows else np.nan
    res["chosen"] = rows["chosen"].astype(bool).to_numpy() if "chosen" in rows else False
    return res[cols].sort_values("threshold").reset_index(drop=True)


CURVE_ALERT_COLUMNS = (
    "share_lit", "lightings", "churners_warned_share", "median_warning_weeks", "base_rate",
)  # fmt: skip


# --- data quality ------------------------------------------------------------------------


def quarantine_counts(tables: dict) -> pd.DataFrame:
    """Rows read / accepted / quarantined per table from data/interim/tables.json, the
    quarantined share and, when ingest counted the rows read independently (tables.json
    `rows_read_by_file`), `unaccounted` = read - accepted - quarantined (0 when every row read
    ended up in exactly one of them; ingest stops otherwise, so non-zero means an edited
    file). An older tables.json computed `read` as the sum: no check is shown then."""
    rows = [
        {
            "table": name,
            "read": int(r.get("read", 0) or 0),
            "accepted": int(r.get("accepted", 0) or 0),
            "quarantined": int(r.get("quarantined", 0) or 0),
        }
        for name, r in sorted((tables.get("rows") or {}).items())
    ]
    df = pd.DataFrame(rows, columns=["table", "read", "accepted", "quarantined"])
    df["share"] = (df["quarantined"] / df["read"].where(df["read"] > 0)).astype(float)
    if "rows_read_by_file" in tables:  # read counted by the readers, not as the sum
        df["unaccounted"] = (df["read"] - df["accepted"] - df["quarantined"]).astype(int)
    return df


def files_read(tables: dict) -> pd.DataFrame:
    """One row per file ingest read (tables.json `rows_read_by_file`, else `files` without
    counts): table, file, rows (counted by the reader; NaN when not recorded), delimiter
    (`csv_delimiters`; "" = a comma or not a CSV). Sorted by table, file."""
    by_file = tables.get("rows_read_by_file") or {}
    listed = tables.get("files") or {}
    delimiters = tables.get("csv_delimiters") or {}
    rows = []
    for table in sorted(set(by_file) | set(listed)):
        counts = by_file.get(table) or {}
        for path in sorted(set(counts) | set(listed.get(table) or [])):
            rows.append(
                {
                    "table": table,
                    "file": str(path),
                    "rows": float(counts[path]) if path in counts else np.nan,
                    "delimiter": str((delimiters.get(table) or {}).get(path, "")),
                }
            )
    return pd.DataFrame(rows, columns=["table", "file", "rows", "delimiter"])


def quarantine_reasons(tables: dict, quarantine: pd.DataFrame | None = None) -> pd.DataFrame:
    """Quarantined rows per (table, reason, column), largest first.

    Counts come from tables.json; the column (`quarantine.reason_columns`) from the
    quarantined rows when they are given and hold exactly the counted rows of that table and
    reason, else "" (the reason alone)."""
    from churnlab.reports.quarantine import reason_columns

    split: dict[tuple[str, str], pd.Series] = {}
    if quarantine is not None and not quarantine.empty and "_reason" in quarantine:
        keys = pd.DataFrame(
            {
                "table": quarantine["_table"].astype(object).astype(str),
                "reason": quarantine["_reason"].astype(object).astype(str),
                "column": reason_columns(quarantine).astype(object).astype(str),
            }
        )
        for (table, reason), grp in keys.groupby(["table", "reason"], sort=True):
            split[(table, reason)] = grp["column"].value_counts()
    rows = []
    for name, r in (tables.get("rows") or {}).items():
        for reason, n in (r.get("by_reason") or {}).items():
            if not n:
                continue
            columns = split.get((name, reason))
            if columns is not None and int(columns.sum()) == int(n):
                rows += [
                    {"table": name, "reason": reason, "count": int(k), "column": c}
                    for c, k in columns.items()
                ]
            else:
                rows.append({"table": name, "reason": reason, "count": int(n), "column": ""})
    df = pd.DataFrame(rows, columns=["table", "reason", "count", "column"])
    return df.sort_values(
        ["count", "table", "reason", "column"], ascending=[False, True, True, True]
    ).reset_index(drop=True)


def rejected_account_cascade(tables: dict) -> dict:
    """tables.json `rejected_account_cascade` ({account_rows, account_rows_by_reason, rows,
    rows_by_table}) and `unknown_account` rows (counted apart) as `unknown_rows`; {} when
    ingest did not record the cascade (an older run)."""
    cascade = tables.get("rejected_account_cascade")
    if not isinstance(cascade, dict):
        return {}
    unknown = sum(
        int((r.get("by_reason") or {}).get("unknown_account", 0) or 0)
        for r in (tables.get("rows") or {}).values()
    )
    return {**cascade, "unknown_rows": unknown}


def open_ended_end_dates(tables: dict) -> pd.DataFrame:
    """tables.json `open_ended_end_dates` ({table: {column: rows}}) as rows."""
    rows = [
        {"table": table, "column": column, "rows": int(n)}
        for table, cols in sorted((tables.get("open_ended_end_dates") or {}).items())
        for column, n in sorted((cols or {}).items())
        if n
    ]
    return pd.DataFrame(rows, columns=["table", "column", "rows"])


def local_time_adjustments(tables: dict) -> pd.DataFrame:
    """tables.json `local_time_adjustments` ({table: {column: {nonexistent_shifted_forward,
    ambiguous_read_as_first}}}) as rows: table, column, shifted, ambiguous."""
    rows = [
        {
            "table": table,
            "column": column,
            "shifted": int((kinds or {}).get("nonexistent_shifted_forward", 0) or 0),
            "ambiguous": int((kinds or {}).get("ambiguous_read_as_first", 0) or 0),
        }
        for table, cols in sorted((tables.get("local_time_adjustments") or {}).items())
        for column, kinds in sorted((cols or {}).items())
    ]
    return pd.DataFrame(rows, columns=["table", "column", "shifted", "ambiguous"])


def quarantine_samples(quarantined: pd.DataFrame, per_reason: int = 3) -> pd.DataFrame:
    """The first `per_reason` rows of each reason (by source file and row), for illustration."""
    if quarantined.empty or "_reason" not in quarantined:
        return quarantined
    order = [c for c in ("_reason", "_source_file", "_source_row") if c in quarantined]
    q = quarantined.sort_values(order, kind="stable")
    return q.groupby("_reason", sort=True).head(per_reason).reset_index(drop=True)


def data_warnings(tables: dict) -> list[dict]:
    """tables.json "warnings" as [{code, message}] (ingest's own words kept)."""
    out = []
    for w in tables.get("warnings") or []:
        if isinstance(w, dict):
            out.append({"code": str(w.get("code") or ""), "message": str(w.get("message") or "")})
        elif w:
            out.append({"code": "", "message": str(w)})
    return out


# tables.json "contract_history" counts in display order (other keys follow, as written).
CONTRACT_HISTORY_KEYS = [
    "rows_used",
    "spells",
    "spells_running",
    "churned_spells",
    "reactivations",
    "gaps_bridged",
    "overlapping_rows",
    "superseded_days",
    "rows_starting_after_as_of",
    "spells_censored_at_end",
    "accounts_without_contract",
    "accounts_without_spell",
    "events_of_accounts_without_contract",
]


def contract_history(tables: dict) -> pd.DataFrame:
    """The contract-history counts of tables.json as rows (key, count); lists are left out."""
    hist = tables.get("contract_history") or {}
    keys = [k for k in CONTRACT_HISTORY_KEYS if k in hist]
    keys += sorted(k for k in hist if k not in keys and not isinstance(hist[k], list | dict))
    return pd.DataFrame({"key": keys, "count": [hist[k] for k in keys]}, columns=["key", "count"])


# --- action lists --------------------------------------------------------------------------


def actions_by_csm(actions: pd.DataFrame, unassigned: str) -> list[tuple[str, pd.DataFrame]]:
    """Split the action list per CSM (sorted by CSM id; unassigned last)."""
    if actions.empty:
        return []
    col = pick(actions, ("csm_id", "csm", "owner"))
    csm = (
        actions[col].fillna(unassigned).astype(str)
        if col
        else pd.Series(unassigned, index=actions.index)
    )
    groups = []
    for name in sorted(csm.unique(), key=lambda c: (c == unassigned, c)):
        groups.append((name, actions[csm == name].reset_index(drop=True)))
    return groups


def worklist_summary(health: dict, actions: pd.DataFrame) -> dict:
    """The weekly list's counts: health_score.json latest_week.worklist, else the same counts
    from action_list.csv's lamp_state / listed columns ({} without them)."""
    summary = ((health or {}).get("latest_week") or {}).get("worklist")
    if summary:
        return summary
    if actions.empty or "lamp_state" not in actions or "listed" not in actions:
        return {}
    per = actions.groupby("account_id")["lamp_state"].agg(set)
    listed = int((actions["listed"] == "yes").sum())
    new = int(per.map(lambda s: "new" in s).sum())
    return {
        "accounts_lit": int(len(per)),
        "accounts_newly_lit": new,
        "accounts_chronic": int(per.map(lambda s: "chronic" in s).sum()),
        "accounts_long_lit_only": int(per.map(lambda s: s == {"long-lit"}).sum()),
        "accounts_listed": listed,
        "accounts_over_capacity": new - listed,
    }


# Weeks of one billing term per billing-period meaning (ingest writes monthly / annual).
TERM_WEEKS = {"monthly": 4, "annual": 52}
# Events a validation needs before its AUC can be read: at least 100 events (and 100
# non-events) for a validation study (Vergouwe Y, Steyerberg EW, Eijkemans MJC, Habbema JDF.
# "Substantial effective sample sizes were required for external validation studies of
# predictive logistic regression models." J Clin Epidemiol 2005; 58:475-483).
MIN_VALIDATION_EVENTS = 100


def _billing_periods(health: dict) -> list[str]:
    """Billing-period meanings the score's model knew: its reference level, its
    `billing_period=<meaning>` terms and the terms it dropped (a level with too few churns is
    folded into the reference: `dropped_terms_*` [{term, reason}]) in models/health_score.json
    `model` and `baseline_model`."""
    found = set()
    for block in (health.get("model") or {}, health.get("baseline_model") or {}):
        ref = (block.get("reference_levels") or {}).get("billing_period")
        if ref:
            found.add(str(ref))
        for key in ("weights_train", "weights_final", "dropped_terms_train", "dropped_terms_final"):
            for w in block.get(key) or []:
                term = str((w.get("term") if isinstance(w, dict) else w) or "")
                if term.startswith("billing_period="):
                    found.add(term.split("=", 1)[1])
    return sorted(found)


def validation_judgement(health: dict) -> dict:
    """Whether the health score's out-of-time validation can judge it, from
    models/health_score.json facts only.

    Returns {auc, auc_low, auc_high (the score's AUC and 95% CI, NaN if absent), chance (True
    when the CI holds 0.5: no better than chance; None without a CI), split, as_of,
    window_weeks (whole weeks from validation.split_week to as_of), horizon_weeks,
    complete_weeks (validation weeks whose whole horizon is observed: window - horizon, >= 0),
    n_events (churn events in the window), term (the longest billing term the model knew,
    "annual" / "monthly" / None), term_weeks, short_window (the window is shorter than that
    term: accounts on it can churn only at renewal, and most renewals fall outside the
    window), few_events (n_events < MIN_VALIDATION_EVENTS)}; {} when there is no validation
    (not run, or `validation.problem`)."""
    v = health.get("validation") or {}
    if not isinstance(v, dict) or v.get("problem") or not v.get("split_week"):
        return {}
    score = (v.get("auc") or {}).get("score")
    score = score if isinstance(score, dict) else {"estimate": score}

    def num(x: object) -> float:
        try:
            return float(x)
        except (TypeError, ValueError):
            return float("nan")

    auc, lo, hi = (num(score.get(k)) for k in ("estimate", "ci_low", "ci_high"))
    chance = None if np.isnan(lo) or np.isnan(hi) else bool(lo <= 0.5 <= hi)
    split, as_of = pd.Timestamp(str(v["split_week"])[:10]), health.get("as_of")
    window = (pd.Timestamp(str(as_of)[:10]) - split).days // 7 if as_of else None
    horizon = health.get("horizon_weeks")
    terms = [p for p in _billing_periods(health) if p in TERM_WEEKS]
    term = max(terms, key=TERM_WEEKS.get) if terms else None
    term_weeks = TERM_WEEKS.get(term) if term else None
    events = v.get("n_events")
    return {
        "auc": auc, "auc_low": lo, "auc_high": hi, "chance": chance,
        "split": str(v["split_week"])[:10], "as_of": str(as_of)[:10] if as_of else None,
        "window_weeks": window, "horizon_weeks": horizon,
        "complete_weeks": max(window - int(horizon), 0) if window is not None and horizon else None,
        "n_events": events, "term": term, "term_weeks": term_weeks,
        "short_window": bool(window is not None and term_weeks and window < term_weeks),
        "few_events": bool(events is not None and int(events) < MIN_VALIDATION_EVENTS),
    }  # fmt: skip
