"""Issue 14 on the pages: the weekly list per CSM, lamps as alerts, opportunities' own words,
calibrated bands. Hand-made inputs; the expected text is worked out in the comments."""

import copy
import re

import pandas as pd
import pytest
import reports_fixture_project as fx
from matplotlib.figure import Figure

from churnlab.reports import frames, index, pages, plotting, style, takeaways
from churnlab.reports.loaders import ReportData


def _verdicts(hyps, data, lang) -> str:
    """The verdict table with its note, as the page shows it."""
    return _html(pages.verdict_section(pages.verdict_table(hyps, data, lang), data, lang))


def _html(blocks) -> str:
    """The page's text and tables (figures left out: see _figures), Styler markup reduced
    to plain cells (`<td class="num">1</td>`) so assertions read like the page."""
    html = "".join(
        style.to_html(b) if isinstance(b, pd.DataFrame) else b
        for b in blocks
        if isinstance(b, str | pd.DataFrame)
    )
    html = re.sub(r'<td class="data [^"]*?\bnum"\s*>', '<td class="num">', html)
    html = re.sub(r'<(t[dh]) class="(?:data|col_heading) [^"]*"\s*>', r"<\1>", html)
    return re.sub(r">\s+<", "><", html)


def _figures(blocks) -> int:
    return sum(isinstance(b, Figure) for b in blocks)


def _row(
    account, csm, state, rank, listed, mrr_at_risk, hyp="H1", why="License activation rate 30%"
):
    return {
        "rank": 0, "week_start": "2025-03-10", "account_id": account,
        "account_name": f"Name {account}", "csm_id": csm, "segment": "smb", "band": "red",
        "health_score": 70.0, "churn_probability": 0.3, "mrr": 100.0,
        "mrr_at_risk": mrr_at_risk, "renewal_date": "2025-04-06", "hypothesis_id": hyp,
        "indicator": "license_activation_rate", "indicator_value": 0.3,
        "lamp_rule": "license_activation_rate < 0.4", "weeks_on": 1,
        "action": f"Act on {account}", "verdict": "leads churn", "lamp_state": state,
        "run_start": "2025-03-10", "rank_in_csm": rank, "listed": listed, "why": why,
        "rule_in_words": "lights below 40%",
    }  # fmt: skip


def _actions():
    # csm_1: n1 (rank 1) and n2 (rank 2) listed, n3 newly lit but over capacity (rank 3);
    # c1 only chronic; csm_2: m1 listed and also has a chronic lamp; u1 has no CSM
    rows = [
        _row("n1", "csm_1", "new", 1, "yes", 90.0),
        _row("n2", "csm_1", "new", 2, "yes", 50.0),
        _row("n3", "csm_1", "new", 3, "no", 40.0),
        _row("c1", "csm_1", "chronic", None, "no", 80.0),
        _row("m1", "csm_2", "new", 1, "yes", 70.0),
        _row("m1", "csm_2", "chronic", 1, "no", 70.0, hyp="H2"),
        _row("u1", None, "new", 1, "yes", 10.0),
        _row("l1", "csm_2", "long-lit", None, "no", 5.0),
    ]
    return pd.DataFrame(rows)


def test_action_page_counts_capped_tables_and_ranks_within_csm():
    data = ReportData(actions=_actions())
    html = _html(pages.action_list(data, "en"))
    # counts from the CSV: 7 accounts lit (n1 n2 n3 c1 m1 u1 l1), newly lit n1 n2 n3 m1 u1 = 5,
    # chronic c1 m1 = 2, long-lit only l1 = 1; listed 4, so 1 newly lit did not fit
    assert "7 accounts have a lamp lit: 5 newly lit" in html
    assert "2 with a lamp lit for more than" in html and "1 with long-lit lamps only" in html
    assert ": 4 accounts this week; 1 more newly lit accounts did not fit" in html
    assert "CSM csm_1 — 2 of 3 newly lit accounts" in html
    assert "CSM csm_2 — 1 of 1 newly lit accounts" in html
    assert "Accounts without a CSM — 1 of 1 newly lit accounts" in html
    assert "CSM unassigned" not in html
    # n3 (over capacity) and c1 (chronic) are not in the tables; m1 says what else is lit
    assert "Name n3" not in html and "Name c1" not in html
    assert "1 long-lit/chronic" in html
    assert "License activation rate 30%" in html and "license_activation_rate &lt; 0.4" not in html
    # ranks in csm_1's table are 1 and 2 (within the CSM)
    table = html.split("CSM csm_1")[1].split("CSM csm_2")[0]
    cells = [c.split("<")[0] for c in table.split('<td class="num">')[1:]]
    assert cells[0] == "1" and "2" in cells


