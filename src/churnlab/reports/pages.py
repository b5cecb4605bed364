"""The sections of each report, as lists of blocks the notebooks display.

A block is one of
- an HTML string (prose, headings, badges; already escaped, built with `markup`),
- a report table: a DataFrame of values with headers in the report language and its look
  attached (`style.with_spec`); `notebook.show` displays it through `style.style`,
- a matplotlib `Figure` (shown by the notebook's inline backend as a PNG).
The table and figure builders are public (`verdict_table`, `action_table`,
`plotting.lead_profile`, ...), so a notebook cell can hold the DataFrame or the Figure, and an
analyst can filter, sort or restyle it and show it again. Every section is unit-tested
without a kernel (`to_html(blocks)` gives the page's markup).
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from churnlab.reports import frames, plotting
from churnlab.reports import markup as m
from churnlab.reports.i18n import keys, label_text, own_words, t, verdict_key
from churnlab.reports.loaders import ReportData, as_of, as_of_source
from churnlab.reports.style import to_html as table_html
from churnlab.reports.style import with_spec
from churnlab.reports.takeaways import (
    executive_takeaways,
    headline_labels,
    segment_takeaways,
    verdict_counts_text,
)

Block = str | pd.DataFrame | Figure


def to_html(blocks: list[Block]) -> str:
    """The markup a list of blocks shows (tables styled, figures as inline PNG; each figure
    is closed). For tests and previews; notebooks display blocks with `notebook.show`."""
    out = []
    for block in blocks:
        if isinstance(block, pd.DataFrame):
            out.append(table_html(block))
        elif isinstance(block, Figure):
            data = base64.b64encode(plotting.png_bytes(block)).decode("ascii")
            out.append(f'<img src="data:image/png;base64,{data}">')
        elif isinstance(block, bytes):
            out.append(f'<img src="data:image/png;base64,{base64.b64encode(block).decode()}">')
        else:
            out.append(block)
    return "".join(out)


_LATEST_SOURCE = re.compile(r"latest date in the data \((?P<where>[^()]*)\)")


def as_of_sentence(data: ReportData, lang: str) -> str:
    """'Data as of 2025-12-31, the latest date in the data (events.occurred_at).' from
    tables.json `as_of_source` ("base.as_of" | "latest date in the data (<table>.<column>)";
    any other text is quoted as written, without nesting parentheses)."""
    source = as_of_source(data)
    day = as_of(data)
    if not source:
        return t(lang, "subtitle", as_of=day)
    latest = _LATEST_SOURCE.fullmatch(source.strip())
    if latest:
        return t(lang, "subtitle_latest", as_of=day, where=latest["where"])
    if source.strip() == "base.as_of":
        return t(lang, "subtitle_configured", as_of=day)
    return t(lang, "subtitle_other", as_of=day, source=source)


def header(data: ReportData, lang: str, title: str) -> list[Block]:
    return [f"<h1>{m.esc(title)}</h1>" + m.paragraph(as_of_sentence(data, lang), "subtitle")]


def footer(data: ReportData, lang: str) -> list[Block]:
    return [f'<footer class="cl-footer">{m.esc(t(lang, "footer", as_of=as_of(data)))}</footer>']


def _verdict_badge(verdict: object, lang: str, row: pd.Series | None = None) -> str:
    """A coloured verdict pill (see `verdict_word`)."""
    key, text = verdict_word(verdict, lang, row)
    return m.badge(f"verdict verdict-{key}", text)


def verdict_word(verdict: object, lang: str, row: pd.Series | None = None) -> tuple[str, str]:
    """(colour key, words) of a verdict; given the hypothesis row, its display key (an
    opportunity that leads reads "leads retention", in its own colour) and the stage's
    verdict_label (translated when churnlab has a word for it, else shown as written)."""
    key = verdict_key(verdict)
    if row is not None and _present(row.get("display_key")):
        key = str(row.get("display_key"))
    text = t(lang, f"verdict.{key}")
    label = row.get("verdict_label") if row is not None else None
    if _present(label):
        known = verdict_key(label)
        norm = str(label).strip().lower().replace("-", " ").replace(" ", "_")
        text = (
            t(lang, f"verdict.{known}") if known != "inconclusive" or norm == known else str(label)
        )
    return key, text


def _indicator_label(data: ReportData, indicator: object, lang: str = "en") -> str:
    """The indicator's label (panel_meta.json); an attribute hypothesis' `attribute:<name>`
    as the attribute's name in words ("Billing period"), never the raw id."""
    meta = (data.panel_meta.get("indicators") or {}).get(str(indicator)) or {}
    if meta.get("label"):  # churnlab's words for a meaning -> the user's label for it
        return own_words(meta["label"], data.labels)
    text = str(indicator)
    if text.startswith("attribute:"):
        attribute = text.removeprefix("attribute:")
        key = f"dimension.{attribute}"
        word = t(lang, key) if key in keys(lang) else attribute.replace("_", " ")
        return word[:1].upper() + word[1:]
    return text


def _indicator_unit(data: ReportData, indicator: object) -> str:
    meta = (data.panel_meta.get("indicators") or {}).get(str(indicator)) or {}
    return str(meta.get("unit") or "value")


# --- executive summary -------------------------------------------------------------------


KM_DIMENSIONS = ("segment", "billing_period", "plan")  # retention curves on the summary


def _retention(
    data: ReportData, lang: str, by: str, groups: list[str] | None, spells: pd.DataFrame
) -> Figure | None:
    """Retention curves by `by` from the kpis stage (months) or, without its km_curves table,
    KM on the panel (weeks; each spell of an account is a subject, as in the kpis stage).

    Segment curves are always drawn; other dimensions only where a source has them (None)."""
    curves = frames.kpi_km(data.kpi_tables, by, groups)
    label = t(lang, f"dimension.{by}")
    if not curves.empty:
        curves = curves.assign(
            group=[label_text(lang, by, g, data.labels) for g in curves["group"]]
        )
        return plotting.retention_curves(curves, lang, label, time_col="months")
    has_kpi_curves = not frames.kpi_km(data.kpi_tables, "overall").empty
    col = by if by in spells and spells[by].notna().any() else None
    if by != "segment" and (has_kpi_curves or col is None):
        return None
    if groups is not None and col is not None:
        spells = spells[spells[col].astype(str).isin(groups)]
    weekly = frames.retention_by_group(spells, col, t(lang, "plot.all_accounts"))
    if col is not None and not weekly.empty:
        weekly = weekly.assign(
            group=[label_text(lang, by, g, data.labels) for g in weekly["group"]]
        )
    return plotting.retention_curves(weekly, lang, label)


def warnings_section(data: ReportData, lang: str) -> list[Block]:
    """tables.json warnings in ingest's words, each followed by what it means for the numbers."""
    warns = frames.data_warnings(data.tables)
    if not warns:
        return []
    items = []
    for w in warns:
        key = f"warning.{w['code']}"
        meaning = t(lang, key) if key in keys(lang) else ""  # unknown codes: ingest's words only
        message = w["message"].rstrip()
        if meaning and message and not message.endswith((".", "。", "!", "?")):
            message += "."  # ingest's message runs into the meaning otherwise
        items.append(" ".join(x for x in (message, meaning) if x))
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
        plotting.mrr_bridge(bridge, lang),
    ]


def note(lang: str, key: str, **values: object) -> str:
    """A note paragraph in the report language (`i18n` key), for notebook cells."""
    return m.paragraph(t(lang, key, **values), "note")


def heading(lang: str, key: str, level: int = 2, **values: object) -> str:
    """A section heading in the report language (`i18n` key), for notebook cells."""
    return m.heading(t(lang, key, **values), level)


def headline_section(data: ReportData, lang: str) -> list[Block]:
    """Headline KPI cards (kpis.json, red band from the health scores) and the takeaways."""
    monthly = frames.kpi_monthly(data.kpis)
    head = frames.kpi_headline(data.kpis, monthly)
    hyps = frames.hypotheses_table(data.hypotheses)
    top = frames.top_leading(hyps, 3)
    bands = frames.latest_bands(data.scores, data.panel)  # active accounts only
    validation = data.health.get("validation") or {}
    red = bands.get("red") if len(bands) else None
    takeaways = executive_takeaways(
        monthly,
        hyps,
        top,
        bands,
        validation,
        lang,
        head=head,
        warning_codes={w["code"] for w in frames.data_warnings(data.tables)},
    )
    return [
        m.heading(t(lang, "sec.headline")),
        m.kpi_cards(headline_cards(head, red, lang)),
        m.heading(t(lang, "sec.takeaways")),
        m.bullet_list(takeaways, "takeaways"),
    ]


