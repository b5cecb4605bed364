"""reports/index.html: a link to every report with a one-line summary generated from the data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from churnlab.reports import frames
from churnlab.reports import markup as m
from churnlab.reports.catalog import Report, Skipped
from churnlab.reports.fonts import embed_cjk_font
from churnlab.reports.i18n import t
from churnlab.reports.loaders import ReportData, as_of
from churnlab.reports.takeaways import headline_labels, verdict_counts_text

CSS_PATH = Path(__file__).parent / "templates" / "churnlab_offline" / "report.css"


def csm_count_text(lang: str, n: int) -> str:
    """'no CSM assigned' / '1 CSM' / '3 CSMs': accounts without a CSM are not a CSM."""
    if n == 0:
        return t(lang, "csms.none")
    return t(lang, "csms.one") if n == 1 else t(lang, "csms.many", n=n)


def _n_accounts(df: pd.DataFrame) -> int:
    """Distinct accounts (the lists have one row per account x lamp)."""
    return int(df["account_id"].nunique()) if "account_id" in df else len(df)


def summary_line(report: Report, data: ReportData, lang: str) -> str:
    """One sentence per report, from the same inputs the report shows."""
    if report.kind == "executive_summary":
        monthly = frames.kpi_monthly(data.kpis)
        hyps = frames.hypotheses_table(data.hypotheses)
        head = frames.kpi_headline(data.kpis, monthly)  # the same figures as the page's cards
        labels = headline_labels(head, lang)
        return t(
            lang,
            "summary.executive_summary",
            churn=m.fmt_pct(head["logo_churn"], 2),
            churn_basis=labels["logo_basis"],
            nrr_label=labels["nrr"],
            nrr=m.fmt_pct(head["nrr"]),
            n_leading=int((hyps["verdict_key"] == "leads_churn").sum()) if not hyps.empty else 0,
            n_hyp=len(hyps),
        )
    if report.kind == "hypotheses":
        hyps = frames.hypotheses_table(data.hypotheses)
        return t(
            lang, "summary.hypotheses", n_hyp=len(hyps), counts=verdict_counts_text(hyps, lang)
        )
    if report.kind == "data_quality":
        counts = frames.quarantine_counts(data.tables)
        return t(
            lang,
            "summary.data_quality",
            accepted=m.fmt_int(counts["accepted"].sum()),
            quarantined=m.fmt_int(counts["quarantined"].sum()),
            n_tables=len(counts),
        )
    if report.kind == "action_list":
        unassigned = t(lang, "csm.unassigned")
        groups = frames.actions_by_csm(data.actions, unassigned)
        n_csms = sum(1 for name, _ in groups if name != unassigned)
        csms = csm_count_text(lang, n_csms)
        n_opps = m.fmt_int(_n_accounts(data.opportunities))
        if "listed" in data.actions:
            s = frames.worklist_summary(data.health, data.actions)
            return t(
                lang,
                "summary.action_list_v2" if n_csms else "summary.action_list_no_csm",
                listed=m.fmt_int(s.get("accounts_listed")),
                new=m.fmt_int(s.get("accounts_newly_lit")),
                lit=m.fmt_int(s.get("accounts_lit")),
                csms=csms,
                n_opps=n_opps,
            )
        return t(
            lang,
            "summary.action_list",
            n_actions=m.fmt_int(_n_accounts(data.actions)),
            csms=csms,
            n_opps=n_opps,
        )
    # segment / customer goal
    life = frames.account_lifetimes(data.panel)
    if report.kind in life:
        life = life[life[report.kind].astype(str) == report.value]
    else:
        life = life.iloc[0:0]
    ids = set(life["account_id"].astype(str))
    scores = (
        data.scores[data.scores["account_id"].astype(str).isin(ids)]
        if not data.scores.empty
        else data.scores
    )
    bands = frames.latest_bands(scores, data.panel)  # accounts still customers
    return t(
        lang,
        "summary.segment",
        n_accounts=m.fmt_int(len(life)),
        n_churned=m.fmt_int(life["churned"].sum() if len(life) else 0),
        red=m.fmt_int(bands.get("red", 0) if len(bands) else 0),
    )


def index_html(
    reports: list[Report],
    data: ReportData,
    lang: str,
    html_subdir: str = "html",
    skipped: list[Skipped] = (),
) -> str:
    """The whole index page: same stylesheet as the reports, no script, relative links.

    skipped: configured group values that do not occur in the data (listed, no link)."""
    items = [
        (f"{html_subdir}/{r.html_name}", r.title(lang), summary_line(r, data, lang))
        for r in reports
    ]
    note = ""
    if skipped:
        listed = ", ".join(f"{t(lang, f'dimension.{s.kind}')} “{s.value}”" for s in skipped)
        note = m.paragraph(t(lang, "index.skipped", items=listed), "note") + "\n"
    title = t(lang, "title.index")
    css = CSS_PATH.read_text(encoding="utf-8")
    return embed_cjk_font(
        "<!DOCTYPE html>\n"
        f'<html lang="{m.esc(lang)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f"<title>{m.esc(title)}</title>\n<style>\n{css}</style>\n</head>\n<body>\n"
        f'<main class="report">\n<h1>{m.esc(title)}</h1>\n'
        f"{m.paragraph(t(lang, 'index.intro', as_of=as_of(data)), 'subtitle')}\n"
        f"{m.link_list(items)}\n{note}"
        f'<footer class="cl-footer">{m.esc(t(lang, "index.footer"))}</footer>\n'
        "</main>\n</body>\n</html>\n"
    )
