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
from churnlab.reports.i18n import keys, label_text, t, verdict_key, verdict_word
from churnlab.reports.loaders import ReportData, as_of, as_of_source
from churnlab.reports.takeaways import (
    executive_takeaways,
    headline_labels,
    segment_takeaways,
    verdict_counts_text,
)

Block = str | bytes


def as_of_sentence(data: ReportData, lang: str) -> str:
    """'Data as of 2025-12-31 (latest date in the data (events.occurred_at)).'"""
    source = as_of_source(data)
    if source:
        return t(lang, "subtitle_source", as_of=as_of(data), source=source)
    return t(lang, "subtitle", as_of=as_of(data))


def header(data: ReportData, lang: str, title: str) -> list[Block]:
    return [f"<h1>{m.esc(title)}</h1>" + m.paragraph(as_of_sentence(data, lang), "subtitle")]


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


KM_DIMENSIONS = ("segment", "billing_period", "plan")  # retention curves on the summary


def _retention(
    data: ReportData, lang: str, by: str, groups: list[str] | None, spells: pd.DataFrame
) -> bytes | None:
    """Retention curves by `by` from the kpis stage (months) or, without its km_curves table,
    KM on the panel (weeks; each spell of an account is a subject, as in the kpis stage).

    Segment curves are always drawn; other dimensions only where a source has them (None)."""
    curves = frames.kpi_km(data.kpi_tables, by, groups)
    label = t(lang, f"dimension.{by}")
    if not curves.empty:
        curves = curves.assign(group=[label_text(lang, by, g) for g in curves["group"]])
        return plotting.png_bytes(plotting.retention_curves(curves, lang, label, time_col="months"))
    has_kpi_curves = not frames.kpi_km(data.kpi_tables, "overall").empty
    col = by if by in spells and spells[by].notna().any() else None
    if by != "segment" and (has_kpi_curves or col is None):
        return None
    if groups is not None and col is not None:
        spells = spells[spells[col].astype(str).isin(groups)]
    weekly = frames.retention_by_group(spells, col, t(lang, "plot.all_accounts"))
    if col is not None and not weekly.empty:
        weekly = weekly.assign(group=[label_text(lang, by, g) for g in weekly["group"]])
    return plotting.png_bytes(plotting.retention_curves(weekly, lang, label))


def warnings_section(data: ReportData, lang: str) -> list[Block]:
    """tables.json warnings in ingest's words, each followed by what it means for the numbers."""
    warns = frames.data_warnings(data.tables)
    if not warns:
        return []
    items = []
    for w in warns:
        key = f"warning.{w['code']}"
        meaning = t(lang, key) if key in keys(lang) else ""  # unknown codes: ingest's words only
        items.append(" ".join(x for x in (w["message"], meaning) if x))
    return [m.heading(t(lang, "sec.warnings")), m.bullet_list(items, "warnings")]


def headline_cards(head: dict, red: object, lang: str) -> list[tuple[str, str]]:
    """The headline KPI cards; every label says which months its figure covers."""
    labels = headline_labels(head, lang)
    return [
        (labels["logo_churn"], m.fmt_pct(head["logo_churn"], 2)),
        (labels["grr"], m.fmt_pct(head["grr"])),
        (labels["nrr"], m.fmt_pct(head["nrr"])),
        (t(lang, "kpi.active_accounts"), m.fmt_int(head["active_accounts"])),
        (t(lang, "kpi.red_accounts"), m.fmt_int(red) if red is not None else "–"),
    ]


def mrr_bridge_section(data: ReportData, lang: str, head: dict) -> list[Block]:
    bridge = frames.mrr_bridge(frames.kpi_monthly(data.kpis), head.get("months"))
    if bridge.empty:
        return []
    return [
        m.heading(t(lang, "sec.mrr_bridge")),
        plotting.png_bytes(plotting.mrr_bridge(bridge, lang)),
    ]