def retention_section(data: ReportData, lang: str) -> list[Block]:
    """Retention curves by segment, billing period and plan (where a source has them)."""
    spells = frames.spell_lifetimes(data.panel)
    blocks: list[Block] = [m.heading(t(lang, "sec.retention"))]
    for by in KM_DIMENSIONS:
        figure = _retention(data, lang, by, None, spells)
        if figure is not None:
            blocks.append(figure)
    return blocks


def cohort_section(data: ReportData, lang: str) -> list[Block]:
    """Signup-cohort retention heatmap (kpis stage); a note for a snapshot; else nothing."""
    if is_snapshot(data):  # churn dated the export day: every cohort cell would read 100%
        return [
            m.heading(t(lang, "sec.cohorts")),
            m.paragraph(t(lang, "snapshot.no_cohort"), "note"),
        ]
    matrix = frames.cohort_matrix(data.kpi_tables)
    if matrix.empty:
        return []
    return [m.heading(t(lang, "sec.cohorts")), plotting.cohort_heatmap(matrix, lang)]


def with_indicator_labels(hyps: pd.DataFrame, data: ReportData, lang: str = "en") -> pd.DataFrame:
    """`hyps` plus a `label` column: each indicator's label from panel_meta.json."""
    if hyps.empty:
        return hyps
    return hyps.assign(label=[_indicator_label(data, i, lang) for i in hyps["indicator"]])


def executive_summary(data: ReportData, lang: str) -> list[Block]:
    """The whole executive summary (the notebook shows the same sections cell by cell)."""
    monthly = frames.kpi_monthly(data.kpis)
    head = frames.kpi_headline(data.kpis, monthly)
    top = frames.top_leading(frames.hypotheses_table(data.hypotheses), 3)
    blocks: list[Block] = warnings_section(data, lang)
    blocks += headline_section(data, lang)
    blocks += [m.heading(t(lang, "sec.churn_trend")), plotting.churn_trend(monthly, lang)]
    blocks += mrr_bridge_section(data, lang, head)
    blocks += retention_section(data, lang)
    blocks += cohort_section(data, lang)
    shares = frames.band_share_by_week(data.scores, data.panel)
    blocks += [m.heading(t(lang, "sec.health_trend")), plotting.band_shares(shares, lang)]
    blocks += validation_section(data, lang)
    blocks.append(m.heading(t(lang, "sec.top_hypotheses")))
    blocks.append(plotting.top_hazard_ratios(with_indicator_labels(top, data, lang), lang))
    blocks += verdict_section(verdict_table(top, data, lang), data, lang)
    return blocks


# --- hypotheses --------------------------------------------------------------------------


def is_snapshot(data: ReportData) -> bool:
    """A snapshot export (tables.json / kpis.json / health_score.json `snapshot: true`): churn
    is dated the export day, so churn timing (cohorts, warning times) cannot be read."""
    return any(bool((d or {}).get("snapshot")) for d in (data.tables, data.kpis, data.health))


def verdict_table(hyps: pd.DataFrame, data: ReportData, lang: str) -> pd.DataFrame:
    """One row per hypothesis (in `hyps`' order), headers in the report language: statement,
    indicator (or attribute rule), verdict (a pill), hazard ratio with its 95% CI (the CI
    columns are hidden, kept to sort on), headline lag, q-value, warning time (weeks)."""
    ci_low, ci_high = t(lang, "col.ci_low"), t(lang, "col.ci_high")
    if hyps.empty:
        cols = ["col.hypothesis", "col.indicator", "col.verdict", "col.hr", "col.lag", "col.q"]
        return with_spec(
            pd.DataFrame(columns=[t(lang, k) for k in cols]),
            empty_text=t(lang, "empty", what=t(lang, "empty.input")),
        )
    words = [verdict_word(r["verdict"], lang, r) for _, r in hyps.iterrows()]
    verdict, hr = t(lang, "col.verdict"), t(lang, "col.hr")
    rows = pd.DataFrame(
        {
            t(lang, "col.hypothesis"): hyps["statement"].fillna(hyps["id"]).to_list(),
            t(lang, "col.indicator"): [indicator_cell(r, data, lang) for _, r in hyps.iterrows()],
            verdict: [text for _, text in words],
            hr: pd.to_numeric(hyps["hazard_ratio"], errors="coerce").to_list(),
            ci_low: pd.to_numeric(hyps["ci_low"], errors="coerce").to_list(),
            ci_high: pd.to_numeric(hyps["ci_high"], errors="coerce").to_list(),
            t(lang, "col.lag"): pd.to_numeric(hyps["lag_weeks"], errors="coerce").to_list(),
            t(lang, "col.q"): pd.to_numeric(hyps["q_value"], errors="coerce").to_list(),
            t(lang, "col.warning"): [
                np.nan if w is None else float(w)
                for w in verdict_warning(
                    hyps,
                    is_snapshot(data),
                    [bool(lit_from_start(r, data)) for _, r in hyps.iterrows()],
                )
            ],
        },
        index=hyps["id"].astype(str).to_list(),
    )
    rows.index.name = "id"
    numeric = [t(lang, k) for k in ("col.hr", "col.lag", "col.q", "col.warning")]
    return with_spec(
        rows,
        formats={t(lang, "col.lag"): "int", t(lang, "col.q"): "p", t(lang, "col.warning"): "num1"},
        numeric=numeric,
        badges={verdict: ("verdict", {text: key for key, text in words})},
        intervals={hr: (ci_low, ci_high)},
        hidden=[ci_low, ci_high],
    )


def verdict_note(data: ReportData, lang: str) -> str:
    """The note under a verdict table (what the warning column means, or why it is empty)."""
    note = "snapshot.no_warning" if is_snapshot(data) else "verdict_table.warning_note"
    return m.paragraph(t(lang, note), "note")


def verdict_section(table: pd.DataFrame, data: ReportData, lang: str) -> list[Block]:
    """A verdict table (`verdict_table`, possibly filtered or sorted) and its note; a table
    without rows shows only its "not available" line."""
    return [table] if table.empty else [table, verdict_note(data, lang)]


LEADING = ("leads_churn",)  # an opportunity's lamp warns of nothing: no warning time


def verdict_warning(
    hyps: pd.DataFrame, snapshot: bool = False, from_start: list[bool] | None = None
) -> list[float | None]:
    """The warning time shown beside each verdict: the median warning of a lighting (the
    alert measure when present, else lamp performance's), only where the verdict says a risk
    lamp leads churn; elsewhere None ("–"), so a "too late to act on" never sits beside
    "4 weeks" and an opportunity (it warns of nothing) has none (the basis of each verdict's
    warning time is stated under the hypothesis).

    `from_start` (per row, `lit_from_start`): a lamp on from the account's first week (an
    attribute, onboarding progress) has no alert warning time - its one "lighting" is the
    spell's first week, so the alert measure counts only churners who left within the
    horizon of starting (a new user saw 9.0 beside the 12.0 of its lamp-on time) - so it gets
    None too: it can be acted on from the start, as the note under the table says."""
    if snapshot:  # churn dated the export day: no warning time can be read
        return [None] * len(hyps)
    from_start = from_start if from_start is not None else [False] * len(hyps)
    out = []
    for (_, r), start in zip(hyps.iterrows(), from_start, strict=True):
        w = r.get("alert_median_warning_weeks") if bool(r.get("has_alerts")) else None
        if not _present(w):
            w = r.get("median_warning_weeks")
        key = r.get("display_key") or r.get("verdict_key")
        out.append(w if key in LEADING and _present(w) and not start else None)
    return out


def hypotheses_intro(hyps: pd.DataFrame, lang: str) -> list[Block]:
    """How to read the page, and the verdict counts of `hyps` (frames.hypotheses_table)."""
    return [
        m.heading(t(lang, "sec.how_to_read")),
        m.paragraph(t(lang, "how_to_read.hypotheses")),
        m.heading(t(lang, "sec.verdict_table")),
        m.paragraph(verdict_counts_text(hyps, lang), "note"),
    ]


