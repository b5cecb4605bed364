"""A new user's 300-account company, in their own words (session 21 findings): the quarantine
column read as ingest wrote it, the user's labels on every page, a health validation that
cannot be judged says why, and warning times of attribute lamps that cannot be misread."""

from __future__ import annotations

import pandas as pd
import pytest

from churnlab.reports import frames
from churnlab.reports import quarantine as rq


def _quarantine(rows, with_column=True) -> pd.DataFrame:
    cols = ["_table", "_reason", "_column", "_source_file", "_source_row", "start_date",
            "end_date", "mrr", "seats", "billing_period"]  # fmt: skip
    q = pd.DataFrame(rows, columns=cols).astype("string")
    return q if with_column else q.drop(columns="_column")


def test_quarantine_column_is_read_not_parsed_again(monkeypatch):
    def boom(*_):
        raise AssertionError("rows parsed again although ingest named the column")

    monkeypatch.setattr(rq, "table_reason_columns", boom)
    q = _quarantine([
        ("contracts", "unparseable_date", "start_date, end_date", "c.csv", "2", "x", "y", "1",
         "1", "monthly"),
        ("contracts", "negative_mrr", "mrr", "c.csv", "3", "2024-01-01", None, "-5", "1",
         "monthly"),
        ("contracts", "duplicate", None, "c.csv", "4", "2024-01-01", None, "5", "1", "monthly"),
    ])  # fmt: skip
    assert rq.reason_columns(q).tolist() == ["start_date, end_date", "mrr", ""]
    tables = {"rows": {"contracts": {"by_reason": {"unparseable_date": 1, "negative_mrr": 1,
                                                   "duplicate": 1}}}}  # fmt: skip
    reasons = frames.quarantine_reasons(tables, q)
    assert set(zip(reasons["reason"], reasons["column"], strict=True)) == {
        ("unparseable_date", "start_date, end_date"), ("negative_mrr", "mrr"), ("duplicate", ""),
    }  # fmt: skip


def test_old_quarantine_files_without_column_are_still_parsed():
    q = _quarantine(
        [("contracts", "negative_mrr", None, "c.csv", "3", "2024-01-01", None, "-5", "1", "monthly")],
        with_column=False,
    )  # fmt: skip
    assert rq.reason_columns(q).tolist() == ["mrr"]
    # a table written by an older ingest beside a newer one: only its rows are parsed
    new = _quarantine(
        [("contracts", "out_of_range", "seats", "c.csv", "5", "2024-01-01", None, "5", "0", "monthly")]
    )  # fmt: skip
    mixed = pd.concat([new, q.assign(_table="contracts")], ignore_index=True)
    assert rq.reason_columns(mixed).tolist() == ["seats", "mrr"]


@pytest.mark.parametrize("with_column", [True, False])
def test_row_reasons_have_no_column(with_column):
    q = _quarantine([("events", "malformed_row", None, "e.csv", "9", None, None, None, None,
                      None)], with_column)  # fmt: skip
    assert rq.reason_columns(q).tolist() == [""]


# --- warning times of lamps lit from the start -------------------------------------------

ATTRIBUTE = {
    "id": "month_to_month", "statement": "Month-to-month customers churn more.",
    "indicator": "attribute:billing_period", "attribute": "billing_period",
    "values": ["monthly"], "lamp_rule": "billing_period in [monthly]", "kind": "risk",
    "verdict": "leads churn", "verdict_label": "leads churn", "hazard_ratio": 2.0,
    "best_lag_weeks": 0, "headline_lag_weeks": 0, "median_warning_weeks": 12.0,
    "alerts": {"precision": 0.05, "median_warning_weeks": 6.0, "churners_warned_share": 0.06},
}  # fmt: skip
SWITCHING = dict(ATTRIBUTE, id="usage_drop", indicator="usage_vs_trailing", attribute=None,
                 values=None, lamp_rule=None, direction="low", threshold=-0.5,
                 median_warning_weeks=9.0, best_lag_weeks=8,
                 alerts={"precision": 0.2, "median_warning_weeks": 7.0})  # fmt: skip
ONBOARDING = dict(SWITCHING, id="low_activation", indicator="license_activation_rate",
                  threshold=0.5, median_warning_weeks=12.0,
                  alerts={"precision": 0.1, "median_warning_weeks": 6.0})  # fmt: skip