def executive_summary(data: ReportData, lang: str) -> list[Block]:
    monthly = frames.kpi_monthly(data.kpis)
    head = frames.kpi_headline(data.kpis, monthly)
    hyps = frames.hypotheses_table(data.hypotheses)
    top = frames.top_leading(hyps, 3)
    bands = frames.latest_bands(data.scores, data.panel)  # active accounts only
    validation = data.health.get("validation") or {}
    red = bands.get("red") if len(bands) else None
    blocks: list[Block] = warnings_section(data, lang)
    blocks += [m.heading(t(lang, "sec.headline")), m.kpi_cards(headline_cards(head, red, lang))]
    blocks.append(m.heading(t(lang, "sec.takeaways")))
    blocks.append(
        m.bullet_list(
            executive_takeaways(
                monthly,
                hyps,
                top,
                bands,
                validation,
                lang,
                head=head,
                warning_codes={w["code"] for w in frames.data_warnings(data.tables)},
            ),
            "takeaways",
        )
    )
    blocks += [
        m.heading(t(lang, "sec.churn_trend")),
        plotting.png_bytes(plotting.churn_trend(monthly, lang)),
    ]
    blocks += mrr_bridge_section(data, lang, head)
    spells = frames.spell_lifetimes(data.panel)
    blocks.append(m.heading(t(lang, "sec.retention")))
    for by in KM_DIMENSIONS:
        image = _retention(data, lang, by, None, spells)
        if image is not None:
            blocks.append(image)
    matrix = frames.cohort_matrix(data.kpi_tables)
    if not matrix.empty:
        blocks += [
            m.heading(t(lang, "sec.cohorts")),
            plotting.png_bytes(plotting.cohort_heatmap(matrix, lang)),
        ]
    shares = frames.band_share_by_week(data.scores, data.panel)
    blocks += [
        m.heading(t(lang, "sec.health_trend")),
        plotting.png_bytes(plotting.band_shares(shares, lang)),
    ]
    blocks += validation_section(data, lang)
    blocks.append(m.heading(t(lang, "sec.top_hypotheses")))
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
            t(lang, "col.lag"): hyps["lag_weeks"].map(m.fmt_int),
            t(lang, "col.q"): hyps["q_value"].map(m.fmt_p),
            t(lang, "col.warning"): hyps["median_warning_weeks"].map(lambda w: m.fmt_num(w, 1)),
        }
    )
    numeric = [t(lang, k) for k in ("col.hr", "col.lag", "col.q", "col.warning")]
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
    return t(  # the stage's own rule text (e.g. "x < 0.5") is shown by the action list
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


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def glm_text(row: pd.Series, lang: str) -> str | None:
    """The discrete-time GLM cross-check at the headline lag, saying so when it disagrees."""
    hr = row.get("glm_hazard_ratio")
    if not _present(hr):
        return None
    disagreement = row.get("glm_disagreement")
    if _present(disagreement):
        agree = t(lang, "lamp.glm_disagree") + f" ({disagreement})"
    elif _present(row.get("glm_agrees")):
        agree = t(lang, "lamp.glm_agree" if bool(row.get("glm_agrees")) else "lamp.glm_disagree")
    else:
        agree = ""
    return t(
        lang,
        "lamp.glm",
        hr=m.fmt_num(hr),
        lo=m.fmt_num(row.get("glm_ci_low")),
        hi=m.fmt_num(row.get("glm_ci_high")),
        agree=agree,
    )


def ph_text(row: pd.Series, lang: str) -> str | None:
    """Proportional-hazards check in words (lamp x log(tenure) interaction)."""
    prop = row.get("ph_proportional")
    if not _present(prop):
        return None
    key = "ph.ok" if bool(prop) else "ph.bad"
    return t(lang, "lamp.ph", text=t(lang, key, p=m.fmt_p(row.get("ph_p_value"))))


def chosen_threshold(curve: pd.DataFrame, row: pd.Series) -> float:
    """The lamp threshold: the curve's `chosen` point, else the hypothesis' threshold."""
    if not curve.empty and curve["chosen"].any():
        return float(curve.loc[curve["chosen"], "threshold"].iloc[0])
    value = pd.to_numeric(pd.Series([row.get("threshold")]), errors="coerce").iloc[0]
    return float(value)


MIN_CURVE_POINTS = 3  # fewer candidate thresholds than this are not a curve


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
        curve = frames.threshold_curve(frames.hypothesis_rows(thr_all, hid))
        chosen = chosen_threshold(curve, row)
        if row.get("threshold_source") == "configured":  # set in hypotheses.yaml: no curve
            text = t(lang, "threshold.configured", threshold=m.fmt_num(chosen))
            blocks.append(m.paragraph(text, "note"))
        elif curve["threshold"].nunique() >= MIN_CURVE_POINTS:
            unit = _indicator_unit(data, row["indicator"])
            fig = plotting.threshold_curve(curve, chosen, unit, name, lang)
            blocks.append(plotting.png_bytes(fig))
        else:
            blocks.append(m.paragraph(t(lang, "threshold.none"), "note"))
        if _present(row.get("tuning_accounts")):
            text = t(
                lang,
                "threshold.split",
                tuning=m.fmt_int(row["tuning_accounts"]),
                test=m.fmt_int(row["test_accounts"]),
            )
            rule = row.get("threshold_rule")
            if _present(rule):
                text += " " + t(lang, "threshold.rule", rule=rule)
                if "chi-square" in str(rule):  # why not the point where lift peaks
                    text += " " + t(lang, "threshold.why")
            blocks.append(m.paragraph(text, "note"))
        lines = [lamp_text(row, data, lang)]
        lines += [x for x in (glm_text(row, lang), ph_text(row, lang)) if x]
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
    blocks: list[Block] = []  # the page header states the as-of date and its source
    if data.tables.get("snapshot"):
        blocks.append(m.paragraph(t(lang, "quality.snapshot"), "note"))
    blocks += warnings_section(data, lang)
    blocks += contract_history_section(data, lang)
    blocks += [
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
    ]
    if not reasons.empty:
        blocks.append(plotting.png_bytes(plotting.reason_bars(reasons, lang)))
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


def contract_history_section(data: ReportData, lang: str) -> list[Block]:
    """What ingest made of the contract histories: overlaps, gaps, reactivations, censoring,
    accounts left without an accepted contract (and what happened to their events)."""
    counts = frames.contract_history(data.tables)
    if counts.empty:
        return []
    known = keys(lang)
    shown = pd.DataFrame(
        {
            t(lang, "col.what"): [
                t(lang, f"history.{k}") if f"history.{k}" in known else k for k in counts["key"]
            ],
            t(lang, "col.number"): counts["count"].map(m.fmt_int),
        }
    )
    blocks: list[Block] = [
        m.heading(t(lang, "sec.contract_history")),
        m.paragraph(t(lang, "history.intro"), "note"),
        m.table(shown, numeric=[t(lang, "col.number")]),
    ]
    hist = data.tables.get("contract_history") or {}
    ids = hist.get("accounts_without_contract_ids") or []
    if ids:
        total = hist.get("accounts_without_contract", len(ids))
        text = t(
            lang,
            "history.without_ids",
            n=m.fmt_int(len(ids)),
            total=m.fmt_int(total),
            ids=", ".join(str(i) for i in ids),
        )
        blocks.append(m.paragraph(text, "note"))
    return blocks


# --- action list ---------------------------------------------------------------------------


# Action-list columns shown, in order (CONTRACTS.md §4), with their header keys.
ACTION_COLUMNS = [
    ("rank", "col.rank"),
    ("account_name", "col.account"),
    ("name", "col.account"),
    ("account_id", "col.account_id"),
    ("band", "col.band"),
    ("health_score", "col.health_score"),
    ("score", "col.score"),
    ("mrr_at_risk", "col.mrr_at_risk"),
    ("mrr", "col.mrr"),
    ("renewal_date", "col.renewal"),
    ("lamp_rule", "col.rule"),
    ("lamps", "col.lamps"),
    ("weeks_on", "col.weeks_on"),
    ("action", "col.action"),
]
NUMERIC_ACTION_COLUMNS = {"rank", "health_score", "score", "mrr_at_risk", "mrr", "weeks_on"}


def _band_badge(band: object, lang: str) -> str:
    b = str(band).lower()
    text = t(lang, f"band.{b}") if b in ("red", "amber", "green") else str(band)
    return m.badge(f"band band-{b}", text)


def action_table(df: pd.DataFrame, lang: str, money: str, empty_text: str) -> str:
    """The chosen action-list columns with translated headers; bands as coloured pills."""
    if df.empty:
        return m.table(df, empty_text=empty_text)
    skip = {"mrr"} if money == "mrr_at_risk" and "mrr_at_risk" in df else {"mrr_at_risk"}
    keep, seen_headers = [], set()
    for col, key in ACTION_COLUMNS:
        if col in df and col not in skip and t(lang, key) not in seen_headers:
            keep.append((col, t(lang, key)))
            seen_headers.add(t(lang, key))
    out = df[[c for c, _ in keep]].copy()
    if "band" in out:
        out["band"] = [_band_badge(b, lang) for b in out["band"]]
    for col in ("mrr_at_risk", "mrr"):
        if col in out:
            out[col] = pd.to_numeric(out[col], errors="coerce").map(lambda v: m.fmt_num(v, 0))
    out.columns = [h for _, h in keep]
    numeric = [h for c, h in keep if c in NUMERIC_ACTION_COLUMNS]
    raw = [t(lang, "col.band")] if "band" in df else []
    return m.table(out, numeric=numeric, raw=raw)


ACCOUNTS_PER_CSM = 25  # accounts shown per CSM on the action-list page (all are in the CSV)


def action_list(data: ReportData, lang: str) -> list[Block]:
    """This week's lamps per CSM, the band mix, and the opportunities."""
    blocks: list[Block] = [
        m.heading(t(lang, "sec.band_mix")),
        plotting.png_bytes(plotting.band_mix(frames.latest_bands(data.scores, data.panel), lang)),
        m.heading(t(lang, "sec.actions_by_csm")),
    ]
    groups = frames.actions_by_csm(data.actions, t(lang, "csm.unassigned"))
    if not groups:
        blocks.append(m.paragraph(t(lang, "empty", what=t(lang, "empty.no_actions")), "empty"))
    for csm, df in groups:
        blocks.append(m.heading(t(lang, "csm.heading", csm=csm, n=_n_accounts(df)), 3))
        # A CSM works down the list from the top; past the first accounts a page is not read
        # (the default company had 2,600 accounts with a lamp on: a 2.7 MB page).
        first = df["account_id"].drop_duplicates().head(ACCOUNTS_PER_CSM)
        if _n_accounts(df) > ACCOUNTS_PER_CSM:
            note = t(lang, "csm.more", n=ACCOUNTS_PER_CSM, total=_n_accounts(df))
            blocks.append(m.paragraph(note, "note"))
        blocks.append(action_table(df[df["account_id"].isin(first)], lang, "mrr_at_risk", ""))
    blocks.append(m.heading(t(lang, "sec.opportunities")))
    empty = t(lang, "empty", what=t(lang, "empty.no_rows"))
    blocks.append(action_table(data.opportunities, lang, "mrr", empty))
    return blocks


def top_actions(data: ReportData, lang: str, accounts: set[str], n: int = 25) -> list[Block]:
    """A group's first `n` action rows (the list is already in priority order) + opportunities.

    The full per-CSM list is the action-list report; a team lead's page stays readable.
    """
    blocks: list[Block] = []
    for key, df, money in (
        ("sec.top_actions", data.actions, "mrr_at_risk"),
        ("sec.top_opportunities", data.opportunities, "mrr"),
    ):
        mine = (
            df[df["account_id"].astype(str).isin(accounts)] if "account_id" in df else df.iloc[0:0]
        )
        blocks.append(m.heading(t(lang, key)))
        if len(mine) > n:
            blocks.append(m.paragraph(t(lang, "top.note", n=n, total=len(mine)), "note"))
        blocks.append(
            action_table(mine.head(n), lang, money, t(lang, "empty", what=t(lang, "empty.no_rows")))
        )
    return blocks


def _n_accounts(df: pd.DataFrame) -> int:
    return int(df["account_id"].nunique()) if "account_id" in df else len(df)


# --- segment / customer-goal report --------------------------------------------------------


def cohort_report(data: ReportData, lang: str, dimension: str, value: str) -> list[Block]:
    """The executive view restricted to accounts with `dimension == value` (the user's label)."""
    panel = data.panel
    mine = panel[panel[dimension].astype(str) == value] if dimension in panel else panel.iloc[0:0]
    ids = set(mine["account_id"].astype(str)) if not mine.empty else set()
    all_life = frames.account_lifetimes(panel)
    life = all_life[all_life["account_id"].astype(str).isin(ids)]
    all_spells = frames.spell_lifetimes(panel)
    spells = all_spells[all_spells["account_id"].astype(str).isin(ids)]
    scores = (
        data.scores[data.scores["account_id"].astype(str).isin(ids)]
        if not data.scores.empty
        else data.scores
    )
    bands = frames.latest_bands(scores, panel)  # active accounts only
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
    else:  # no kpi table: weekly KM on the panel, each spell a subject
        curves = pd.concat(
            [
                frames.retention_by_group(spells, None, value),
                frames.retention_by_group(all_spells, None, label_all),
            ],
            ignore_index=True,
        )
        retention = plotting.retention_curves(curves, lang, group_label)
    monthly = frames.observed_months(frames.monthly_churn(mine), data.kpis)
    shares = frames.band_share_by_week(scores, panel)
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
        plotting.png_bytes(plotting.band_shares(shares, lang)),
    ]
    return blocks + top_actions(data, lang, ids)