def hypotheses_overview(data: ReportData, lang: str) -> list[Block]:
    hyps = frames.sort_hypotheses(frames.hypotheses_table(data.hypotheses))
    return [
        *hypotheses_intro(hyps, lang),
        *verdict_section(verdict_table(hyps, data, lang), data, lang),
        m.heading(t(lang, "sec.per_hypothesis")),
    ]


def _table_for(data: ReportData, prefixes: tuple[str, ...]) -> pd.DataFrame:
    """Concatenate hypothesis_tables whose file name starts with one of `prefixes`."""
    parts = [df for name, df in data.hypothesis_tables.items() if name.startswith(prefixes)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def is_attribute(row: pd.Series) -> bool:
    attribute = row.get("attribute")
    return (isinstance(attribute, str) and bool(attribute)) or str(
        row.get("indicator") or ""
    ).startswith("attribute:")


def _values(value: object) -> list[str]:
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value]
    return [] if not _present(value) else [str(value)]


def attribute_rule(row: pd.Series, lang: str, labels: dict | None = None) -> str:
    """An attribute hypothesis' lamp in words: its `lamp_rule` ("billing_period in [monthly]")
    or built from `attribute` and `values`, plus the values not in the data when any. Values
    of a dimension the user labelled (`labels`, ReportData.labels: billing periods) are
    written in the user's labels ("billing_period in [Month-to-month]"), not the meanings
    the stage stores."""
    attribute = row.get("attribute")
    if not (isinstance(attribute, str) and attribute):
        attribute = str(row.get("indicator") or "").removeprefix("attribute:")
    rule = row.get("lamp_rule")
    own = (labels or {}).get(attribute)
    if own and _values(row.get("values")):
        values = [label_text(lang, attribute, v, labels) for v in _values(row.get("values"))]
        rule = t(lang, "lamp.attribute_rule", attribute=attribute, values=", ".join(values))
    elif not (isinstance(rule, str) and rule.strip()):
        rule = t(lang, "lamp.attribute_rule", attribute=attribute,
                 values=", ".join(_values(row.get("values"))) or "–")  # fmt: skip
    missing = _values(row.get("values_not_in_data"))
    if missing:
        rule += t(lang, "lamp.values_not_in_data", values=", ".join(missing))
    return rule


def verdict_reason(row: pd.Series, data: ReportData, lang: str) -> str:
    """The stage's verdict reason; an attribute's values in it ("accounts whose
    billing_period is monthly churn more", written by `hypotheses.family.attribute_wording`
    with the meanings) in the user's labels (ReportData.labels)."""
    reason = str(row.get("verdict_reason") or "")
    attribute, values = row.get("attribute"), _values(row.get("values"))
    if is_attribute(row) and isinstance(attribute, str) and data.labels.get(attribute) and values:
        own = [label_text(lang, attribute, v, data.labels) for v in values]
        reason = reason.replace(f"{attribute} is {' / '.join(values)}",
                                f"{attribute} is {' / '.join(own)}")  # fmt: skip
    return reason


def indicator_cell(row: pd.Series, data: ReportData, lang: str) -> str:
    """The Indicator column: the indicator's label, or an attribute hypothesis' rule."""
    if is_attribute(row):
        return attribute_rule(row, lang, data.labels)
    return _indicator_label(data, row.get("indicator"), lang)


def lamp_text(row: pd.Series, data: ReportData, lang: str) -> str:
    if is_attribute(row):
        rule = attribute_rule(row, lang, data.labels)
    else:
        op = t(lang, "op.high" if str(row.get("direction")) == "high" else "op.low")
        label = _indicator_label(data, row.get("indicator"), lang)
        rule = f"{label} {op} {m.fmt_num(row.get('threshold'))}"
    text = t(  # the stage's own rule text (e.g. "x < 0.5") is shown by the action list
        lang,
        "lamp.text",
        rule=rule,
        precision=m.fmt_pct(row.get("precision")),
        recall=m.fmt_pct(row.get("recall")),
        lift=m.fmt_num(row.get("lift"), 1),
        warning=m.fmt_num(row.get("median_warning_weeks"), 1),
    )
    # lamp-on time is counted within the horizon: say so, or "12.0" reads as a lead
    horizon = (data.hypotheses.get("settings") or {}).get("horizon_weeks")
    if _present(horizon) and _present(row.get("median_warning_weeks")):
        text += " " + t(lang, "lamp.on_time_capped", horizon=m.fmt_num(horizon, 0))
    return text


def _present(value: object) -> bool:
    if value is None or value is pd.NA:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _weeks(value: object, lang: str) -> str:
    """'1 week' / '7 weeks' / '2.5 weeks' (whole numbers without decimals); '–' if missing."""
    if not _present(value):
        return "–"
    n = m.fmt_num(value, 0 if float(value) == int(float(value)) else 1)
    return t(lang, "unit.week" if n == "1" else "unit.weeks", n=n)


def alert_lines(row: pd.Series, lang: str) -> list[str]:
    """The lamp judged as an alert (hypotheses.json `alerts`), in sentences with units;
    [] when the file predates them. Measures without data are left out."""
    if not bool(row.get("has_alerts")):
        return []

    def a(key: str) -> object:
        return row.get(f"alert_{key}")

    out = []
    if _present(a("share_lit_median")):
        out.append(
            t(lang, "alerts.share", median=m.fmt_pct(a("share_lit_median"), 0),
              latest=m.fmt_pct(a("share_lit_latest"), 0))
        )  # fmt: skip
    if _present(a("lightings_per_csm_week")):
        out.append(
            t(lang, "alerts.load", per_csm=m.fmt_num(a("lightings_per_csm_week"), 1),
              per100=m.fmt_num(a("lightings_per_100_account_weeks"), 1))
        )  # fmt: skip
    elif _present(a("lightings_per_100_account_weeks")):
        per100 = m.fmt_num(a("lightings_per_100_account_weeks"), 1)
        out.append(t(lang, "alerts.load_no_csm", per100=per100))
    if _present(a("precision")):
        out.append(
            t(lang, "alerts.precision", precision=m.fmt_pct(a("precision")),
              base=m.fmt_pct(a("base_rate")), lift=m.fmt_num(a("lift"), 1))
        )  # fmt: skip
    if _present(a("churners_warned_share")):
        out.append(
            t(lang, "alerts.warned", warned=m.fmt_pct(a("churners_warned_share"), 0),
              weeks=_weeks(a("median_warning_weeks"), lang))
        )  # fmt: skip
    if _present(a("median_weeks_lit")):
        out.append(
            t(lang, "alerts.lit", median=_weeks(a("median_weeks_lit"), lang),
              p75=_weeks(a("p75_weeks_lit"), lang))
        )  # fmt: skip
    return out or [t(lang, "alerts.none")]


def lit_from_start(row: pd.Series, data: ReportData) -> str | None:
    """Why a lamp is on from an account's first week rather than switching on later as an
    alert: "attribute" (an attribute hypothesis: billing period, plan, ...) or "onboarding"
    (an indicator of panel_meta's `onboarding` group, which counts progress from 0 at the
    start of a spell — milestone flags, activation rate — whose lamp is on at 0: below a
    positive threshold, or above a negative one); None otherwise. Such a lamp "lights" once,
    at the start, so alert measures (lightings, precision of a lighting, alert warning time)
    say nothing about it."""
    if is_attribute(row):
        return "attribute"
    meta = (data.panel_meta.get("indicators") or {}).get(str(row.get("indicator"))) or {}
    threshold = pd.to_numeric(pd.Series([row.get("threshold")]), errors="coerce").iloc[0]
    if meta.get("group") != "onboarding" or not _present(threshold):
        return None
    direction = str(row.get("direction"))
    on_at_zero = (direction == "low" and threshold > 0) or (direction == "high" and threshold < 0)
    return "onboarding" if on_at_zero else None