def test_counts_prefer_the_health_stage_summary():
    summary = {
        "accounts_lit": 2629, "accounts_newly_lit": 949, "accounts_chronic": 1643,
        "accounts_long_lit_only": 477, "accounts_listed": 228, "accounts_over_capacity": 721,
        "capacity": 10, "new_weeks": 2, "chronic_weeks": 12,
        "per_csm": [
            {"csm_id": "csm_1", "accounts_lit": 3, "accounts_newly_lit": 3, "listed": 2,
             "over_capacity": 1},
            {"csm_id": "unassigned", "accounts_lit": 1, "accounts_newly_lit": 1, "listed": 1,
             "over_capacity": 0},
        ],
    }  # fmt: skip
    data = ReportData(actions=_actions(), health={"latest_week": {"worklist": summary}})
    html = _html(pages.action_list(data, "en"))
    assert "2,629 accounts have a lamp lit: 949 newly lit (in the last 2 weeks), 1,643 with" in html
    assert "at most 10 newly lit accounts per CSM: 228 accounts this week; 721 more" in html
    per_csm = html.split("Per CSM")[1]
    assert "<td>unassigned</td>" in per_csm


@pytest.mark.parametrize(
    ("csms", "expected"),
    [
        ([None, None], "for no CSM assigned"),
        (["c", None], "for 1 CSM;"),
        (["c", "d"], "for 2 CSMs"),
    ],
)
def test_index_never_counts_accounts_without_a_csm_as_a_csm(csms, expected):
    from churnlab.reports.catalog import Report

    old = pd.DataFrame({"account_id": ["a", "b"], "csm_id": csms})
    line = index.summary_line(Report("action_list"), ReportData(actions=old), "en")
    assert expected in line


def test_index_line_for_the_weekly_list():
    from churnlab.reports.catalog import Report

    line = index.summary_line(Report("action_list"), ReportData(actions=_actions()), "en")
    assert line.startswith(
        "4 accounts on this week's list (5 newly lit of 7 with a lamp lit), for 2 CSMs"
    )


def test_old_action_csv_gets_ranks_within_each_csm(tmp_path):
    # the CSV's rank runs across CSMs (a6 is 2nd overall) but is 1st in csm_2's table
    root = fx.write_project(tmp_path)
    data = ReportData(actions=pd.read_csv(root / "reports/action_list.csv", dtype=str))
    html = _html(pages.action_list(data, "en"))
    part = html.split("CSM csm_2")[1]
    assert part.split('<td class="num">')[1].startswith("1<")


def _hyp(**kw):
    base = copy.deepcopy(fx.HYPOTHESES[0])
    base.update(kw)
    return base


def test_opportunity_verdict_words_colour_and_lower_takeaway():
    opp = _hyp(id="G", statement="Goal achieved keeps customers", kind="opportunity",
               hazard_ratio=0.7, ci_low=0.55, ci_high=0.89, best_lag_weeks=4)  # fmt: skip
    hyps = frames.hypotheses_table({"hypotheses": [opp]})
    assert hyps.loc[0, "display_key"] == "leads_retention"
    html = _verdicts(hyps, ReportData(), "en")
    assert "verdict-leads_retention" in html and ">leads retention<" in html
    assert "leads churn" not in html
    # HR 0.7: churn risk is 30% lower, never "0.7× higher"
    line = takeaways.hypothesis_sentence(hyps.iloc[0], "en")
    assert (
        "churn risk is 30% lower while the lamp is on (hazard ratio 0.70, 95% CI 0.55–0.89)" in line
    )
    assert "higher" not in line and "×" not in line
    assert "継続に先行" in _verdicts(hyps, ReportData(), "ja")
    assert takeaways.verdict_counts_text(hyps, "en") == "1 leads retention"
    assert pages.verdict_warning(hyps) == [None]  # an opportunity warns of nothing
    # a stage label churnlab has no word for is shown as written
    labelled = frames.hypotheses_table(
        {"hypotheses": [dict(opp, verdict_label="expansion signal")]}
    )
    assert ">expansion signal<" in _verdicts(labelled, ReportData(), "en")


