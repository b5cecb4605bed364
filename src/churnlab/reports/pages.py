"""The sections of each report, as lists of blocks the notebooks display.

A block is either an HTML string (already escaped, built with `markup`) or PNG bytes (a plot).
Keeping the sections here means the notebooks are a few calls each and every section is
unit-tested without a kernel.
"""

from __future__ import annotations

import math

import pandas as pd

from churnlab.reports import frames, plotting
from churnlab.reports import markup as m
from churnlab.reports.i18n import t, verdict_key, verdict_word
from churnlab.reports.loaders import ReportData, as_of
from churnlab.reports.takeaways import (
    concordances,
    executive_takeaways,
    segment_takeaways,
    verdict_counts_text,
)

Block = str | bytes


def header(data: ReportData, lang: str, title: str) -> list[Block]:
    return [
        f"<h1>{m.esc(title)}</h1>" + m.paragraph(t(lang, "subtitle", as_of=as_of(data)), "subtitle")
    ]


def footer(data: ReportData, lang: str) -> list[Block]:
    return [f'<footer class="cl-footer">{m.esc(t(lang, "footer", as_of=as_of(data)))}</footer>']


def _verdict_badge(verdict: object, lang: str) -> str:
    return m.badge(f"verdict verdict-{verdict_key(verdict)}", verdict_word(lang, verdict))


def _indicator_label(data: ReportData, indicator: object) -> str:
    meta = (data.panel_meta.get("indicators") or {}).get(str(indicator)) or {}
    return str(meta.get("label") or indicator)


def _indicator_unit(data: ReportData, indicator: object) -> str:
    meta = (data.panel_meta.get("indicators") or {}).get(str(indicator)) or {}
    return str(meta.get("unit") or "value")


# --- executive summary -------------------------------------------------------------------


def _retention(
    data: ReportData, lang: str, by: str, groups: list[str] | None, panel_life: pd.DataFrame
) -> bytes:
    """Retention curves from the kpis stage (months) or, if absent, KM on the panel (weeks)."""
    curves = frames.kpi_km(data.kpi_tables, by, groups)
    label = (
        t(lang, f"dimension.{by}")
        if by in ("segment", "customer_goal")
        else t(lang, "plot.all_accounts")
    )
    if not curves.empty:
        return plotting.png_bytes(plotting.retention_curves(curves, lang, label, time_col="months"))
    col = by if by in panel_life else None
    if groups is not None and col is not None:
        panel_life = panel_life[panel_life[col].astype(str).isin(groups)]
    weekly = frames.retention_by_group(panel_life, col, t(lang, "plot.all_accounts"))
    return plotting.png_bytes(plotting.retention_curves(weekly, lang, label))


def executive_summary(data: ReportData, lang: str) -> list[Block]:
    monthly = frames.kpi_monthly(data.kpis)
    head = frames.kpi_headline(data.kpis, monthly)
    hyps = frames.hypotheses_table(data.hypotheses)
    top = frames.top_leading(hyps, 3)
    bands = frames.latest_bands(data.scores)
    validation = data.health.get("validation") or {}
    cards = [
        (t(lang, "kpi.logo_churn_pooled"), m.fmt_pct(head["logo_churn"], 2)),
        (t(lang, "kpi.grr_12m"), m.fmt_pct(head["grr"])),
        (t(lang, "kpi.nrr_12m"), m.fmt_pct(head["nrr"])),
        (t(lang, "kpi.active_accounts"), m.fmt_int(head["active_accounts"])),
        (t(lang, "kpi.red_accounts"), m.fmt_int(bands.get("red")) if len(bands) else "–"),
    ]
    blocks: list[Block] = [m.heading(t(lang, "sec.headline")), m.kpi_cards(cards)]
    blocks.append(m.heading(t(lang, "sec.takeaways")))
    blocks.append(
        m.bullet_list(executive_takeaways(monthly, hyps, top, bands, validation, lang), "takeaways")
    )
    blocks += [
        m.heading(t(lang, "sec.churn_trend")),
        plotting.png_bytes(plotting.churn_trend(monthly, lang)),
    ]
    lifetimes = frames.account_lifetimes(data.panel)
    blocks += [
        m.heading(t(lang, "sec.retention")),
        _retention(data, lang, "segment", None, lifetimes),
    ]
    matrix = frames.cohort_matrix(data.kpi_tables)
    if not matrix.empty:
        blocks += [
            m.heading(t(lang, "sec.cohorts")),
            plotting.png_bytes(plotting.cohort_heatmap(matrix, lang)),
        ]
    blocks += [
        m.heading(t(lang, "sec.health_trend")),
        plotting.png_bytes(plotting.band_shares(frames.band_share_by_week(data.scores), lang)),
        m.heading(t(lang, "sec.top_hypotheses")),
    ]
    top_plot = (
        top.assign(label=[_indicator_label(data, i) for i in top["indicator"]])
        if not top.empty
        else top
    )
    blocks.append(plotting.png_bytes(plotting.top_hazard_ratios(top_plot, lang)))
    blocks.append(verdict_table(top, data, lang))
    return blocks


