"""Issue 12: the company's own labels are accepted as written; billing_period goes through
`vocabulary.billing_period`; an error when nothing passes says which column, value and param."""

from __future__ import annotations

import pandas as pd
import pytest
from ingest_testkit import clean_tables, interim, run_ingest

from churnlab.errors import ConfigError, UserError
from churnlab.ingest.vocabulary import label_map


def test_own_labels_are_accepted_as_written_japanese_and_mixed_case(tmp_path):
    tables = clean_tables()
    tables["accounts"]["segment"] = ["中小企業", " Mid Market ", "ENTERPRISE"]
    tables["accounts"]["customer_goal"] = ["Automate reporting", "unknown", "自分で学ぶ"]
    tables["accounts"]["region"] = ["Kantō", "EU-West", "us"]
    tables["contracts"]["plan"] = ["Pro (legacy)", "pro", "ベーシック", "PRO"]
    tables["users"]["role"] = ["Owner", "Champion", "member", "決裁者"]
    tables["events"]["event_type"] = ["app_open", "Photo Upload", "block_user", "app_open", "x"]
    tables["tickets"]["category"] = ["Bug", "Feature Request"]
    summary = run_ingest(tmp_path, tables)
    assert all(r["quarantined"] == 0 for r in summary["rows"].values())
    acc = interim(tmp_path, "accounts")
    assert acc["segment"].tolist() == ["中小企業", "Mid Market", "ENTERPRISE"]  # trimmed only
    assert acc["customer_goal"].tolist() == ["Automate reporting", "unknown", "自分で学ぶ"]
    assert acc["region"].tolist() == ["Kantō", "EU-West", "us"]
    assert interim(tmp_path, "contracts")["plan"].tolist() == [
        "Pro (legacy)",
        "pro",
        "ベーシック",
        "PRO",
    ]
    assert interim(tmp_path, "users")["role"].tolist() == ["Owner", "Champion", "member", "決裁者"]
    assert sorted(interim(tmp_path, "events")["event_type"]) == sorted(
        ["app_open", "Photo Upload", "block_user", "app_open", "x"]
    )
    assert interim(tmp_path, "tickets")["category"].tolist() == ["Bug", "Feature Request"]


def test_touchpoint_kinds_and_milestones_are_open_too(tmp_path):
    tables = clean_tables()
    tables["touchpoints"] = pd.DataFrame(
        {
            "account_id": ["A1", "A2"],
            "occurred_at": ["2024-01-10 10:00", "2024-02-10 10:00"],
            "kind": ["Exec Sponsor Call", "ランチ会"],
            "csm_id": ["S1", "S2"],
        }
    )
    tables["milestones"] = pd.DataFrame(
        {
            "account_id": ["A1"],
            "milestone": ["First Invoice Sent"],
            "achieved_at": ["2024-01-20 10:00"],
        }
    )
    summary = run_ingest(tmp_path, tables)
    assert summary["rows"]["touchpoints"]["quarantined"] == 0
    assert interim(tmp_path, "touchpoints")["kind"].tolist() == ["Exec Sponsor Call", "ランチ会"]
    assert interim(tmp_path, "milestones")["milestone"].tolist() == ["First Invoice Sent"]


def test_billing_period_labels_mapped_by_vocabulary_unmapped_quarantined(tmp_path):
    tables = clean_tables()
    tables["contracts"]["billing_period"] = ["Monthly", "month-to-month", "weekly", " Yearly"]
    vocabulary = {
        "billing_period": {"monthly": ["monthly", "Month-to-Month"], "annual": ["yearly"]}
    }
    summary = run_ingest(tmp_path, tables, vocabulary=vocabulary)
    contracts = interim(tmp_path, "contracts").set_index("contract_id")
    assert contracts["billing_period"].to_dict() == {
        "C1": "monthly",
        "C2": "monthly",
        "C4": "annual",
    }
    assert summary["rows"]["contracts"]["by_reason"]["invalid_category"] == 1
    q = interim(tmp_path, "contracts", quarantine=True)
    assert q["billing_period"].tolist() == ["weekly"]  # as written