def test_lamps_lit_from_the_start_show_no_alert_warning_beside_the_verdict():
    from churnlab.reports import pages
    from churnlab.reports.loaders import ReportData

    meta = {"indicators": {"license_activation_rate": {"group": "onboarding"},
                           "usage_vs_trailing": {"group": "usage"}}}  # fmt: skip
    data = ReportData(panel_meta=meta, hypotheses={"settings": {"horizon_weeks": 12}})
    hyps = frames.hypotheses_table({"hypotheses": [ATTRIBUTE, SWITCHING, ONBOARDING]})
    table = pages.verdict_table(hyps, data, "en")
    # one definition in the column: the alert warning of a lamp that switches on
    assert table["Alert warning, median (weeks)"].tolist()[1] == 7.0
    assert table["Alert warning, median (weeks)"].isna().tolist() == [True, False, True]
    # the lamp-on time under each hypothesis is labelled as such, with its cap
    text = pages.lamp_text(hyps.iloc[0], data, "en")
    assert "median lamp-on time before churn 12.0 weeks" in text
    assert "at most 12 weeks; it is not the alert warning time" in text
    ja = pages.lamp_text(hyps.iloc[0], data, "ja")
    assert "最大 12 週" in ja


# --- a health validation that cannot judge the score says why ------------------------------

SHORT = {
    "as_of": "2025-06-30",
    "horizon_weeks": 12,
    "model": {
        "reference_levels": {"billing_period": "monthly", "tenure": "0-12w"},
        "weights_train": [{"term": "const"}, {"term": "billing_period=annual"}],
    },
    "validation": {
        "split_week": "2025-03-03", "n_accounts": 300, "n_events": 14,
        "auc": {"score": {"estimate": 0.52, "ci_low": 0.41, "ci_high": 0.63},
                "baseline": {"estimate": 0.55, "ci_low": 0.44, "ci_high": 0.66}},
        "concordance": {"score": {"estimate": 0.53, "ci_low": 0.45, "ci_high": 0.61},
                        "baseline": {"estimate": 0.56}},
    },
}  # fmt: skip


def test_validation_judgement_from_health_json_facts():
    j = frames.validation_judgement(SHORT)
    # 2025-03-03 .. 2025-06-30 = 119 days = 17 whole weeks; 17 - 12 = 5 with a whole horizon
    assert (j["window_weeks"], j["complete_weeks"], j["n_events"]) == (17, 5, 14)
    assert (j["term"], j["term_weeks"]) == ("annual", 52)
    assert j["chance"] and j["short_window"] and j["few_events"]
    clear = dict(SHORT, validation=dict(SHORT["validation"], n_events=400,
                                        auc={"score": {"estimate": 0.7, "ci_low": 0.66,
                                                       "ci_high": 0.74}}))  # fmt: skip
    j = frames.validation_judgement(clear)
    assert j["chance"] is False and not j["few_events"] and j["short_window"]
    assert frames.validation_judgement({"validation": {"problem": "no churn"}}) == {}
    monthly_only = dict(SHORT, model={"reference_levels": {"billing_period": "monthly"}})
    assert frames.validation_judgement(monthly_only)["short_window"] is False
    # too few annual churns: the level was folded into the reference, but it was there
    folded = dict(SHORT, model={
        "reference_levels": {"billing_period": "monthly"},
        "dropped_terms_train": [{"term": "billing_period=annual",
                                 "reason": "3 events; folded into monthly"}],
    })  # fmt: skip
    assert frames.validation_judgement(folded)["term"] == "annual"


def test_validation_section_says_why_the_score_cannot_be_judged_in_the_users_words():
    from churnlab.reports import pages, takeaways
    from churnlab.reports.loaders import ReportData

    data = ReportData(health=SHORT, labels={"billing_period": {"annual": "yearly"}})
    html = "".join(b for b in pages.validation_section(data, "en") if isinstance(b, str))
    assert "cannot be told apart from chance" in html and "0.52 (95% CI 0.41–0.63)" in html
    assert "runs 17 weeks (2025-03-03 to 2025-06-30), shorter than one yearly billing term " \
           "(52 weeks)" in html  # fmt: skip
    assert "annual" not in html  # the user's word, not churnlab's
    assert "first 5 of those 17 weeks" in html and "holds 14 churn events" in html
    assert "cover a whole yearly term" in html
    ja = "".join(b for b in pages.validation_section(data, "ja") if isinstance(b, str))
    assert "偶然(0.5)と区別できません" in ja and "yearly" in ja
    bullets = takeaways.executive_takeaways(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(),
                                            pd.Series(dtype=int), SHORT["validation"], "en")  # fmt: skip
    assert any("cannot yet be told apart from chance (AUC 0.52" in b for b in bullets)
    assert not any("concordance 0.53" in b for b in bullets)


def test_clear_validation_keeps_its_numbers_and_notes_a_short_window_only():
    from churnlab.reports import pages
    from churnlab.reports.loaders import ReportData

    clear = dict(SHORT, validation=dict(SHORT["validation"], n_events=400,
                                        auc={"score": {"estimate": 0.7, "ci_low": 0.66,
                                                       "ci_high": 0.74}}))  # fmt: skip
    html = "".join(b for b in pages.validation_section(ReportData(health=clear), "en")
                   if isinstance(b, str))  # fmt: skip
    assert "chance" not in html and "shorter than one annual billing term" in html
    long = dict(clear, as_of="2026-06-29")
    html = "".join(b for b in pages.validation_section(ReportData(health=long), "en")
                   if isinstance(b, str))  # fmt: skip
    assert "billing term" not in html