def alert_section(
    row: pd.Series, curve: pd.DataFrame, name: str, lang: str, from_start: str | None = None
) -> list[Block]:
    """The alert measures, the basis of the verdict's warning time and the trade-off curve
    (share lit vs precision vs churners warned, chosen point ringed) when present. A lamp lit
    from the start (`lit_from_start`) gets that sentence and its share lit instead of the
    alert measures and the curve."""
    if from_start:
        why = t(lang, f"from_start.{from_start}")
        lines = [t(lang, "alerts.from_start", why=why)]
        if _present(row.get("alert_share_lit_median")):
            lines.append(
                t(lang, "alerts.share", median=m.fmt_pct(row.get("alert_share_lit_median"), 0),
                  latest=m.fmt_pct(row.get("alert_share_lit_latest"), 0))
            )  # fmt: skip
        basis = row.get("warning_weeks_basis")
        if _present(basis):
            lines.append(t(lang, "alerts.basis", basis=str(basis)))
        return [m.heading(t(lang, "sec.alerts"), 4) + m.bullet_list(lines)]
    lines = alert_lines(row, lang)
    basis = row.get("warning_weeks_basis")
    if _present(basis):
        lines.append(t(lang, "alerts.basis", basis=str(basis)))
    blocks: list[Block] = []
    if lines:
        blocks.append(m.heading(t(lang, "sec.alerts"), 4) + m.bullet_list(lines))
    if "share_lit" in curve and curve["share_lit"].notna().sum() >= 2:
        blocks.append(m.heading(t(lang, "sec.tradeoff"), 4))
        blocks.append(plotting.alert_tradeoff(curve, name, lang))
        blocks.append(m.paragraph(t(lang, "tradeoff.note"), "note"))
    return blocks


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
    """One section per hypothesis (in verdict order; see `hypothesis_section`)."""
    hyps = frames.sort_hypotheses(frames.hypotheses_table(data.hypotheses))
    blocks: list[Block] = []
    for hid in hyps["id"].astype(str) if not hyps.empty else []:
        blocks += hypothesis_section(data, lang, hid)
    return blocks