def test_default_vocabulary_still_accepts_any_case_of_monthly_and_annual(tmp_path):
    tables = clean_tables()
    tables["contracts"]["billing_period"] = ["MONTHLY", "monthly", "Monthly ", "Annual"]
    summary = run_ingest(tmp_path, tables)
    assert summary["rows"]["contracts"]["quarantined"] == 0
    periods = interim(tmp_path, "contracts")["billing_period"].tolist()
    assert periods == ["monthly", "monthly", "monthly", "annual"]


def test_yearly_without_vocabulary_fails_with_column_value_allowed_and_param(tmp_path):
    tables = clean_tables()
    tables["contracts"]["billing_period"] = ["weekly", "weekly", "Weekly", "fortnightly"]
    with pytest.raises(UserError) as info:
        run_ingest(tmp_path, tables)
    msg = str(info.value)
    assert "\n" not in msg
    for part in [
        "data/raw/contracts.csv",
        "invalid_category",
        "'billing_period'",
        "'weekly'",
        "monthly",
        "annual",
        "vocabulary.billing_period",
    ]:
        assert part in msg, (part, msg)
    # The commonest value first: 'weekly' twice, then the others once each (by name).
    assert "e.g. 'weekly', 'Weekly', 'fortnightly'" in msg


@pytest.mark.parametrize(
    ("table", "column", "value", "reason"),
    [
        ("contracts", "mrr", "1,234.50", "unparseable_number"),
        ("accounts", "signup_date", "31/12/2023", "unparseable_date"),
        ("contracts", "account_id", "NOPE", "unknown_account"),
        ("contracts", "seats", "0", "out_of_range"),
    ],
)
def test_nothing_passed_names_column_and_value_for_every_reason(
    tmp_path, table, column, value, reason
):
    tables = clean_tables()
    tables[table][column] = value
    with pytest.raises(UserError) as info:
        run_ingest(tmp_path, tables)
    msg = str(info.value)
    n = len(tables[table])
    assert f"data/raw/{table}.csv" in msg and reason in msg
    assert f"in column '{column}' ({n} of {n} rows, e.g. '{value}')" in msg, msg
    assert f"data/interim/quarantine/{table}.parquet" in msg


def test_nothing_passed_blank_and_time_order_name_the_column(tmp_path):
    tables = clean_tables()
    tables["contracts"]["start_date"] = ""
    with pytest.raises(UserError, match=r"blank_required in column 'start_date' \(4 of 4 rows\)"):
        run_ingest(tmp_path, tables)
    tables = clean_tables()
    tables["contracts"]["end_date"] = "2023-01-01"
    with pytest.raises(
        UserError, match="time_order in column 'end_date'.*'end_date' is before 'start_date'"
    ):
        run_ingest(tmp_path, tables)


def test_label_map_matches_trimmed_lower_case_and_keeps_left_out_meanings():
    assert label_map("billing_period", {"annual": [" Yearly ", "12 months"]}) == {
        "monthly": "monthly",
        "yearly": "annual",
        "12 months": "annual",
    }
    assert label_map("billing_period", None) == {"monthly": "monthly", "annual": "annual"}
    assert label_map("billing_period", {"monthly": "Monthly"}) == {
        "monthly": "monthly",
        "annual": "annual",
    }


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ({"monthly": ["M"], "annual": ["m"]}, "two meanings"),
        ({"quarterly": ["Q"]}, "unknown meaning 'quarterly'"),
        (["monthly"], "must map each of monthly, annual"),
        ({"annual": [" "]}, "blank label"),
        ({"annual": {"x": 1}}, "vocabulary.billing_period.annual must be a list"),
        ({"annual": [True]}, "expected text labels"),
    ],
)
def test_bad_billing_vocabulary_is_a_config_error_naming_the_key(tmp_path, value, needle):
    with pytest.raises(ConfigError) as info:
        run_ingest(tmp_path, clean_tables(), vocabulary={"billing_period": value})
    assert "vocabulary.billing_period" in str(info.value) and needle in str(info.value)