# --- the user's own labels wherever churnlab's words for a meaning would show ----------------

VOCABULARY = {
    "billing_period": {"monthly": ["Month-to-month"], "annual": ["yearly"]},
    "role": {"admin": ["Owner"], "key_person": ["Champion"], "decision_maker": ["decision_maker"]},
    "event_type": {"login": ["Sign in"], "report_view": ["dashboard_shared"],
                   "data_export": ["data_export"]},
    "touchpoint_kind": {"meeting": ["call"], "decision_maker_meeting": ["exec sync"]},
    "ticket_category": {"feature_request": ["Wish", "Idea"]},
}  # fmt: skip


def test_display_labels_cover_every_vocabulary_kind():
    from churnlab.reports.loaders import display_labels

    labels = display_labels(VOCABULARY)
    assert labels["billing_period"] == {"monthly": "Month-to-month", "annual": "yearly"}
    assert labels["role"] == {"admin": "Owner", "key_person": "Champion"}  # default left out
    assert labels["ticket_category"] == {"feature_request": "Wish / Idea"}
    assert "data_export" not in labels["event_type"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Key-person activity change", "Champion activity change"),
        ("Key person active", "Champion active"),
        ("key persons' events in the previous week", "Champions' events in the previous week"),
        ("Weeks since last login", "Weeks since last Sign in"),
        ("Weeks since decision-maker meeting", "Weeks since exec sync"),  # longest phrase wins
        ("Weeks since last meeting", "Weeks since last call"),
        ("Report feature used", "dashboard_shared used"),
        ("Feature-feedback tickets", "Wish / Idea tickets"),
        ("Monthly logo churn", "Monthly logo churn"),  # not a billing label
        ("Key-person activity 53% below their 4-week average",
         "Champion activity 53% below their 4-week average"),
        ("License activation rate", "License activation rate"),
    ],
)  # fmt: skip
def test_own_words(text, expected):
    from churnlab.reports.i18n import own_words
    from churnlab.reports.loaders import display_labels

    assert own_words(text, display_labels(VOCABULARY)) == expected
    assert own_words(text, {}) == text  # the defaults: churnlab's words are the user's


ATTRIBUTE_BILLING = {
    "id": "month_to_month", "statement": "Month-to-month customers churn more.",
    "indicator": "attribute:billing_period", "attribute": "billing_period",
    "values": ["monthly"], "lamp_rule": "billing_period in [monthly]", "kind": "risk",
    "verdict": "leads churn", "hazard_ratio": 2.0, "best_lag_weeks": 0, "lead_profile": [],
}  # fmt: skip


def test_pages_speak_the_users_labels():
    from churnlab.reports import pages, style
    from churnlab.reports.loaders import ReportData, display_labels

    meta = {"indicators": {"key_person_activity_change": {"label": "Key-person activity change"}}}
    hyp = dict(ATTRIBUTE_BILLING, id="kp", indicator="key_person_activity_change",
               attribute=None, values=None, lamp_rule=None, direction="low", threshold=-0.5)  # fmt: skip
    data = ReportData(panel_meta=meta, labels=display_labels(VOCABULARY))
    hyps = frames.hypotheses_table({"hypotheses": [ATTRIBUTE_BILLING, hyp]})
    html = style.to_html(pages.verdict_table(hyps, data, "en"))
    assert "billing_period in [Month-to-month]" in html and "[monthly]" not in html
    assert "Champion activity change" in html and "Key-person" not in html
    assert "Champion activity change" in pages.lamp_text(hyps.iloc[1], data, "en")
    actions = pd.DataFrame({"account_id": ["a1"], "why": ["Key-person activity 53% below ..."],
                            "rule_in_words": ["lights below -50%"], "lamp_state": ["new"]})  # fmt: skip
    html = style.to_html(pages.action_table(actions, "en", "mrr_at_risk", "", data.labels))
    assert "Champion activity 53% below" in html


def test_attribute_verdict_reason_in_the_users_label():
    from churnlab.reports import pages
    from churnlab.reports.loaders import ReportData, display_labels

    reason = ("accounts whose billing_period is monthly churn more (HR 2.68, 95% CI 2.35 to "
              "3.05, q 8e-57); an attribute is known from the account's first week")  # fmt: skip
    row = frames.hypotheses_table(
        {"hypotheses": [dict(ATTRIBUTE_BILLING, verdict_reason=reason)]}
    ).iloc[0]
    data = ReportData(labels=display_labels(VOCABULARY))
    text = pages.verdict_reason(row, data, "en")
    assert text.startswith("accounts whose billing_period is Month-to-month churn more (HR 2.68")
    assert pages.verdict_reason(row, ReportData(), "en") == reason