def hypothesis_section(data: ReportData, lang: str, hypothesis_id: str) -> list[Block]:
    """One hypothesis: verdict, lead profile, landmark KM, threshold curve, lamp, action.

    Raises KeyError if hypotheses.json has no hypothesis `hypothesis_id`."""
    hyps = frames.hypotheses_table(data.hypotheses)
    match = hyps[hyps["id"].astype(str) == str(hypothesis_id)] if not hyps.empty else hyps
    if match.empty:
        known = ", ".join(hyps["id"].astype(str)) if not hyps.empty else "none"
        raise KeyError(f"hypotheses.json: no hypothesis {hypothesis_id!r} (known: {known})")
    km_all = _table_for(data, ("km", "landmark"))
    thr_all = _table_for(data, ("threshold",))
    blocks: list[Block] = []
    for _, row in match.head(1).iterrows():
        hid = str(row["id"])
        name = _indicator_label(data, row["indicator"], lang)
        blocks.append(
            f'<h3 id="h-{m.esc(hid)}">{m.esc(row.get("statement") or hid)} {_verdict_badge(row["verdict"], lang, row)}</h3>'
            + m.paragraph(verdict_reason(row, data, lang), "note")
        )
        if row["verdict_key"] == "not_testable":
            continue
        blocks.append(m.heading(t(lang, "sec.lead_profile"), 4))
        blocks.append(plotting.lead_profile(frames.lead_profile(data.hypotheses, hid), name, lang))
        blocks.append(m.heading(t(lang, "sec.landmark_km"), 4))
        blocks.append(
            plotting.km_by_lamp(frames.km_curve(frames.hypothesis_rows(km_all, hid)), name, lang)
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
            blocks.append(fig)
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
        blocks += alert_section(row, curve, name, lang, lit_from_start(row, data))
        blocks.append(
            m.heading(t(lang, "sec.action"), 4) + m.paragraph(str(row.get("action") or "–"))
        )
    return blocks


# --- data quality --------------------------------------------------------------------------


def quarantine_table(counts: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Rows read / accepted / quarantined, whether read = accepted + quarantined, and the
    quarantined share per table (`frames.quarantine_counts`), headers in the report language."""
    keys = {"table": "col.table", "read": "col.read", "accepted": "col.accepted",
            "quarantined": "col.quarantined", "share": "col.share"}  # fmt: skip
    shown = counts.reindex(columns=list(keys)).rename(
        columns={k: t(lang, v) for k, v in keys.items()}
    )
    if "unaccounted" in counts:
        shown.insert(
            4,
            t(lang, "col.check"),
            [
                t(lang, "check.ok") if d == 0 else t(lang, "check.bad", diff=int(d))
                for d in counts["unaccounted"]
            ],
        )
    numeric = [t(lang, k) for k in ("col.read", "col.accepted", "col.quarantined", "col.share")]
    return with_spec(
        shown.reset_index(drop=True),
        formats={**dict.fromkeys(numeric[:3], "int"), numeric[3]: "pct2"},
        numeric=numeric,
        empty_text=t(lang, "empty", what=t(lang, "empty.input")),
    )


def reason_words(reason: object, column: object, lang: str) -> str:
    """A quarantine reason code in words, with the column it was found in when known:
    "date or time that cannot be read in occurred_at"; unknown codes as written."""
    key = f"reason.{reason}"
    words = t(lang, key) if key in keys(lang) else str(reason)
    if _present(column) and str(column):
        return t(lang, "reason.in_column", reason=words, column=str(column))
    return words


def reasons_table(reasons: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Quarantined rows per table, reason (in words) and column (`frames.quarantine_reasons`),
    with the reason code as written in the quarantine files' `_reason`."""
    column = reasons["column"] if "column" in reasons else pd.Series("", index=reasons.index)
    shown = pd.DataFrame(
        {
            t(lang, "col.table"): reasons["table"].astype(str).to_list(),
            t(lang, "col.reason"): [reason_words(r, "", lang) for r in reasons["reason"]],
            t(lang, "col.column"): [
                str(c)
                if _present(c) and str(c)
                else t(lang, "column.row")
                if r in ("malformed_row", "duplicate")
                else "–"
                for r, c in zip(reasons["reason"], column, strict=True)
            ],
            t(lang, "col.count"): pd.to_numeric(reasons["count"], errors="coerce").to_list(),
            t(lang, "col.code"): reasons["reason"].astype(str).to_list(),
        }
    )
    return with_spec(
        shown,
        formats={t(lang, "col.count"): "int"},
        numeric=[t(lang, "col.count")],
        empty_text=t(lang, "empty", what=t(lang, "empty.no_rows")),
    )


def reason_labels(reasons: pd.DataFrame, lang: str) -> pd.DataFrame:
    """`reasons` plus `label` ("events.occurred_at: date or time that cannot be read"), the
    bar labels of `plotting.reason_bars`."""
    column = reasons["column"] if "column" in reasons else pd.Series("", index=reasons.index)
    labels = [
        f"{tb}.{c}: {reason_words(r, '', lang)}" if _present(c) and str(c)
        else f"{tb}: {reason_words(r, '', lang)}"
        for tb, r, c in zip(reasons["table"], reasons["reason"], column, strict=True)
    ]  # fmt: skip
    return reasons.assign(label=labels)


def coverage_table(tables: dict, lang: str) -> pd.DataFrame:
    """First and last date of each table (tables.json "date_coverage")."""
    coverage = tables.get("date_coverage") or {}
    cov = pd.DataFrame(
        [(k, (v or [None, None])[0], (v or [None, None])[-1]) for k, v in sorted(coverage.items())],
        columns=[t(lang, "col.table"), t(lang, "col.from"), t(lang, "col.to")],
    )
    return with_spec(cov, empty_text=t(lang, "empty", what=t(lang, "empty.input")))


def files_table(files: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Each file read (`frames.files_read`): rows counted by its reader and its delimiter."""
    delimiter = [
        t(lang, "delimiter.detected", delimiter=repr(d)) if d else t(lang, "delimiter.comma")
        if str(f).lower().endswith((".csv", ".csv.gz", ".txt", ".tsv")) else "–"
        for f, d in zip(files["file"], files["delimiter"], strict=True)
    ]  # fmt: skip
    shown = pd.DataFrame(
        {
            t(lang, "col.table"): files["table"].astype(str).to_list(),
            t(lang, "col.file"): files["file"].astype(str).to_list(),
            t(lang, "col.read"): pd.to_numeric(files["rows"], errors="coerce").to_list(),
            t(lang, "col.delimiter"): delimiter,
        }
    )
    return with_spec(shown, formats={t(lang, "col.read"): "int"}, numeric=[t(lang, "col.read")])


def files_section(data: ReportData, lang: str) -> list[Block]:
    """Files read with their row counts and delimiters, files ignored in table folders and
    partition folders used or ignored (tables.json); nothing for an older ingest."""
    tables = data.tables
    files = frames.files_read(tables)
    if files.empty or files["rows"].isna().all():  # before rows were counted per file
        return []
    blocks: list[Block] = [m.heading(t(lang, "sec.files")), files_table(files, lang)]
    notes = [
        t(lang, "files.ignored", table=table, files=", ".join(str(p) for p in paths))
        for table, paths in sorted((tables.get("files_ignored") or {}).items())
        if paths
    ]
    for table, keys_ in sorted((tables.get("partition_columns") or {}).items()):
        for kind in ("used", "ignored"):
            if (keys_ or {}).get(kind):
                names = ", ".join(str(k) for k in keys_[kind])
                notes.append(t(lang, f"partition.{kind}", table=table, keys=names))
    if notes:
        blocks.append(m.bullet_list(notes))
    return blocks


def cascade_section(data: ReportData, lang: str) -> list[Block]:
    """How many rows of other tables were quarantined as `account_rejected` because how many
    account rows were, and why those were (tables.json `rejected_account_cascade`)."""
    cascade = frames.rejected_account_cascade(data.tables)
    if not cascade:
        return []
    blocks: list[Block] = [m.heading(t(lang, "sec.cascade"))]
    if not cascade.get("rows"):
        return blocks + [m.paragraph(t(lang, "cascade.none"), "note")]
    tables = ", ".join(
        f"{table} ({m.fmt_int(n)})" for table, n in sorted(cascade["rows_by_table"].items())
    )
    reasons = ", ".join(
        f"{reason_words(r, '', lang)} ({m.fmt_int(n)})"
        for r, n in sorted((cascade.get("account_rows_by_reason") or {}).items())
    )
    text = t(
        lang,
        "cascade.text",
        rows=m.fmt_int(cascade["rows"]),
        tables=tables,
        accounts=m.fmt_int(cascade.get("account_rows")),
        reasons=reasons or "–",
        unknown=reason_words("unknown_account", "", lang),
        n_unknown=m.fmt_int(cascade.get("unknown_rows", 0)),
    )
    return blocks + [m.paragraph(text)]


def read_by_rule_section(data: ReportData, lang: str) -> list[Block]:
    """Values ingest read by a documented rule (CONTRACTS §2): far-future end dates read as
    open-ended, rows quarantined for an implausible date, and wall times adjusted for
    daylight saving in ingest.source_timezone. Nothing for an older ingest."""
    tables = data.tables
    if not any(k in tables for k in ("open_ended_end_dates", "local_time_adjustments")):
        return []
    lines = [
        t(lang, "rule.open_ended", table=r["table"], column=r["column"], n=m.fmt_int(r["rows"]))
        for _, r in frames.open_ended_end_dates(tables).iterrows()
    ]
    for table, r in sorted((tables.get("rows") or {}).items()):
        n = (r.get("by_reason") or {}).get("implausible_date", 0)
        if n:
            lines.append(t(lang, "rule.implausible", table=table, n=m.fmt_int(n)))
    dst = frames.local_time_adjustments(tables)
    blocks: list[Block] = [m.heading(t(lang, "sec.read_by_rule"))]
    if not lines and dst.empty:
        return blocks + [m.paragraph(t(lang, "rule.none"), "note")]
    if lines:
        blocks.append(m.bullet_list(lines))
    if not dst.empty:
        tz = str(tables.get("source_timezone") or "UTC")
        shifted, ambiguous = t(lang, "col.dst_shifted"), t(lang, "col.dst_ambiguous")
        shown = pd.DataFrame(
            {
                t(lang, "col.table"): dst["table"].to_list(),
                t(lang, "col.column"): dst["column"].to_list(),
                shifted: dst["shifted"].to_list(),
                ambiguous: dst["ambiguous"].to_list(),
            }
        )
        blocks += [
            m.heading(t(lang, "sec.dst", tz=tz), 3),
            m.paragraph(t(lang, "dst.note"), "note"),
            with_spec(
                shown,
                formats={shifted: "int", ambiguous: "int"},
                numeric=[shifted, ambiguous],
            ),
        ]
    return blocks


def quarantine_sample_tables(
    quarantine: pd.DataFrame, per_reason: int = 3, lang: str = "en"
) -> list[tuple[str, pd.DataFrame]]:
    """(table, a few quarantined rows per reason) per table; the reason in words with its
    column, source file and row first, then the row's own columns (those empty in every
    sample left out) and the reason code."""
    from churnlab.reports.quarantine import reason_columns

    out = []
    if quarantine.empty or "_table" not in quarantine:
        return out
    for table, rows in quarantine.groupby("_table", sort=True):
        samples = frames.quarantine_samples(rows.drop(columns="_table"), per_reason)
        samples = samples.astype(object).where(samples.notna(), None)
        samples = samples.replace({"nan": None, "None": None, "<NA>": None})
        columns = reason_columns(samples.assign(_table=table))
        why = [reason_words(r, c, lang) for r, c in zip(samples["_reason"], columns, strict=True)]
        first = [c for c in ("_source_file", "_source_row") if c in samples]
        rest = [
            c
            for c in samples.columns
            if c not in first and c not in ("_reason", "_column") and samples[c].notna().any()
        ]
        shown = samples[first + rest].copy()
        shown.insert(0, t(lang, "col.reason"), why)
        shown["_reason"] = samples["_reason"]
        out.append((str(table), with_spec(shown.reset_index(drop=True))))
    return out


def data_quality_notes(data: ReportData, lang: str) -> list[Block]:
    """A snapshot's note, ingest's warnings and what it made of the contract histories."""
    blocks: list[Block] = []  # the page header states the as-of date and its source
    if data.tables.get("snapshot"):
        blocks.append(m.paragraph(t(lang, "quality.snapshot"), "note"))
    blocks += warnings_section(data, lang)
    return blocks + contract_history_section(data, lang)


def rows_section(data: ReportData, lang: str) -> list[Block]:
    """Rows read (counted by the readers), accepted and quarantined per table, the check that
    they add up, the share chart, and the files read."""
    counts = frames.quarantine_counts(data.tables)
    blocks: list[Block] = [m.heading(t(lang, "sec.per_table")), quarantine_table(counts, lang)]
    if "rows_read_by_file" in data.tables:
        blocks.append(note(lang, "rows.note"))
    blocks.append(plotting.quarantine_bars(counts, lang))
    return blocks + files_section(data, lang)


def reasons_section(data: ReportData, lang: str) -> list[Block]:
    """Why rows were quarantined: per table, reason in words and column (table and bars),
    then the rows that follow a rejected account row."""
    reasons = frames.quarantine_reasons(data.tables, data.quarantine)
    blocks: list[Block] = [m.heading(t(lang, "sec.reasons")), reasons_table(reasons, lang)]
    if not reasons.empty:
        blocks.append(plotting.reason_bars(reason_labels(reasons, lang), lang))
    return blocks + cascade_section(data, lang)


def data_quality(data: ReportData, lang: str, samples_per_reason: int = 3) -> list[Block]:
    """The whole data-quality page (the notebook shows the same sections cell by cell)."""
    blocks: list[Block] = data_quality_notes(data, lang)
    blocks += rows_section(data, lang)
    blocks += reasons_section(data, lang)
    blocks += read_by_rule_section(data, lang)
    return blocks + data_quality_details(data, lang, samples_per_reason)


def data_quality_details(data: ReportData, lang: str, samples_per_reason: int = 3) -> list[Block]:
    """Date coverage per table, missing optional tables and columns, accounts without events,
    and a few quarantined rows per reason."""
    blocks: list[Block] = [m.heading(t(lang, "sec.coverage")), coverage_table(data.tables, lang)]
    missing = data.tables.get("missing_optional") or []
    blocks.append(m.heading(t(lang, "sec.missing")))
    blocks.append(
        m.paragraph(
            t(lang, "missing_optional", tables=", ".join(missing))
            if missing
            else t(lang, "all_present")
        )
    )
    columns = data.tables.get("missing_optional_columns") or {}
    items = [f"{table}.{c}" for table, cols in sorted(columns.items()) for c in cols or []]
    if items:
        blocks.append(m.paragraph(t(lang, "sec.missing_columns", items=", ".join(items)), "note"))
    n_without = data.tables.get("accounts_without_events")
    if n_without is not None:
        blocks.append(
            m.paragraph(t(lang, "sec.accounts_without_events", n=m.fmt_int(n_without)), "note")
        )
    samples = quarantine_sample_tables(data.quarantine, samples_per_reason, lang)
    if samples:
        blocks.append(m.heading(t(lang, "sec.samples")))
        blocks.append(m.paragraph(t(lang, "sample.note", n=samples_per_reason), "note"))
        for table, rows in samples:
            blocks += [m.heading(table, 3), rows]
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
            t(lang, "col.number"): pd.to_numeric(counts["count"], errors="coerce").to_list(),
        }
    )
    number = t(lang, "col.number")
    blocks: list[Block] = [
        m.heading(t(lang, "sec.contract_history")),
        m.paragraph(t(lang, "history.intro"), "note"),
        with_spec(shown, formats={number: "int"}, numeric=[number]),
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
    ("rank_in_csm", "col.rank"),
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
    ("why", "col.why"),
    ("rule_in_words", "col.rule"),
    ("lamp_rule", "col.rule"),
    ("lamps", "col.lamps"),
    ("lamp_state", "col.state"),
    ("weeks_on", "col.weeks_on"),
    ("action", "col.action"),
    ("also_lit", "col.other_lamps"),
]
NUMERIC_ACTION_COLUMNS = {
    "rank", "rank_in_csm", "health_score", "score", "mrr_at_risk", "mrr", "weeks_on",
}  # fmt: skip


def _band_word(band: object, lang: str) -> tuple[str, str]:
    """(colour key, words) of a health band."""
    b = str(band).lower()
    return b, t(lang, f"band.{b}") if b in ("red", "amber", "green") else str(band)


ACTION_FORMATS = {
    "rank": "int", "rank_in_csm": "int", "health_score": "num2", "score": "num2",
    "mrr_at_risk": "num0", "mrr": "num0", "weeks_on": "int",
}  # fmt: skip


def action_table(
    df: pd.DataFrame, lang: str, money: str, empty_text: str, labels: dict | None = None
) -> pd.DataFrame:
    """The chosen action-list columns (CONTRACTS.md §4) with translated headers, numbers as
    numbers, lamp states in words, bands as coloured pills. `money` is the column shown for
    money ("mrr_at_risk" for risk lists, "mrr" for opportunities). `labels`
    (ReportData.labels): the health stage's wording ("why", "rule_in_words") and billing
    periods in the user's own labels."""
    skip = {"mrr"} if money == "mrr_at_risk" and "mrr_at_risk" in df else {"mrr_at_risk"}
    keep, seen_headers = [], set()
    for col, key in ACTION_COLUMNS:
        if col in df and col not in skip and t(lang, key) not in seen_headers:
            keep.append((col, t(lang, key)))
            seen_headers.add(t(lang, key))
    out = df[[c for c, _ in keep]].copy().reset_index(drop=True)
    band_keys = {}
    if "band" in out:
        words = [_band_word(b, lang) for b in out["band"]]
        band_keys = {text: key for key, text in words}
        out["band"] = [text for _, text in words]
    for col in ("why", "rule_in_words"):
        if col in out and labels:
            out[col] = [v if not _present(v) else own_words(v, labels) for v in out[col]]
    if "billing_period" in out and labels:
        out["billing_period"] = [
            v if not _present(v) else label_text(lang, "billing_period", v, labels)
            for v in out["billing_period"]
        ]
    if "lamp_state" in out:
        out["lamp_state"] = [
            t(lang, f"state.{v}") if f"state.{v}" in keys(lang) else v for v in out["lamp_state"]
        ]
    for col in ACTION_FORMATS:
        if col in out:
            out[col] = pd.to_numeric(out[col], errors="coerce")
    out.columns = [h for _, h in keep]
    header = dict(keep)
    return with_spec(
        out,
        formats={header[c]: f for c, f in ACTION_FORMATS.items() if c in header},
        numeric=[h for c, h in keep if c in NUMERIC_ACTION_COLUMNS],
        badges={header["band"]: ("band", band_keys)} if "band" in header else None,
        empty_text=empty_text,
    )


ACCOUNTS_PER_CSM = 25  # accounts shown per CSM on the action-list page (all are in the CSV)


def action_list(data: ReportData, lang: str) -> list[Block]:
    """This week's lamps: how many accounts have one lit (newly, chronic), the capped list per
    CSM (ranks within the CSM), the per-CSM load, the band mix and the opportunities. An
    action_list.csv without the work-list columns (older runs) gets the previous view, its
    ranks counted within each CSM."""
    blocks: list[Block] = [
        m.heading(t(lang, "sec.band_mix")),
        plotting.band_mix(frames.latest_bands(data.scores, data.panel), lang),
    ]
    blocks += work_list(data, lang)
    blocks.append(m.heading(t(lang, "sec.opportunities")))
    blocks.append(opportunity_table(data, lang))
    return blocks


def work_list(data: ReportData, lang: str) -> list[Block]:
    """The weekly work list per CSM (or, for an older action_list.csv, every lamp per CSM)."""
    if "listed" in data.actions:
        return worklist_section(data, lang)
    return _actions_by_csm_old(data, lang)


def opportunity_table(data: ReportData, lang: str) -> pd.DataFrame:
    """reports/opportunity_list.csv as the page shows it."""
    empty = t(lang, "empty", what=t(lang, "empty.no_rows"))
    return action_table(data.opportunities, lang, "mrr", empty, data.labels)


def _unassigned(lang: str) -> str:
    return t(lang, "csm.unassigned")


def worklist_summary(data: ReportData) -> dict:
    return frames.worklist_summary(data.health, data.actions)


def _also_lit(actions: pd.DataFrame, lang: str) -> pd.Series:
    """Per account: how many of its other lit lamps are long-lit or chronic ("2 long-lit/chronic")."""
    old = actions[actions["lamp_state"].isin(["long-lit", "chronic"])]
    counts = old.groupby("account_id").size()
    return counts.map(lambda n: t(lang, "other.lamps", n=int(n)))


def worklist_section(data: ReportData, lang: str) -> list[Block]:
    a = data.actions
    s = worklist_summary(data)
    blocks: list[Block] = [m.heading(t(lang, "sec.worklist_counts"))]
    if s:
        lines = [
            t(
                lang, "worklist.counts", lit=m.fmt_int(s.get("accounts_lit")),
                new=m.fmt_int(s.get("accounts_newly_lit")),
                chronic=m.fmt_int(s.get("accounts_chronic")),
                long=m.fmt_int(s.get("accounts_long_lit_only")),
                new_weeks=s.get("new_weeks", "–"), chronic_weeks=s.get("chronic_weeks", "–"),
            ),
            t(
                lang, "worklist.list", capacity=s.get("capacity", "–"),
                listed=m.fmt_int(s.get("accounts_listed")),
                over=m.fmt_int(s.get("accounts_over_capacity")),
            ),
        ]  # fmt: skip
        blocks.append(m.bullet_list(lines))
    blocks.append(m.paragraph(t(lang, "worklist.rule"), "note"))
    blocks.append(m.heading(t(lang, "sec.actions_by_csm")))
    listed = a[a["listed"] == "yes"].copy()
    if listed.empty:
        blocks.append(m.paragraph(t(lang, "empty", what=t(lang, "empty.no_actions")), "empty"))
    else:
        listed["also_lit"] = listed["account_id"].map(_also_lit(a, lang)).fillna("")
        listed["_rank"] = pd.to_numeric(listed["rank_in_csm"], errors="coerce")
        new = a[a["lamp_state"] == "new"]
        unassigned = _unassigned(lang)
        new_group = new["csm_id"].fillna(unassigned).astype(str)
        n_new = new.groupby(new_group)["account_id"].nunique()
        for csm, df in frames.actions_by_csm(listed, unassigned):
            df = df.sort_values(["_rank", "account_id"], kind="stable")
            key = "csm.unassigned_heading" if csm == unassigned else "csm.heading_list"
            heading = t(lang, key, csm=csm, listed=len(df), new=int(n_new.get(csm, len(df))))
            blocks.append(m.heading(heading, 3))
            # every listed lamp is newly lit: its state and the machine rule are not repeated
            shown = df.drop(
                columns=["rank", "lamp_rule", "weeks_on", "lamp_state"], errors="ignore"
            )
            blocks.append(action_table(shown, lang, "mrr_at_risk", "", data.labels))
    per_csm = s.get("per_csm") or []
    if per_csm:
        blocks += [m.heading(t(lang, "sec.per_csm"), 3), per_csm_table(per_csm, lang)]
    return blocks


def per_csm_table(per_csm: list[dict], lang: str) -> pd.DataFrame:
    """The weekly list's load per CSM (health_score.json worklist "per_csm")."""
    rows = pd.DataFrame(per_csm)
    cols = {"accounts_lit": "col.accounts_lit", "accounts_newly_lit": "col.newly_lit",
            "listed": "col.listed", "over_capacity": "col.over_capacity"}  # fmt: skip
    shown = pd.DataFrame(
        {
            t(lang, "col.csm"): [
                _unassigned(lang) if c == "unassigned" else c for c in rows["csm_id"]
            ]
        }
        | {t(lang, k): pd.to_numeric(rows[c], errors="coerce") for c, k in cols.items()}
    )
    numeric = [t(lang, k) for k in cols.values()]
    return with_spec(shown, formats=dict.fromkeys(numeric, "int"), numeric=numeric)


def _actions_by_csm_old(data: ReportData, lang: str) -> list[Block]:
    """The list before the weekly work list: every lamp on, per CSM, the first accounts."""
    blocks: list[Block] = [m.heading(t(lang, "sec.actions_by_csm"))]
    unassigned = _unassigned(lang)
    groups = frames.actions_by_csm(data.actions, unassigned)
    if not groups:
        blocks.append(m.paragraph(t(lang, "empty", what=t(lang, "empty.no_actions")), "empty"))
    for csm, df in groups:
        key = "csm.unassigned_heading_old" if csm == unassigned else "csm.heading"
        blocks.append(m.heading(t(lang, key, csm=csm, n=_n_accounts(df)), 3))
        # A CSM works down the list from the top; past the first accounts a page is not read
        # (the default company had 2,600 accounts with a lamp on: a 2.7 MB page).
        first = df["account_id"].drop_duplicates().head(ACCOUNTS_PER_CSM)
        if _n_accounts(df) > ACCOUNTS_PER_CSM:
            note = t(lang, "csm.more", n=ACCOUNTS_PER_CSM, total=_n_accounts(df))
            blocks.append(m.paragraph(note, "note"))
        mine = df[df["account_id"].isin(first)].copy()
        # ranks within this CSM (the CSV's rank is the account's rank across all CSMs)
        order = {acc: i + 1 for i, acc in enumerate(mine["account_id"].drop_duplicates())}
        mine["rank"] = mine["account_id"].map(order)
        blocks.append(action_table(mine, lang, "mrr_at_risk", "", data.labels))
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
        if "listed" in mine:  # the weekly list: the rows a CSM acts on this week
            mine = mine[mine["listed"] == "yes"]
        # the CSV's rank runs across all accounts: not shown on a group's page
        mine = mine.drop(columns=["rank", "rank_in_csm"], errors="ignore")
        blocks.append(m.heading(t(lang, key)))
        if len(mine) > n:
            blocks.append(m.paragraph(t(lang, "top.note", n=n, total=len(mine)), "note"))
        blocks.append(
            action_table(
                mine.head(n),
                lang,
                money,
                t(lang, "empty", what=t(lang, "empty.no_rows")),
                data.labels,
            )  # fmt: skip
        )
    return blocks


def _n_accounts(df: pd.DataFrame) -> int:
    return int(df["account_id"].nunique()) if "account_id" in df else len(df)


# --- segment / customer-goal report --------------------------------------------------------


@dataclass
class Group:
    """The accounts of one segment / customer goal (`dimension == value`, the user's label)
    and the frames a group page shows: panel rows, account and spell lifetimes (this group
    and all accounts), health scores, monthly churn, band shares by week."""

    dimension: str
    value: str
    ids: set[str]
    panel: pd.DataFrame
    lifetimes: pd.DataFrame
    all_lifetimes: pd.DataFrame
    spells: pd.DataFrame
    all_spells: pd.DataFrame
    scores: pd.DataFrame
    monthly: pd.DataFrame
    shares: pd.DataFrame


def group_frames(data: ReportData, dimension: str, value: str) -> Group:
    panel = data.panel
    mine = panel[panel[dimension].astype(str) == value] if dimension in panel else panel.iloc[0:0]
    ids = set(mine["account_id"].astype(str)) if not mine.empty else set()
    all_life = frames.account_lifetimes(panel)
    all_spells = frames.spell_lifetimes(panel)
    scores = (
        data.scores[data.scores["account_id"].astype(str).isin(ids)]
        if not data.scores.empty
        else data.scores
    )
    return Group(
        dimension=dimension,
        value=value,
        ids=ids,
        panel=mine,
        lifetimes=all_life[all_life["account_id"].astype(str).isin(ids)],
        all_lifetimes=all_life,
        spells=all_spells[all_spells["account_id"].astype(str).isin(ids)],
        all_spells=all_spells,
        scores=scores,
        monthly=frames.observed_months(frames.monthly_churn(mine), data.kpis),
        shares=frames.band_share_by_week(scores, panel),
    )


def group_headline(data: ReportData, group: Group, lang: str) -> list[Block]:
    """What the page covers, the group's headline cards and its takeaways against all."""
    life = group.lifetimes
    bands = frames.latest_bands(group.scores, data.panel)  # active accounts only
    cards = [
        (t(lang, "kpi.n_accounts"), m.fmt_int(len(life))),
        (t(lang, "kpi.n_churned"), m.fmt_int(life["churned"].sum() if len(life) else 0)),
        (t(lang, "kpi.churn_rate"), m.fmt_pct(life["churned"].mean() if len(life) else None)),
        (t(lang, "kpi.red_accounts"), m.fmt_int(bands.get("red")) if len(bands) else "–"),
    ]
    dimension = t(lang, f"dimension.{group.dimension}")
    return [
        m.paragraph(t(lang, "segment.intro", dimension=dimension, value=group.value), "note"),
        m.heading(t(lang, "sec.headline")),
        m.kpi_cards(cards),
        m.heading(t(lang, "sec.takeaways")),
        m.bullet_list(segment_takeaways(life, group.all_lifetimes, lang), "takeaways"),
    ]


def group_retention(data: ReportData, group: Group, lang: str) -> Figure:
    """The group's retention against all accounts: the kpis stage's monthly KM when it has
    the group, else weekly KM on the panel (each spell a subject)."""
    label_all = t(lang, "plot.all_accounts")
    group_label = t(lang, f"dimension.{group.dimension}")
    km = frames.kpi_km(data.kpi_tables, group.dimension, [group.value])
    if not km.empty:
        overall = frames.kpi_km(data.kpi_tables, "overall").assign(group=label_all)
        both = pd.concat([km, overall], ignore_index=True)
        return plotting.retention_curves(both, lang, group_label, "months")
    curves = pd.concat(
        [
            frames.retention_by_group(group.spells, None, group.value),
            frames.retention_by_group(group.all_spells, None, label_all),
        ],
        ignore_index=True,
    )
    return plotting.retention_curves(curves, lang, group_label)


def cohort_report(data: ReportData, lang: str, dimension: str, value: str) -> list[Block]:
    """The executive view restricted to accounts with `dimension == value` (the user's label)."""
    group = group_frames(data, dimension, value)
    blocks: list[Block] = group_headline(data, group, lang)
    blocks += [
        m.heading(t(lang, "sec.churn_trend")),
        plotting.churn_trend(group.monthly, lang),
        m.heading(t(lang, "sec.retention")),
        group_retention(data, group, lang),
        m.heading(t(lang, "sec.health_trend")),
        plotting.band_shares(group.shares, lang),
    ]
    return blocks + top_actions(data, lang, group.ids)


def _with_ci(block: object, digits: int = 3) -> str:
    """'0.715 (0.657–0.768)' from {estimate, ci_low, ci_high}, or a plain number."""
    if isinstance(block, dict):
        est = block.get("estimate", block.get("value"))
        if block.get("ci_low") is not None:
            lo, hi = m.fmt_num(block.get("ci_low"), digits), m.fmt_num(block.get("ci_high"), digits)
            return f"{m.fmt_num(est, digits)} ({lo}–{hi})"
        return m.fmt_num(est, digits)
    return m.fmt_num(block, digits)


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
    if len(notes) == 2 and notes[1] in notes[0]:  # the message already states the problem
        notes = notes[:1]
    if not rows:
        if not notes:
            return []
        return [m.heading(t(lang, "sec.validation")), *[m.paragraph(n, "note") for n in notes]]
    df = with_spec(
        pd.DataFrame(
            rows, columns=[t(lang, "col.metric"), t(lang, "col.model"), t(lang, "col.baseline")]
        ),
        numeric=[t(lang, "col.model"), t(lang, "col.baseline")],
    )
    blocks: list[Block] = [m.heading(t(lang, "sec.validation"))]
    blocks += [m.paragraph(n, "note") for n in notes]
    blocks += validation_judgement_section(data, lang)
    if validation.get("split_week"):
        note = t(
            lang,
            "validation.note",
            split=str(validation["split_week"])[:10],
            n=m.fmt_int(validation.get("n_accounts")),
            events=m.fmt_int(validation.get("n_events")),
        )
        blocks.append(m.paragraph(note, "note"))
    blocks.append(df)
    blocks += calibration_section(data, lang)
    return blocks


def validation_judgement_section(data: ReportData, lang: str) -> list[Block]:
    """Why the validation cannot judge the score, when its AUC interval holds 0.5
    (`frames.validation_judgement`): the validation window against the longest billing term
    (accounts on it churn only at renewal), the weeks whose horizon is observed and the churn
    events it holds; a window shorter than a billing term is noted even when the AUC is
    clear of chance. [] when nothing needs saying. The term reads in the user's label."""
    j = frames.validation_judgement(data.health)
    if not j:
        return []
    term = label_text(lang, "billing_period", j["term"], data.labels) if j["term"] else ""
    reasons = []
    if j["short_window"]:
        reasons.append(
            t(lang, "judge.short_window", window=m.fmt_int(j["window_weeks"]), split=j["split"],
              as_of=j["as_of"], term=term, term_weeks=m.fmt_int(j["term_weeks"]))
        )  # fmt: skip
    if j["complete_weeks"] is not None and j["horizon_weeks"]:
        reasons.append(
            t(lang, "judge.horizon", horizon=m.fmt_int(j["horizon_weeks"]),
              complete=m.fmt_int(j["complete_weeks"]), window=m.fmt_int(j["window_weeks"]))
        )  # fmt: skip
    if j["n_events"] is not None:
        key = "judge.few_events" if j["few_events"] else "judge.events"
        reasons.append(
            t(lang, key, events=m.fmt_int(j["n_events"]), need=frames.MIN_VALIDATION_EVENTS)
        )
    if j["chance"]:
        head = t(lang, "judge.chance", auc=m.fmt_num(j["auc"], 2),
                 lo=m.fmt_num(j["auc_low"], 2), hi=m.fmt_num(j["auc_high"], 2))  # fmt: skip
        after = (
            t(lang, "judge.until_term", term=term) if j["short_window"] else t(lang, "judge.until")
        )
        return [m.paragraph(head, "note") + m.bullet_list(reasons) + m.paragraph(after, "note")]
    if j["short_window"]:
        return [m.paragraph(reasons[0], "note")]
    return []


def _interval(lo: object, hi: object) -> str:
    return f"{m.fmt_pct(lo)}–{m.fmt_pct(hi)}" if _present(lo) and _present(hi) else "–"


def band_table(bands: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Predicted vs observed churn within the horizon per band, with the observed value's 95%
    account-bootstrap interval and whether the band's promise lies inside it (when the
    health stage wrote them)."""
    words = [_band_word(b, lang) for b in bands["band"]]
    band = t(lang, "col.band")
    cols = {
        band: [text for _, text in words],
        t(lang, "col.n_accounts"): pd.to_numeric(
            bands.get("accounts", pd.Series(np.nan, index=bands.index)), errors="coerce"
        ).to_list(),
        t(lang, "col.predicted"): pd.to_numeric(bands["mean_predicted"], errors="coerce").to_list(),
        t(lang, "col.observed"): pd.to_numeric(bands["observed"], errors="coerce").to_list(),
    }
    if {"ci_low", "ci_high"} <= set(bands.columns):
        cols[t(lang, "col.ci_observed")] = [
            _interval(lo, hi) for lo, hi in zip(bands["ci_low"], bands["ci_high"], strict=True)
        ]
    if "within_interval" in bands:
        cols[t(lang, "col.within")] = [
            "–"
            if not r.get("rows")
            else t(lang, "within.yes" if r["within_interval"] else "within.no")
            for _, r in bands.iterrows()
        ]
    numeric = [t(lang, k) for k in ("col.n_accounts", "col.predicted", "col.observed")]
    return with_spec(
        pd.DataFrame(cols),
        formats={numeric[0]: "int", numeric[1]: "pct", numeric[2]: "pct"},
        numeric=numeric,
        badges={band: ("band", {text: key for key, text in words})},
    )


def _recal_text(block: dict, lang: str, key: str, **extra: object) -> str:
    """One sentence on a recalibration block of health_score.json `calibration`. A block with
    a `heldout` part (the final model: slope measured out of sample, intercept in sample) is
    told with `<key>_heldout`; older files and the in-sample fallback with `key`."""
    if not block.get("applied"):
        return t(lang, "calibration.not_applied", problem=block.get("problem") or "–")
    fit = block.get("fit_weeks") or [None, None]
    sl = block.get("slice_weeks") or [None, None]
    heldout = block.get("heldout")
    if isinstance(heldout, dict) and f"{key}_heldout" in keys(lang):
        h_fit = heldout.get("fit_weeks") or [None, None]
        h_sl = heldout.get("slice_weeks") or [None, None]
        key = f"{key}_heldout"
        extra = {**extra, "h_fit_from": h_fit[0], "h_fit_to": h_fit[1],
                 "h_slice_from": h_sl[0], "h_slice_to": h_sl[1]}  # fmt: skip
    return t(
        lang, key, fit_from=fit[0], fit_to=fit[1], slice_from=sl[0], slice_to=sl[1],
        a=m.fmt_num(block.get("intercept"), 2), b=m.fmt_num(block.get("slope"), 2), **extra,
    )  # fmt: skip


def _band_promise(bands: pd.DataFrame, lang: str) -> str | None:
    if "within_interval" not in bands or bands.empty:
        return None
    used = bands[bands.get("rows", pd.Series(1, index=bands.index)).fillna(0) > 0]
    bad = [
        t(lang, f"band.{b}")
        for b, ok in zip(used["band"], used["within_interval"], strict=True)
        if not ok
    ]
    return (
        t(lang, "calibration.bands_bad", bands=", ".join(bad))
        if bad
        else t(lang, "calibration.bands_ok")
    )


def calibration_section(data: ReportData, lang: str) -> list[Block]:
    """Band calibration out of time (table with intervals), how the probabilities were
    recalibrated, the final model's procedure checked at the split, and the calibration
    figure (bands, in-the-large, slope). Older health_score.json files: the plain table."""
    health = data.health or {}
    bands = pd.DataFrame((health.get("bands") or {}).get("validation") or [])
    if bands.empty or not {"band", "mean_predicted", "observed"} <= set(bands.columns):
        return []
    blocks: list[Block] = [m.heading(t(lang, "sec.calibration"), 3), band_table(bands, lang)]
    notes = [_band_promise(bands, lang)]
    cal = health.get("calibration") or {}
    if cal:
        method = str(cal.get("method") or "").split(":")[0]
        notes.append(
            _recal_text(
                cal.get("validation_model") or {}, lang, "calibration.method", method=method
            )
        )
        notes.append(
            _recal_text(
                cal.get("final_model") or {},
                lang,
                "calibration.final",
                weeks=cal.get("calibration_weeks"),
            )
        )
    validation = health.get("validation") or {}
    check = validation.get("final_procedure_check") or {}
    if check.get("bands"):
        result = _band_promise(pd.DataFrame(check["bands"]), lang) or ""
        result = result[:1].lower() + result[1:]  # it continues the sentence
        notes.append(t(lang, "calibration.check", result=result))
    metrics = validation.get("calibration_metrics") or {}
    if metrics.get("score"):
        after, before = metrics["score"], metrics.get("score_before_recalibration") or {}
        notes.append(
            t(
                lang, "calibration.metrics",
                citl=_with_ci(after.get("calibration_in_the_large"), 2),
                slope=_with_ci(after.get("calibration_slope"), 2),
                citl0=_with_ci(before.get("calibration_in_the_large"), 2),
                slope0=_with_ci(before.get("calibration_slope"), 2),
            )
        )  # fmt: skip
    blocks.append(m.bullet_list([n for n in notes if n]))
    if "ci_low" in bands:
        blocks.append(plotting.calibration_figure(bands, metrics, lang))
    return blocks
