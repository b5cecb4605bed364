"""What a new user found on foreign-shaped data: attribute lamps, labelled measures,
snapshot pages, log ticks that never overlap, wording."""

import matplotlib
import pandas as pd

matplotlib.use("Agg")

from churnlab.reports import frames, pages, plotting, style, takeaways  # noqa: E402
from churnlab.reports.loaders import ReportData  # noqa: E402

ATTRIBUTE = {
    "id": "monthly_churns_more", "statement": "Monthly customers churn more.",
    "indicator": "attribute:billing_period", "attribute": "billing_period",
    "values": ["monthly"], "values_not_in_data": ["weekly"],
    "lamp_rule": "billing_period in [monthly]", "direction": None, "threshold": None,
    "verdict": "leads churn", "verdict_label": "leads churn", "kind": "risk",
    "hazard_ratio": 2.8, "ci_low": 1.43, "ci_high": 5.49, "q_value": 0.002,
    "best_lag_weeks": 0, "headline_lag_weeks": 0, "precision": 0.098, "recall": 0.792,
    "lift": 1.32, "median_warning_weeks": 12.0,
    "alerts": {"precision": 0.051, "base_rate": 0.074, "lift": 0.7,
               "churners_warned_share": 0.09, "median_warning_weeks": 9.0},
}  # fmt: skip


def _html(blocks) -> str:
    return "".join(
        style.to_html(b) if isinstance(b, pd.DataFrame) else b
        for b in blocks
        if isinstance(b, str | pd.DataFrame)
    )


def _verdicts(hyps, data, lang) -> str:
    """The verdict table with its note, as the page shows it."""
    return _html(pages.verdict_section(pages.verdict_table(hyps, data, lang), data, lang))


def _row(h):
    return frames.hypotheses_table({"hypotheses": [h]}).iloc[0]


def test_attribute_lamp_shows_its_rule_not_the_raw_id():
    row = _row(ATTRIBUTE)
    text = pages.lamp_text(row, ReportData(), "en")
    assert text.startswith("Lamp: billing_period in [monthly] (not in the data: weekly).")
    assert "‹" not in text and "< –" not in text and "attribute:" not in text
    table = _verdicts(frames.hypotheses_table({"hypotheses": [ATTRIBUTE]}),
                                ReportData(), "en")  # fmt: skip
    assert "billing_period in [monthly]" in table and "attribute:billing_period" not in table
    # without lamp_rule: built from attribute and values
    built = _row({k: v for k, v in ATTRIBUTE.items() if k != "lamp_rule"})
    assert pages.attribute_rule(built, "en").startswith("billing_period in [monthly]")


def test_attribute_takeaway_is_known_from_the_first_week_not_visible_0_weeks_ahead():
    line = takeaways.hypothesis_sentence(_row(ATTRIBUTE), "en")
    assert "known from the account's first week" in line and "0 weeks ahead" not in line
    lagged = _row(dict(ATTRIBUTE, indicator="x", attribute=None, best_lag_weeks=1))
    assert "visible 1 week ahead" in takeaways.hypothesis_sentence(lagged, "en")


def test_lamp_performance_and_alert_numbers_are_labelled_apart():
    row = _row(ATTRIBUTE)
    perf = pages.lamp_text(row, ReportData(), "en")
    assert "Over all account-weeks" in perf and "median lamp-on time before churn 12.0" in perf
    alerts = " ".join(pages.alert_lines(row, "en"))
    assert "After an alert" in alerts and "alert lift 0.7×" in alerts
    assert "(alert warning time)" in alerts
    html = _verdicts(frames.hypotheses_table({"hypotheses": [ATTRIBUTE]}),
                               ReportData(), "en")  # fmt: skip
    # an attribute lamp is lit from the first week: no alert warning time beside the verdict
    # (its 9.0 counts only churners who left within the horizon of starting)
    assert "Alert warning, median (weeks)" in html and ">9.0<" not in html
    assert "A lamp lit from an account" in html


def test_snapshot_hides_cohort_table_and_warning_times():
    data = ReportData(tables={"snapshot": True}, kpis={"snapshot": True})
    hyps = frames.hypotheses_table({"hypotheses": [ATTRIBUTE]})
    assert pages.verdict_warning(hyps, snapshot=True) == [None]
    html = _verdicts(hyps, data, "en")
    assert ">9.0<" not in html and "warning times" in html and "cannot be read" in html
    assert pages.is_snapshot(data) and not pages.is_snapshot(ReportData())


def test_snapshot_warning_is_said_once():
    msg = ("253 of 253 churns fall on one date: the data look like a snapshot. Churn timing "
           "is unknown within the export and there is no usage history.")  # fmt: skip
    data = ReportData(tables={"warnings": [{"code": "single_churn_date", "message": msg}]})
    html = "".join(pages.warnings_section(data, "en"))
    assert html.count("no usage history") == 1 and html.count("timing") == 1


def test_validation_problem_not_repeated_under_the_message():
    problem = "all 12 churn events fall in the week of 2025-12-29"
    health = {"message": f"Baseline. It is not validated out of time: {problem}.",
              "validation": {"problem": problem}}  # fmt: skip
    html = "".join(pages.validation_section(ReportData(health=health), "en"))
    assert html.count(problem) == 1


def _labels_overlap(fig, axis):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [
        lab.get_window_extent(renderer)
        for lab in axis.get_ticklabels(which="both")
        if lab.get_text() and lab.get_visible()
    ]
    boxes = sorted(boxes, key=lambda b: b.y0)
    return any(a.overlaps(b) for a, b in zip(boxes, boxes[1:], strict=False)), len(boxes)


def test_lead_profile_log_ticks_never_overlap():
    for his, los, highs in (
        ([6.7, 3.7, 10, 201, 12], [3, 1.5, 4.3, 27, 4.6], [16, 9, 23, 1500, 30]),
        ([4, 6, 7, 4, 92, 0.6], [1.6, 2.7, 3.0, 1.7, 26, 0.06], [10, 14, 16, 9, 318, 5]),
        ([0.9, 0.95, 1.05], [0.8, 0.85, 0.9], [1.0, 1.1, 1.2]),
    ):
        lags = [0, 1, 2, 4, 8, 12][: len(his)]
        prof = pd.DataFrame({"lag_weeks": lags, "hazard_ratio": his, "ci_low": los,
                             "ci_high": highs})  # fmt: skip
        fig = plotting.lead_profile(prof, "x", "en")
        overlap, n = _labels_overlap(fig, fig.axes[0].yaxis)
        assert not overlap and 2 <= n <= 10, (his, n)
        matplotlib.pyplot.close(fig)


def test_index_line_without_csms_does_not_say_for_no_csm_assigned():
    from churnlab.reports.i18n import t

    text = t("en", "summary.action_list_no_csm", listed=10, new=21, lit=23, n_opps=0)
    assert "for no CSM" not in text and "no account has a CSM assigned" in text


def test_wide_tables_scroll_inside_their_box():
    from pathlib import Path

    import churnlab.reports as pkg

    css = (Path(pkg.__file__).parent / "templates/churnlab_offline/report.css").read_text()
    rule = css[css.index("table.cl-table {") :].split("}", 1)[0]
    assert "overflow-x: auto" in rule and "max-width: 100%" in rule and "display: block" in rule
    assert "overflow-wrap: anywhere" in css