def _with_ci(block: object) -> str:
    """'0.715 (0.657–0.768)' from {estimate, ci_low, ci_high}, or a plain number."""
    if isinstance(block, dict):
        est = block.get("estimate", block.get("value"))
        if block.get("ci_low") is not None:
            return f"{m.fmt_num(est, 3)} ({m.fmt_num(block.get('ci_low'), 3)}–{m.fmt_num(block.get('ci_high'), 3)})"
        return m.fmt_num(est, 3)
    return m.fmt_num(block, 3)


def validation_section(data: ReportData, lang: str) -> list[Block]:
    """Out-of-time validation of the health score against the baseline, and band calibration."""
    validation = data.health.get("validation") or {}
    rows = []
    for key in ("concordance", "auc", "top_decile_lift"):
        block = validation.get(key)
        if isinstance(block, dict):
            rows.append(
                (
                    t(lang, f"metric.{key}"),
                    _with_ci(block.get("score")),
                    _with_ci(block.get("baseline")),
                )
            )
    notes = [str(x) for x in (data.health.get("message"), validation.get("problem")) if x]
    if not rows:
        if not notes:
            return []
        return [m.heading(t(lang, "sec.validation")), *[m.paragraph(n, "note") for n in notes]]
    df = pd.DataFrame(
        rows, columns=[t(lang, "col.metric"), t(lang, "col.model"), t(lang, "col.baseline")]
    )
    blocks: list[Block] = [m.heading(t(lang, "sec.validation"))]
    blocks += [m.paragraph(n, "note") for n in notes]
    if validation.get("split_week"):
        note = t(
            lang,
            "validation.note",
            split=str(validation["split_week"])[:10],
            n=m.fmt_int(validation.get("n_accounts")),
            events=m.fmt_int(validation.get("n_events")),
        )
        blocks.append(m.paragraph(note, "note"))
    blocks.append(m.table(df, numeric=[t(lang, "col.model"), t(lang, "col.baseline")]))
    bands = pd.DataFrame((data.health.get("bands") or {}).get("validation") or [])
    if not bands.empty and {"band", "mean_predicted", "observed"} <= set(bands.columns):
        shown = pd.DataFrame(
            {
                t(lang, "col.band"): [_band_badge(b, lang) for b in bands["band"]],
                t(lang, "col.n_accounts"): bands.get("accounts", pd.Series(dtype=float)).map(
                    m.fmt_int
                ),
                t(lang, "col.predicted"): bands["mean_predicted"].map(m.fmt_pct),
                t(lang, "col.observed"): bands["observed"].map(m.fmt_pct),
            }
        )
        numeric = [t(lang, k) for k in ("col.n_accounts", "col.predicted", "col.observed")]
        blocks.append(m.table(shown, numeric=numeric, raw=[t(lang, "col.band")]))
    return blocks