# --- hypotheses --------------------------------------------------------------------------


def verdict_table(hyps: pd.DataFrame, data: ReportData, lang: str) -> str:
    if hyps.empty:
        return m.table(hyps, empty_text=t(lang, "empty", what=t(lang, "empty.input")))
    rows = pd.DataFrame(
        {
            t(lang, "col.hypothesis"): hyps["statement"].fillna(hyps["id"]),
            t(lang, "col.indicator"): [_indicator_label(data, i) for i in hyps["indicator"]],
            t(lang, "col.verdict"): [_verdict_badge(v, lang) for v in hyps["verdict"]],
            t(lang, "col.hr"): [
                m.fmt_hr(h, lo, hi)
                for h, lo, hi in zip(
                    hyps["hazard_ratio"], hyps["ci_low"], hyps["ci_high"], strict=True
                )
            ],
            t(lang, "col.best_lag"): hyps["best_lag_weeks"].map(m.fmt_int),
            t(lang, "col.q"): hyps["q_value"].map(m.fmt_p),
            t(lang, "col.warning"): hyps["median_warning_weeks"].map(lambda w: m.fmt_num(w, 1)),
        }
    )
    numeric = [t(lang, k) for k in ("col.hr", "col.best_lag", "col.q", "col.warning")]
    return m.table(rows, numeric=numeric, raw=[t(lang, "col.verdict")])


def hypotheses_overview(data: ReportData, lang: str) -> list[Block]:
    hyps = frames.sort_hypotheses(frames.hypotheses_table(data.hypotheses))
    return [
        m.heading(t(lang, "sec.how_to_read")),
        m.paragraph(t(lang, "how_to_read.hypotheses")),
        m.heading(t(lang, "sec.verdict_table")),
        m.paragraph(verdict_counts_text(hyps, lang), "note"),
        verdict_table(hyps, data, lang),
        m.heading(t(lang, "sec.per_hypothesis")),
    ]


