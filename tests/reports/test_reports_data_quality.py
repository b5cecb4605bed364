"""The data-quality page shows what ingest records (issue 16 follow-ups): rows read per file
against accepted + quarantined, the rejected-account cascade apart from unknown accounts,
implausible and open-ended dates, daylight-saving adjustments, delimiters, ignored files and
partition folders, and quarantine reasons in words with their column. Hand-made inputs, no
kernel."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from churnlab.reports import frames, pages
from churnlab.reports.loaders import ReportData
from churnlab.reports.quarantine import reason_columns


def _tables() -> dict:
    """tables.json as ingest writes it now (CONTRACTS §2), for a tiny company."""
    return {
        "as_of": "2025-03-16",
        "as_of_source": "latest date in the data (events.occurred_at)",
        "source_timezone": "America/New_York",
        "rows": {
            "accounts": {
                "read": 4,
                "accepted": 3,
                "quarantined": 1,
                "by_reason": {"unparseable_date": 1, "unknown_account": 0},
            },
            "contracts": {
                "read": 5,
                "accepted": 3,
                "quarantined": 2,
                "by_reason": {"implausible_date": 1, "account_rejected": 1},
            },
            "events": {
                "read": 10,
                "accepted": 4,
                "quarantined": 6,
                "by_reason": {"account_rejected": 3, "unknown_account": 2, "duplicate": 1},
            },
        },
        "files": {
            "accounts": ["data/raw/accounts.csv"],
            "contracts": ["data/raw/contracts.csv"],
            "events": ["data/raw/events/year=2025/part-0.csv", "data/raw/events/part-1.parquet"],
        },
        "rows_read_by_file": {
            "accounts": {"data/raw/accounts.csv": 4},
            "contracts": {"data/raw/contracts.csv": 5},
            "events": {
                "data/raw/events/part-1.parquet": 6,
                "data/raw/events/year=2025/part-0.csv": 4,
            },
        },
        "files_ignored": {"events": ["data/raw/events/_SUCCESS"]},
        "partition_columns": {"events": {"used": [], "ignored": ["year"]}},
        "csv_delimiters": {"contracts": {"data/raw/contracts.csv": ";"}},
        "open_ended_end_dates": {"contracts": {"end_date": 2}},
        "local_time_adjustments": {
            "events": {
                "occurred_at": {"nonexistent_shifted_forward": 3, "ambiguous_read_as_first": 1}
            }
        },
        "rejected_account_cascade": {
            "account_rows": 1,
            "account_rows_by_reason": {"unparseable_date": 1},
            "rows": 4,
            "rows_by_table": {"contracts": 1, "events": 3},
        },
        "missing_optional_columns": {"contracts": ["plan"]},
        "warnings": [
            {
                "code": "csv_delimiter_detected",
                "message": "data/raw/contracts.csv: the header splits on ';', not on commas",
            }
        ],
    }


def _quarantine() -> pd.DataFrame:
    """Quarantined rows as the loader gives them (strings, <NA> for missing), with `_table`."""
    rows = [
        # accounts: signup_date is the broken one (segment fine)
        {"_table": "accounts", "account_id": "a4", "signup_date": "2024-02-30",
         "segment": "smb", "_reason": "unparseable_date"},
        # contracts: the start is the implausible date, the end is fine
        {"_table": "contracts", "contract_id": "c1", "account_id": "a1",
         "start_date": "1900-01-01", "end_date": "2025-02-01", "billing_period": "monthly",
         "mrr": "10", "seats": "1", "_reason": "implausible_date"},
        {"_table": "contracts", "contract_id": "c9", "account_id": "a4",
         "start_date": "2025-01-01", "billing_period": "monthly", "mrr": "10", "seats": "1",
         "_reason": "account_rejected"},
        *[
            {"_table": "events", "account_id": "a4", "user_id": "u", "event_type": "login",
             "occurred_at": f"2025-01-0{i}T10:00:00Z", "_reason": "account_rejected"}
            for i in (1, 2, 3)
        ],
        *[
            {"_table": "events", "account_id": "zz", "user_id": "u", "event_type": "login",
             "occurred_at": "2025-01-01T10:00:00Z", "_reason": "unknown_account"}
            for _ in (1, 2)
        ],
        {"_table": "events", "account_id": "a1", "user_id": "u", "event_type": "login",
         "occurred_at": "2025-01-01T10:00:00Z", "_reason": "duplicate"},
    ]  # fmt: skip
    q = pd.DataFrame(rows).astype("string")
    q["_source_file"] = "data/raw/x.csv"
    q["_source_row"] = [str(i + 1) for i in range(len(q))]
    return q


def _data() -> ReportData:
    return ReportData(tables=_tables(), quarantine=_quarantine())


def _text(blocks) -> str:
    html = pages.to_html(blocks)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


def test_reason_column_is_found_with_ingests_parsers():
    q = _quarantine()
    columns = reason_columns(q).to_list()
    assert columns == [
        "signup_date",  # the unparseable date is the signup, not another column
        "start_date",  # 1900-01-01 is outside the default window; the end date is fine
        "account_id",
        *["account_id"] * 5,
        "",  # a duplicate is about the whole row
    ]


def test_reason_column_field_is_used_as_written():
    q = _quarantine().assign(_column="my_column")
    assert set(reason_columns(q)) == {"my_column"}


def test_reason_column_with_another_date_window_falls_back_to_the_failing_date():
    # ingest.latest_date set to 2025-01-15 made end_date implausible; the default window
    # does not, so the first date column that fails either check is named
    q = pd.DataFrame(
        {
            "_table": ["contracts"],
            "contract_id": ["c1"],
            "account_id": ["a1"],
            "start_date": ["2025-01-01"],
            "end_date": ["2025-13-01"],
            "_reason": ["implausible_date"],
        }
    ).astype("string")
    assert reason_columns(q).to_list() == ["end_date"]


def test_reasons_table_has_words_and_columns():
    reasons = frames.quarantine_reasons(_tables(), _quarantine())
    rows = {(r.table, r.reason): (r.column, r.count) for r in reasons.itertuples()}
    assert rows[("accounts", "unparseable_date")] == ("signup_date", 1)
    assert rows[("contracts", "implausible_date")] == ("start_date", 1)
    assert rows[("events", "unknown_account")] == ("account_id", 2)
    assert rows[("events", "duplicate")] == ("", 1)
    text = _text([pages.reasons_table(reasons, "en")])
    assert "date or time that cannot be read" in text and "signup_date" in text
    assert "whole row" in text  # the duplicate
    ja = _text([pages.reasons_table(reasons, "ja")])
    assert "読み取れない日付・日時" in ja and "行全体" in ja


def test_reason_counts_from_tables_json_win_when_the_rows_disagree():
    q = _quarantine()
    q = q[q["_table"] != "events"].reset_index(drop=True)  # events rows not available
    reasons = frames.quarantine_reasons(_tables(), q)
    events = reasons[reasons["table"] == "events"]
    assert events["count"].sum() == 6 and set(events["column"]) == {""}


def test_rows_read_are_checked_against_accepted_plus_quarantined():
    tables = _tables()
    tables["rows"]["events"]["read"] = 11  # an edited or older file: one row unaccounted
    counts = frames.quarantine_counts(tables).set_index("table")
    assert counts["unaccounted"].to_dict() == {"accounts": 0, "contracts": 0, "events": 1}
    text = _text([pages.quarantine_table(counts.reset_index(), "en")])
    assert "Read = accepted + quarantined" in text and "no (+1)" in text


def test_files_read_per_file_with_delimiter_ignored_files_and_partitions():
    files = frames.files_read(_tables())
    assert files["file"].to_list() == [
        "data/raw/accounts.csv",
        "data/raw/contracts.csv",
        "data/raw/events/part-1.parquet",
        "data/raw/events/year=2025/part-0.csv",
    ]
    assert files["rows"].to_list() == [4, 5, 6, 4]
    text = _text(pages.files_section(_data(), "en"))
    assert "';' (detected" in text
    assert "data/raw/events/_SUCCESS" in text
    assert "partition folders year are not columns of events: ignored" in text
    assert "comma" in text and "–" in text  # a CSV read on commas; a Parquet file has none
    ja = _text(pages.files_section(_data(), "ja"))
    assert "無視したファイル" in ja and "パーティションフォルダ year" in ja


def test_cascade_is_counted_apart_from_unknown_accounts():
    text = _text(pages.cascade_section(_data(), "en"))
    assert (
        "4 rows in contracts (1), events (3) were quarantined because 1 account rows were: "
        "date or time that cannot be read (1)." in text
    )
    assert "account_id of no account in the accounts table”: 2 rows" in text
    ja = _text(pages.cascade_section(_data(), "ja"))
    assert "1 件のアカウント行が隔離されたため" in ja and "4 行が隔離されました" in ja


def test_cascade_absent_in_an_older_tables_json():
    tables = _tables()
    del tables["rejected_account_cascade"]
    assert pages.cascade_section(ReportData(tables=tables), "en") == []


def test_open_ended_implausible_and_daylight_saving_are_shown():
    text = _text(pages.read_by_rule_section(_data(), "en"))
    assert "contracts.end_date: 2 far-future end dates" in text
    assert "contracts: 1 rows quarantined for an implausible date" in text
    assert "Daylight-saving adjustments (local times in America/New_York)" in text
    dst = frames.local_time_adjustments(_tables())
    assert dst.iloc[0].to_list() == ["events", "occurred_at", 3, 1]
    ja = _text(pages.read_by_rule_section(_data(), "ja"))
    assert "夏時間の調整" in ja and "期間の定めなし" in ja


def test_whole_page_in_both_languages_and_samples_say_why_with_the_column():
    en = _text(pages.data_quality(_data(), "en"))
    for part in (
        "Files read",
        "Rows that follow a rejected account row",
        "Values read by a documented rule",
        "Optional columns no file had (treated as absent): contracts.plan.",
        "date or time that cannot be read in signup_date",  # a sample's reason
    ):
        assert part in en, part
    ja = _text(pages.data_quality(_data(), "ja"))
    assert "signup_date の読み取れない日付・日時" in ja


def test_older_tables_json_renders_without_the_new_sections():
    tables = {"rows": _tables()["rows"], "as_of": "2025-03-16"}
    text = _text(pages.data_quality(ReportData(tables=tables), "en"))
    assert "Files read" not in text and "documented rule" not in text
    assert "Accepted and quarantined rows per table" in text


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_reason_code_has_words(lang):
    from churnlab.ingest.quality import ALL_REASONS

    for code in ALL_REASONS:
        assert pages.reason_words(code, "", lang) != code


# --- leftovers: billing labels, attribute names, lamps lit from the start, report CSS ------


def test_billing_period_shows_the_users_single_label_else_the_meaning():
    from churnlab.reports.i18n import label_text
    from churnlab.reports.loaders import display_labels

    labels = display_labels(
        {"billing_period": {"monthly": ["Monthly"], "annual": ["Yearly", "Annual"]}}
    )
    assert labels == {"billing_period": {"monthly": "Monthly"}}  # annual has two labels
    assert label_text("en", "billing_period", "monthly", labels) == "Monthly"
    assert label_text("ja", "billing_period", "monthly", labels) == "Monthly"  # the user's word
    assert label_text("en", "billing_period", "annual", labels) == "annual"
    assert label_text("ja", "billing_period", "annual", labels) == "年払い"
    # the default vocabulary (monthly: [monthly]) keeps churnlab's translated word
    default = display_labels({"billing_period": {"monthly": ["monthly"]}})
    assert label_text("ja", "billing_period", "monthly", default) == "月払い"


def test_project_labels_read_params_yaml(tmp_path):
    from churnlab.reports.loaders import project_labels

    (tmp_path / "params.yaml").write_text(
        "vocabulary:\n  billing_period: {monthly: [Monthly], annual: [Yearly]}\n",
        encoding="utf-8",
    )
    assert project_labels(tmp_path) == {
        "billing_period": {"monthly": "Monthly", "annual": "Yearly"}
    }
    assert project_labels(tmp_path / "nowhere") == {}


def test_attribute_hypothesis_is_named_in_words_not_by_its_id():
    data = ReportData()
    assert pages._indicator_label(data, "attribute:billing_period", "en") == "Billing period"
    assert pages._indicator_label(data, "attribute:billing_period", "ja") == "請求周期"
    assert pages._indicator_label(data, "attribute:region", "en") == "Region"


def _lamp(**values) -> pd.Series:
    base = {"id": "h", "indicator": "onboarding_complete", "direction": "low", "threshold": 0.5,
            "has_alerts": True, "alert_share_lit_median": 0.2, "alert_share_lit_latest": 0.1,
            "alert_precision": 0.03, "alert_base_rate": 0.06, "alert_lift": 0.4,
            "alert_lightings_per_100_account_weeks": 1.6}  # fmt: skip
    return pd.Series(base | values)


def test_lamps_lit_from_the_start_show_no_alert_numbers():
    meta = {
        "indicators": {
            "onboarding_complete": {"group": "onboarding", "unit": "flag"},
            "days_to_onboarding": {"group": "onboarding", "unit": "days"},
            "weeks_since_meeting": {"group": "relationship", "unit": "weeks"},
        }
    }
    data = ReportData(panel_meta=meta)
    assert pages.lit_from_start(_lamp(), data) == "onboarding"  # 0 < 0.5: on at the start
    # days to onboarding above 138 lights once, later: a real alert
    high = _lamp(indicator="days_to_onboarding", direction="high", threshold=138.5)
    assert pages.lit_from_start(high, data) is None
    assert pages.lit_from_start(_lamp(indicator="weeks_since_meeting"), data) is None
    attr = _lamp(indicator="attribute:billing_period", attribute="billing_period")
    assert pages.lit_from_start(attr, data) == "attribute"
    text = _text(pages.alert_section(_lamp(), pd.DataFrame(), "x", "en", "onboarding"))
    assert "Lit from the start" in text and "Lit for 20% of active accounts" in text
    assert "After an alert" not in text and "lightings" not in text.split("do not apply")[1]
    ja = _text(pages.alert_section(attr, pd.DataFrame(), "x", "ja", "attribute"))
    assert "最初から点灯" in ja
    plain = _text(pages.alert_section(_lamp(), pd.DataFrame(), "x", "en"))
    assert "After an alert" in plain


def test_report_css_is_scoped_to_outputs_and_dropped_from_rendered_pages():
    import nbformat

    from churnlab.reports import render
    from churnlab.reports.notebook import CSS_METADATA, report_css

    css = report_css()
    assert ".jp-OutputArea-output .verdict-leads_churn" in css
    assert ".jp-OutputArea-output .band-red" in css
    assert "body" not in css and "main.report" not in css and "@media" not in css
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("setup()")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/html": "<style>x</style>"}, metadata={CSS_METADATA: True}
        ),
        nbformat.v4.new_output("display_data", data={"text/html": "<h1>T</h1>"}),
    ]
    nb.cells = [cell]
    clean = render.normalize(nb, "T")
    assert [o["data"]["text/html"] for o in clean.cells[0].outputs] == ["<h1>T</h1>"]