def test_warning_column_only_beside_a_leading_verdict():
    late = _hyp(id="L", verdict="too late to act on", median_warning_weeks=4.0,
                warning_weeks_basis="the lead profile is informative at lag 0 only")  # fmt: skip
    lead = _hyp(id="K", median_warning_weeks=9.0, alerts={"median_warning_weeks": 6.0})
    hyps = frames.hypotheses_table({"hypotheses": [late, lead]})
    # too late: "–" (no warning claimed); leads: the alert's median warning (6), not lamp_perf's
    assert pages.verdict_warning(hyps) == [None, 6.0]
    html = _verdicts(hyps, ReportData(), "en")
    assert ">4.0<" not in html and ">6.0<" in html


ALERTS = {
    "share_lit_median": 0.08, "share_lit_latest": 0.1, "lightings_per_100_account_weeks": 1.25,
    "lightings_per_csm_week": 2.5, "precision": 0.16, "base_rate": 0.053, "lift": 3.02,
    "churners_warned_share": 0.45, "median_warning_weeks": 7.0, "median_weeks_lit": 3.0,
    "p75_weeks_lit": 6.0,
}  # fmt: skip


def test_alert_lines_in_words_with_units():
    h = _hyp(alerts=ALERTS, warning_weeks_basis="lamp lightings within 12 weeks before churn")
    row = frames.hypotheses_table({"hypotheses": [h]}).iloc[0]
    assert pages.alert_lines(row, "en") == [
        "Lit for 8% of active accounts in a typical week (10% in the latest week).",
        "2.5 new lightings per CSM per week (1.2 per 100 account-weeks).",
        "After an alert, 16.0% of accounts churn within the horizon, against 5.3% for any "
        "account-week (alert lift 3.0×).",
        "Its alerts warned 45% of the churners, a median of 7 weeks before they churned (alert "
        "warning time).",
        "Once lit it stays lit a median of 3 weeks (a quarter of lightings for 6 weeks or more).",
    ]
    one = frames.hypotheses_table(
        {"hypotheses": [_hyp(alerts=dict(ALERTS, median_weeks_lit=1.0, p75_weeks_lit=1.0))]}
    ).iloc[0]
    assert pages.alert_lines(one, "en")[-1] == (
        "Once lit it stays lit a median of 1 week (a quarter of lightings for 1 week or more)."
    )
    old = frames.hypotheses_table({"hypotheses": [_hyp()]}).iloc[0]
    assert pages.alert_lines(old, "en") == []  # a file from before the alerts: nothing
    untested = frames.hypotheses_table({"hypotheses": [_hyp(alerts=None)]}).iloc[0]
    assert pages.alert_lines(untested, "en") == []


def test_hypothesis_section_shows_alerts_basis_and_tradeoff_curve():
    h = _hyp(alerts=ALERTS, warning_weeks_basis="first lighting in the 12 weeks before churn")
    curve = pd.DataFrame(
        {
            "id": "H1", "threshold": [0.2, 0.3, 0.4], "precision": [0.3, 0.2, 0.1],
            "recall": [0.2, 0.4, 0.6], "lift": [3.0, 2.0, 1.2], "share_lit": [0.05, 0.1, 0.3],
            "lightings": [10, 30, 90], "churners_warned_share": [0.2, 0.4, 0.6],
            "chosen": [False, True, False],
        }
    )  # fmt: skip
    data = ReportData(hypotheses={"hypotheses": [h]}, hypothesis_tables={"threshold_curves": curve})
    blocks = pages.hypothesis_sections(data, "en")
    html = _html(blocks)
    assert "The lamp as an alert" in html
    assert "Warning time of the verdict: first lighting in the 12 weeks before churn" in html
    assert "Alert trade-off" in html
    n_png = _figures(blocks)
    old = ReportData(hypotheses={"hypotheses": [_hyp()]}, hypothesis_tables={
        "threshold_curves": curve.drop(columns=["share_lit", "lightings", "churners_warned_share"])
    })  # fmt: skip
    assert _figures(pages.hypothesis_sections(old, "en")) == n_png - 1