def _table_for(data: ReportData, prefixes: tuple[str, ...]) -> pd.DataFrame:
    """Concatenate hypothesis_tables whose file name starts with one of `prefixes`."""
    parts = [df for name, df in data.hypothesis_tables.items() if name.startswith(prefixes)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def lamp_text(row: pd.Series, data: ReportData, lang: str) -> str:
    op = t(lang, "op.high" if str(row.get("direction")) == "high" else "op.low")
    return t(
        lang,
        "lamp.text",
        indicator=_indicator_label(data, row.get("indicator")),
        op=op,
        threshold=m.fmt_num(row.get("threshold")),
        precision=m.fmt_pct(row.get("precision")),
        recall=m.fmt_pct(row.get("recall")),
        lift=m.fmt_num(row.get("lift"), 1),
        warning=m.fmt_num(row.get("median_warning_weeks"), 1),
    )


def glm_text(row: pd.Series, lang: str) -> str | None:
    hr = row.get("glm_hazard_ratio")
    if hr is None or (isinstance(hr, float) and math.isnan(hr)):
        return None
    agrees = row.get("glm_agrees")
    agree = (
        "" if agrees is None else t(lang, "lamp.glm_agree" if bool(agrees) else "lamp.glm_disagree")
    )
    return t(
        lang,
        "lamp.glm",
        hr=m.fmt_num(hr),
        lo=m.fmt_num(row.get("glm_ci_low")),
        hi=m.fmt_num(row.get("glm_ci_high")),
        agree=agree,
    )


def hypothesis_sections(data: ReportData, lang: str) -> list[Block]:
    """One section per hypothesis: lead profile, landmark KM, threshold curve, lamp, action."""
    hyps = frames.sort_hypotheses(frames.hypotheses_table(data.hypotheses))
    km_all = _table_for(data, ("km", "landmark"))
    thr_all = _table_for(data, ("threshold",))
    blocks: list[Block] = []
    for _, row in hyps.iterrows():
        hid = str(row["id"])
        name = _indicator_label(data, row["indicator"])
        blocks.append(
            f'<h3 id="h-{m.esc(hid)}">{m.esc(row.get("statement") or hid)} {_verdict_badge(row["verdict"], lang)}</h3>'
            + m.paragraph(f"{row.get('verdict_reason') or ''}", "note")
        )
        if row["verdict_key"] == "not_testable":
            continue
        blocks.append(m.heading(t(lang, "sec.lead_profile"), 4))
        blocks.append(
            plotting.png_bytes(
                plotting.lead_profile(frames.lead_profile(data.hypotheses, hid), name, lang)
            )
        )
        blocks.append(m.heading(t(lang, "sec.landmark_km"), 4))
        blocks.append(
            plotting.png_bytes(
                plotting.km_by_lamp(
                    frames.km_curve(frames.hypothesis_rows(km_all, hid)), name, lang
                )
            )
        )
        blocks.append(m.heading(t(lang, "sec.threshold"), 4))
        chosen = pd.to_numeric(pd.Series([row.get("threshold")]), errors="coerce").iloc[0]
        curve = frames.threshold_curve(frames.hypothesis_rows(thr_all, hid))
        blocks.append(
            plotting.png_bytes(
                plotting.threshold_curve(
                    curve, chosen, _indicator_unit(data, row["indicator"]), name, lang
                )
            )
        )
        lines = [lamp_text(row, data, lang)]
        glm = glm_text(row, lang)
        if glm:
            lines.append(glm)
        blocks.append(m.heading(t(lang, "sec.lamp"), 4) + m.bullet_list(lines))
        blocks.append(
            m.heading(t(lang, "sec.action"), 4) + m.paragraph(str(row.get("action") or "–"))
        )
    return blocks


# --- data quality --------------------------------------------------------------------------


def data_quality(data: ReportData, lang: str, samples_per_reason: int = 3) -> list[Block]:
    counts = frames.quarantine_counts(data.tables)
    reasons = frames.quarantine_reasons(data.tables)
    shown = pd.DataFrame(
        {
            t(lang, "col.table"): counts["table"],
            t(lang, "col.read"): counts["read"].map(m.fmt_int),
            t(lang, "col.accepted"): counts["accepted"].map(m.fmt_int),
            t(lang, "col.quarantined"): counts["quarantined"].map(m.fmt_int),
            t(lang, "col.share"): counts["share"].map(lambda s: m.fmt_pct(s, 2)),
        }
    )
    numeric = [t(lang, k) for k in ("col.read", "col.accepted", "col.quarantined", "col.share")]
    empty = t(lang, "empty", what=t(lang, "empty.input"))
    blocks: list[Block] = [
        m.heading(t(lang, "sec.per_table")),
        m.table(shown, numeric=numeric, empty_text=empty),
        plotting.png_bytes(plotting.quarantine_bars(counts, lang)),
        m.heading(t(lang, "sec.reasons")),
        m.table(
            reasons.rename(
                columns={
                    "table": t(lang, "col.table"),
                    "reason": t(lang, "col.reason"),
                    "count": t(lang, "col.count"),
                }
            ),
            numeric=[t(lang, "col.count")],
            empty_text=t(lang, "empty", what=t(lang, "empty.no_rows")),
        ),
        plotting.png_bytes(plotting.reason_bars(reasons, lang)),
    ]
    coverage = data.tables.get("date_coverage") or {}
    cov = pd.DataFrame(
        [(k, (v or [None, None])[0], (v or [None, None])[-1]) for k, v in sorted(coverage.items())],
        columns=[t(lang, "col.table"), t(lang, "col.from"), t(lang, "col.to")],
    )
    blocks += [m.heading(t(lang, "sec.coverage")), m.table(cov, empty_text=empty)]
    missing = data.tables.get("missing_optional") or []
    blocks.append(m.heading(t(lang, "sec.missing")))
    blocks.append(
        m.paragraph(
            t(lang, "missing_optional", tables=", ".join(missing))
            if missing
            else t(lang, "all_present")
        )
    )
    n_without = data.tables.get("accounts_without_events")
    if n_without is not None:
        blocks.append(
            m.paragraph(t(lang, "sec.accounts_without_events", n=m.fmt_int(n_without)), "note")
        )
    if not data.quarantine.empty and "_table" in data.quarantine:
        blocks.append(m.heading(t(lang, "sec.samples")))
        blocks.append(m.paragraph(t(lang, "sample.note", n=samples_per_reason), "note"))
        for table, rows in data.quarantine.groupby("_table", sort=True):
            samples = frames.quarantine_samples(rows.drop(columns="_table"), samples_per_reason)
            first = [c for c in ("_reason", "_source_file", "_source_row") if c in samples]
            rest = [c for c in samples.columns if c not in first and samples[c].notna().any()]
            blocks.append(m.heading(str(table), 3))
            blocks.append(
                m.table(samples[first + rest].replace({"nan": None, "None": None, "<NA>": None}))
            )
    return blocks


# --- action list ---------------------------------------------------------------------------


def _action_columns(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Readable column names for the action list; bands as coloured pills."""
    out = df.copy()
    if "band" in out:
        out["band"] = [
            m.badge(
                f"band band-{m.esc(str(b).lower())}",
                t(lang, f"band.{str(b).lower()}")
                if str(b).lower() in ("red", "amber", "green")
                else str(b),
            )
            for b in out["band"]
        ]
    names = {
        "account_id": t(lang, "col.account"),
        "name": t(lang, "col.account"),
        "band": t(lang, "col.band"),
        "score": t(lang, "col.score"),
        "lamps": t(lang, "col.lamps"),
        "action": t(lang, "col.action"),
        "actions": t(lang, "col.action"),
    }
    if "name" in out and "account_id" in out:
        names["account_id"] = "ID"
    return out.rename(columns=names)


def action_list(data: ReportData, lang: str, accounts: set[str] | None = None) -> list[Block]:
    """This week's lamps per CSM (optionally only `accounts`), band mix and opportunities."""
    actions, opps = data.actions, data.opportunities
    if accounts is not None:
        actions = (
            actions[actions["account_id"].isin(accounts)]
            if "account_id" in actions
            else actions.iloc[0:0]
        )
        opps = opps[opps["account_id"].isin(accounts)] if "account_id" in opps else opps.iloc[0:0]
    blocks: list[Block] = []
    if accounts is None:
        blocks += [
            m.heading(t(lang, "sec.band_mix")),
            plotting.png_bytes(plotting.band_mix(frames.latest_bands(data.scores), lang)),
        ]
    blocks.append(m.heading(t(lang, "sec.actions_by_csm")))
    groups = frames.actions_by_csm(actions, t(lang, "csm.unassigned"))
    if not groups:
        blocks.append(m.paragraph(t(lang, "empty", what=t(lang, "empty.no_actions")), "empty"))
    for csm, df in groups:
        shown = _action_columns(df.drop(columns=[c for c in ("csm_id", "csm") if c in df]), lang)
        blocks.append(m.heading(t(lang, "csm.heading", csm=csm, n=len(df)), 3))
        blocks.append(
            m.table(shown, raw=[t(lang, "col.band")] if t(lang, "col.band") in shown else [])
        )
    blocks.append(m.heading(t(lang, "sec.opportunities")))
    opp_shown = _action_columns(opps, lang)
    blocks.append(
        m.table(
            opp_shown,
            raw=[t(lang, "col.band")] if t(lang, "col.band") in opp_shown else [],
            empty_text=t(lang, "empty", what=t(lang, "empty.no_rows")),
        )
    )
    return blocks


# --- segment / customer-goal report --------------------------------------------------------


def cohort_report(data: ReportData, lang: str, dimension: str, value: str) -> list[Block]:
    """The executive view restricted to accounts with `dimension == value`."""
    panel = data.panel
    mine = panel[panel[dimension].astype(str) == value] if dimension in panel else panel.iloc[0:0]
    ids = set(mine["account_id"].astype(str)) if not mine.empty else set()
    all_life = frames.account_lifetimes(panel)
    life = all_life[all_life["account_id"].isin(ids)]
    scores = (
        data.scores[data.scores["account_id"].astype(str).isin(ids)]
        if not data.scores.empty
        else data.scores
    )
    bands = frames.latest_bands(scores)
    cards = [
        (t(lang, "kpi.n_accounts"), m.fmt_int(len(life))),
        (t(lang, "kpi.n_churned"), m.fmt_int(life["churned"].sum() if len(life) else 0)),
        (t(lang, "kpi.churn_rate"), m.fmt_pct(life["churned"].mean() if len(life) else None)),
        (t(lang, "kpi.red_accounts"), m.fmt_int(bands.get("red")) if len(bands) else "–"),
    ]
    label_all = t(lang, "plot.all_accounts")
    group_label = t(lang, f"dimension.{dimension}")
    km = frames.kpi_km(data.kpi_tables, dimension, [value])
    if not km.empty:  # the kpis stage's monthly KM: this group against all accounts
        overall = frames.kpi_km(data.kpi_tables, "overall").assign(group=label_all)
        both = pd.concat([km, overall], ignore_index=True)
        retention = plotting.retention_curves(both, lang, group_label, "months")
    else:  # no kpi table: weekly KM on the panel
        curves = pd.concat(
            [
                frames.retention_by_group(life, None, value),
                frames.retention_by_group(all_life, None, label_all),
            ],
            ignore_index=True,
        )
        retention = plotting.retention_curves(curves, lang, group_label)
    monthly = frames.monthly_churn(mine)
    blocks: list[Block] = [
        m.paragraph(
            t(lang, "segment.intro", dimension=t(lang, f"dimension.{dimension}"), value=value),
            "note",
        ),
        m.heading(t(lang, "sec.headline")),
        m.kpi_cards(cards),
        m.heading(t(lang, "sec.takeaways")),
        m.bullet_list(segment_takeaways(life, all_life, lang), "takeaways"),
        m.heading(t(lang, "sec.churn_trend")),
        plotting.png_bytes(plotting.churn_trend(monthly, lang)),
        m.heading(t(lang, "sec.retention")),
        plotting.png_bytes(retention),
        m.heading(t(lang, "sec.health_trend")),
        plotting.png_bytes(plotting.band_shares(frames.band_share_by_week(scores), lang)),
    ]
    return blocks + action_list(data, lang, accounts=ids)


def validation_table(data: ReportData, lang: str) -> str:
    """Health score vs baseline: concordance (and AUC, top-decile lift when present)."""
    validation = data.health.get("validation") or {}
    model = validation.get("model", validation)
    base = validation.get("baseline") or {}
    rows = []
    for key in ("concordance", "auc", "top_decile_lift"):
        if key in model or key in base:
            rows.append(
                (key, m.fmt_num(_scalar(model.get(key)), 3), m.fmt_num(_scalar(base.get(key)), 3))
            )
    c, _ = concordances(validation)
    df = pd.DataFrame(
        rows, columns=[t(lang, "col.metric"), t(lang, "col.model"), t(lang, "col.baseline")]
    )
    return (
        m.table(
            df,
            numeric=[t(lang, "col.model"), t(lang, "col.baseline")],
            empty_text=t(lang, "empty", what=t(lang, "empty.input")),
        )
        if rows or not math.isnan(c)
        else ""
    )


def _scalar(value: object) -> object:
    """AUC may come as {"value", "ci_low", "ci_high"}; show the point estimate."""
    if isinstance(value, dict):
        return value.get("value", value.get("estimate"))
    return value