def test_band_table_with_intervals_and_calibration_figure():
    health = fx.health_json()
    health["bands"]["validation"] = [
        {"band": "green", "rows": 100, "accounts": 40, "mean_predicted": 0.044,
         "observed": 0.046, "ci_low": 0.042, "ci_high": 0.05, "within_interval": True},
        {"band": "amber", "rows": 30, "accounts": 12, "mean_predicted": 0.14,
         "observed": 0.125, "ci_low": 0.111, "ci_high": 0.138, "within_interval": False},
        {"band": "red", "rows": 0, "accounts": 0, "mean_predicted": None, "observed": None,
         "ci_low": None, "ci_high": None, "within_interval": False},
    ]  # fmt: skip
    metric = {"estimate": -0.02, "ci_low": -0.1, "ci_high": 0.06}
    health["validation"]["calibration_metrics"] = {
        "score": {"calibration_in_the_large": metric,
                  "calibration_slope": {"estimate": 0.87, "ci_low": 0.79, "ci_high": 0.96}},
        "score_before_recalibration": {"calibration_in_the_large": metric,
                                       "calibration_slope": {"estimate": 0.51}},
    }  # fmt: skip
    health["calibration"] = {
        "method": "logistic recalibration (Cox 1958): logit P = a + b logit(p)",
        "calibration_weeks": 12,
        "validation_model": {"applied": True, "intercept": -1.086, "slope": 0.587,
                             "fit_weeks": ["2023-01-02", "2024-05-06"],
                             "slice_weeks": ["2024-05-13", "2024-07-29"]},
        "final_model": {"applied": False, "problem": "snapshot export"},
    }  # fmt: skip
    blocks = pages.calibration_section(ReportData(health=health), "en")
    html = _html(blocks)
    assert "11.1%–13.8%" in html and "4.2%–5.0%" in html
    assert "Outside the 95% interval of what happened: amber." in html
    assert "(a = -1.09, b = 0.59)" in html and "logistic recalibration (Cox 1958)" in html
    assert "Not recalibrated: snapshot export." in html
    assert "slope 0.87 (0.79–0.96)" in html
    assert _figures(blocks) == 1
    # older files (no intervals): the plain table, no figure
    plain = pages.calibration_section(ReportData(health=fx.health_json()), "en")
    assert _figures(plain) == 0 and "Promise holds" not in _html(plain)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_final_model_sentence_names_where_slope_and_intercept_were_measured(lang):
    """Slope out of sample (a held-out slice), intercept in sample: both sets of weeks shown;
    a block without `heldout` (older files, the in-sample fallback) keeps the old sentence."""
    health = fx.health_json()
    health["bands"]["validation"] = [
        {"band": "green", "rows": 100, "accounts": 40, "mean_predicted": 0.044,
         "observed": 0.046, "ci_low": 0.042, "ci_high": 0.05, "within_interval": True},
    ]  # fmt: skip
    final = {"applied": True, "intercept": -0.357, "slope": 0.842,
             "fit_weeks": ["2023-01-02", "2025-12-29"],
             "slice_weeks": ["2025-07-28", "2025-10-13"],
             "heldout": {"fit_weeks": ["2023-01-02", "2025-07-21"],
                         "slice_weeks": ["2025-07-28", "2025-10-13"], "slope": 0.842}}  # fmt: skip
    health["calibration"] = {"method": "logistic", "calibration_weeks": 12,
                             "final_model": final}  # fmt: skip
    html = _html(pages.calibration_section(ReportData(health=health), lang))
    for text in ("0.84", "-0.36", "2025-07-21", "2025-07-28", "2025-10-13"):
        assert text in html
    assert ("out of sample" in html) == (lang == "en")
    assert ("サンプル外" in html) == (lang == "ja")
    del final["heldout"]
    old = _html(pages.calibration_section(ReportData(health=health), lang))
    assert "2025-07-21" not in old and "2025-10-13" in old
    assert "out of sample" not in old and "サンプル外" not in old


def test_new_plots_render_deterministically():
    curve = frames.threshold_curve(
        pd.DataFrame({"threshold": [1, 2], "precision": [0.2, 0.1], "share_lit": [0.1, 0.3],
                      "churners_warned_share": [0.3, 0.5], "base_rate": [0.05, 0.05],
                      "chosen": [True, False]})
    )  # fmt: skip
    a = plotting.png_bytes(plotting.alert_tradeoff(curve, "x", "en"))
    assert a == plotting.png_bytes(plotting.alert_tradeoff(curve, "x", "en"))
    empty = plotting.alert_tradeoff(frames.threshold_curve(pd.DataFrame()), "x", "ja")
    assert isinstance(plotting.png_bytes(empty), bytes)
    fig = plotting.calibration_figure(pd.DataFrame(), {}, "ja")
    assert isinstance(plotting.png_bytes(fig), bytes)
