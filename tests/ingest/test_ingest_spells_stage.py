"""Issue 13 through the stage: one as_of, snapshots, spells written, accounts that lose their
only contract counted, required_tables honoured, warnings. Tiny hand-made companies."""

from __future__ import annotations

import pandas as pd
import pytest
from ingest_testkit import clean_tables, interim, run_ingest

from churnlab.errors import ConfigError, UserError
from churnlab.ingest.as_of import churn_warnings

T = pd.Timestamp


def _company(contracts: list[tuple], events: list[tuple] | None = None) -> dict:
    """Accounts A1.. signed up 2024-01-01; contracts (id, account, start, end, notice);
    events (account, occurred_at)."""
    accounts = sorted({c[1] for c in contracts})
    tables = {
        "accounts": pd.DataFrame(
            {
                "account_id": accounts,
                "signup_date": ["2023-01-01"] * len(accounts),
                "segment": ["Startup"] * len(accounts),
            }
        ),
        "contracts": pd.DataFrame(
            {
                "contract_id": [c[0] for c in contracts],
                "account_id": [c[1] for c in contracts],
                "start_date": [c[2] for c in contracts],
                "end_date": [c[3] for c in contracts],
                "billing_period": ["monthly"] * len(contracts),
                "mrr": ["100"] * len(contracts),
                "seats": ["1"] * len(contracts),
                "cancelled_at": [c[4] for c in contracts],
            }
        ),
    }
    if events is not None:
        tables["events"] = pd.DataFrame(
            {
                "account_id": [e[0] for e in events],
                "user_id": ["U"] * len(events),
                "occurred_at": [e[1] for e in events],
                "event_type": ["login"] * len(events),
            }
        )
    return tables


def _spells(workdir) -> list[tuple]:
    s = interim(workdir, "spells")
    return [
        (
            r.account_id,
            r.spell,
            None if pd.isna(r.end_date) else f"{r.end_date:%Y-%m-%d}",
            bool(r.churned),
            None if pd.isna(r.censored_reason) else r.censored_reason,
        )
        for r in s.itertuples()
    ]


def test_as_of_is_the_latest_date_except_contract_end_dates(tmp_path):
    # clean_tables: latest event 2024-03-05, but A2's notice is dated 2024-05-10; the annual
    # term's end 2025-03-01 is a scheduled date, not data.
    summary = run_ingest(tmp_path, clean_tables())
    assert summary["as_of"] == "2024-05-10"
    assert summary["as_of_source"] == "latest date in the data (contracts.cancelled_at)"
    assert summary["snapshot"] is False and summary["warnings"] == []
    # A2 gave notice but its term ends 2024-06-01, after as_of: still running.
    assert _spells(tmp_path) == [
        ("A1", 1, None, False, "running"),
        ("A2", 1, None, False, "running"),
        ("A3", 1, None, False, "running"),
    ]
    terms = interim(tmp_path, "contract_terms")
    assert terms["contract_id"].tolist() == ["C1", "C2", "C3", "C4"]


def test_base_as_of_param_wins_and_is_named_as_the_source(tmp_path):
    summary = run_ingest(tmp_path, clean_tables(), as_of="2024-04-30")
    assert (summary["as_of"], summary["as_of_source"]) == ("2024-04-30", "base.as_of")
    # The notice of 2024-05-10 is after as_of: not known yet.
    assert interim(tmp_path, "spells")["cancelled_at"].isna().all()


def test_churn_and_return_counted_at_the_stage(tmp_path):
    tables = _company(
        [
            ("C1", "A1", "2024-01-01", "2024-03-01", ""),
            ("C2", "A1", "2024-06-01", "", ""),
            ("C3", "A2", "2024-01-01", "", ""),
            ("C4", "A2", "2024-03-15", "", ""),  # overlaps C3 from 03-15
        ],
        [("A1", "2024-02-10T10:00:00Z"), ("A2", "2024-06-20T10:00:00Z")],
    )
    summary = run_ingest(tmp_path, tables)
    assert summary["as_of"] == "2024-06-20"
    assert _spells(tmp_path) == [
        ("A1", 1, "2024-03-01", True, None),
        ("A1", 2, None, False, "running"),
        ("A2", 1, None, False, "running"),
    ]
    history = summary["contract_history"]
    assert history["reactivations"] == 1 and history["churned_spells"] == 1
    assert history["overlapping_rows"] == 2 and history["gaps_bridged"] == 0
    terms = interim(tmp_path, "contract_terms")
    a2 = terms[terms["account_id"] == "A2"]
    assert a2["end_date"].tolist()[0] == T("2024-03-15") and a2["end_date"].isna().tolist() == [
        False,
        True,
    ]


def test_log_ending_mid_term_is_censored_but_a_notice_keeps_the_churn(tmp_path):
    # Issue 13 item 5: paid-up monthly terms end 2024-06-20; the event log runs to 06-25.
    tables = _company(
        [
            ("C1", "A1", "2024-05-20", "2024-06-20", ""),  # no notice: renewal not seen yet
            ("C2", "A2", "2024-05-20", "2024-06-20", "2024-06-01"),  # gave notice: churned
            ("C3", "A3", "2024-01-01", "", ""),
        ],
        [("A1", "2024-06-10T00:00:00Z"), ("A3", "2024-06-25T09:00:00Z")],
    )
    summary = run_ingest(tmp_path, tables)
    assert (summary["as_of"], summary["snapshot"]) == ("2024-06-25", False)
    assert _spells(tmp_path) == [
        ("A1", 1, "2024-06-20", False, "renewal_not_observable"),
        ("A2", 1, "2024-06-20", True, None),
        ("A3", 1, None, False, "running"),
    ]
    assert summary["contract_history"]["spells_censored_at_end"] == 1
    # With no grace the same term is a churn.
    run_ingest(tmp_path, None, ingest={"renewal_grace_days": 0})
    assert _spells(tmp_path)[0] == ("A1", 1, "2024-06-20", True, None)


def _snapshot_company() -> dict:
    """Six accounts churned on the export day 2024-06-30, two running; no activity tables."""
    rows = [(f"C{i}", f"A{i}", f"202{2 + i % 2}-0{1 + i}-01", "2024-06-30", "") for i in range(6)]
    rows += [("C6", "A6", "2022-03-01", "", ""), ("C7", "A7", "2023-11-01", "", "")]
    return _company(rows)


@pytest.mark.parametrize("required", [[], ["accounts", "contracts"]])
def test_snapshot_as_of_is_the_export_day_and_churns_are_kept(tmp_path, required):
    summary = run_ingest(tmp_path, _snapshot_company(), ingest={"required_tables": required})
    assert summary["snapshot"] is True
    assert summary["as_of"] == "2024-06-30"
    assert summary["as_of_source"] == "latest date in the data (contracts.end_date)"
    spells = interim(tmp_path, "spells")
    # All six end on as_of, inside the grace period, yet a snapshot's end dates are churns.
    assert spells["churned"].sum() == 6 and (spells["censored_reason"] == "running").sum() == 2
    assert summary["contract_history"]["spells_censored_at_end"] == 0
    assert [w["code"] for w in summary["warnings"]] == ["single_churn_date"]
    message = summary["warnings"][0]["message"]
    assert "6 of 6 churns" in message and "2024-06-30" in message and "snapshot" in message
    assert summary["missing_optional"][:2] == ["users", "events"]
    assert summary["accounts_without_events"] is None


def test_header_only_events_file_is_still_a_snapshot(tmp_path):
    tables = _snapshot_company()
    tables["events"] = pd.DataFrame(columns=["account_id", "user_id", "occurred_at", "event_type"])
    summary = run_ingest(tmp_path, tables, ingest={"required_tables": ["accounts", "contracts"]})
    assert summary["snapshot"] is True and summary["as_of"] == "2024-06-30"
    assert summary["rows"]["events"]["read"] == 0
    assert summary["contract_history"]["events_of_accounts_without_contract"] == 0


def test_accounts_and_contracts_are_needed_even_with_required_tables_empty(tmp_path):
    tables = _snapshot_company()
    del tables["contracts"]
    with pytest.raises(UserError) as info:
        run_ingest(tmp_path, tables, ingest={"required_tables": []})
    msg = str(info.value)
    assert "data/raw/contracts.csv" in msg and "always needs accounts and contracts" in msg


def test_default_required_tables_still_demand_events(tmp_path):
    with pytest.raises(UserError, match="required table 'events' not found.*required_tables"):
        run_ingest(tmp_path, _snapshot_company())


def test_account_whose_only_contract_is_quarantined_is_counted_with_its_events(tmp_path):
    # Issue 13 item 3: A2's only contract has MRR written 1,234.50.
    tables = clean_tables()
    tables["contracts"].loc[2, "mrr"] = "1,234.50"
    summary = run_ingest(tmp_path, tables)
    assert summary["rows"]["contracts"]["by_reason"]["unparseable_number"] == 1
    history = summary["contract_history"]
    assert history["accounts_without_contract"] == 1
    assert history["accounts_without_contract_ids"] == ["A2"]
    assert history["events_of_accounts_without_contract"] == 2  # A2's two events, accepted
    assert "A2" not in set(interim(tmp_path, "spells")["account_id"])


def test_a_hole_in_an_accepted_history_is_counted_and_warned(tmp_path):
    # A1's renewal row C2 is quarantined (thousands separator): A1 keeps C1 only, which
    # ends 2024-02-01 -> a churn that is an artefact of the rejected row. It must be said.
    tables = clean_tables()
    tables["contracts"].loc[1, "mrr"] = "1,150.50"
    summary = run_ingest(tmp_path, tables)
    history = summary["contract_history"]
    assert history["accounts_with_quarantined_contract_rows"] == 1
    assert history["accounts_with_quarantined_contract_rows_ids"] == ["A1"]
    (warning,) = [w for w in summary["warnings"] if w["code"] == "incomplete_contract_history"]
    assert "A1" in warning["message"] and "quarantine/contracts.parquet" in warning["message"]
    # the account whose ONLY row is quarantined is the other count, not this one
    (tmp_path / "clean").mkdir()
    clean = run_ingest(tmp_path / "clean", clean_tables())
    assert clean["contract_history"]["accounts_with_quarantined_contract_rows"] == 0
    assert not [w for w in clean["warnings"] if w["code"] == "incomplete_contract_history"]


def test_metrics_carry_as_of_snapshot_and_history_counts(tmp_path):
    import json

    run_ingest(tmp_path, _snapshot_company(), ingest={"required_tables": []})
    metrics = json.loads((tmp_path / "metrics/ingest.json").read_text())
    assert metrics["as_of"] == "2024-06-30" and metrics["snapshot"] is True
    assert metrics["contract_history"]["churned_spells"] == 6
    assert "accounts_without_contract_ids" not in metrics["contract_history"]
    assert metrics["warnings"] == ["single_churn_date"]


@pytest.mark.parametrize(
    ("ingest", "as_of", "needle"),
    [
        ({"reactivation_gap_days": 6}, None, "ingest.reactivation_gap_days"),
        ({"reactivation_gap_days": "30"}, None, "ingest.reactivation_gap_days"),
        ({"reactivation_gap_days": True}, None, "ingest.reactivation_gap_days"),
        ({"renewal_grace_days": -1}, None, "ingest.renewal_grace_days"),
        ({"renewal_grace_days": 3.5}, None, "ingest.renewal_grace_days"),
        ({"required_tables": "accounts"}, None, "ingest.required_tables"),
        (
            {"required_tables": ["accounts", "payments"]},
            None,
            "ingest.required_tables .*'payments'",
        ),
        ({"column_map": {"invoices": {"a": "b"}}}, None, "ingest.column_map .*'invoices'"),
        ({}, "31/12/2024", "base.as_of"),
    ],
)
def test_bad_params_are_config_errors_naming_the_key(tmp_path, ingest, as_of, needle):
    with pytest.raises(ConfigError, match=needle):
        run_ingest(tmp_path, clean_tables(), ingest=ingest, as_of=as_of)


def _churn_spells(dates: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"churned": True, "end_date": pd.to_datetime(dates)})


def test_pile_up_warning_fires_above_three_times_the_median():
    # One churn a month in 2023-06..2024-05, then 5 in June 2024 (> 3 x median 1).
    starts = pd.date_range("2023-06-01", periods=12, freq="MS") + pd.Timedelta(days=9)
    monthly = [f"{d:%Y-%m-%d}" for d in starts]
    june = ["2024-06-03", "2024-06-05", "2024-06-12", "2024-06-20", "2024-06-28"]
    warnings = churn_warnings(_churn_spells(monthly + june), T("2024-06-30"), T("2023-01-01"))
    assert [w["code"] for w in warnings] == ["churn_pile_up_at_end"]
    assert "5 accounts churned in June 2024" in warnings[0]["message"]
    assert "median of 1" in warnings[0]["message"]
    # June is not complete on 2024-06-29: May (1 churn) is the last complete month.
    assert churn_warnings(_churn_spells(monthly + june), T("2024-06-29"), T("2023-01-01")) == []
    # Four churns are too few to call a pile-up.
    assert churn_warnings(_churn_spells(monthly + june[:4]), T("2024-06-30"), T("2023-01-01")) == []


def test_pile_up_needs_more_than_three_times_the_median():
    # Two churns a month, then 6 = 3 x 2: not more than three times.
    monthly = [
        f"{d:%Y-%m-%d}" for d in pd.date_range("2023-06-01", periods=12, freq="MS") for _ in (0, 1)
    ]
    june = [f"2024-06-{d:02d}" for d in (1, 2, 3, 4, 5, 6)]
    assert churn_warnings(_churn_spells(monthly + june), T("2024-06-30"), T("2023-01-01")) == []
    more = june + ["2024-06-07"]
    codes = [
        w["code"] for w in churn_warnings(_churn_spells(monthly + more), T("2024-06-30"), None)
    ]
    assert codes == []  # no months before June counted when the data start is unknown
    codes = [
        w["code"]
        for w in churn_warnings(_churn_spells(monthly + more), T("2024-06-30"), T("2023-06-01"))
    ]
    assert codes == ["churn_pile_up_at_end"]


def test_single_churn_date_needs_ninety_percent():
    nine = ["2024-06-30"] * 9
    assert [
        w["code"]
        for w in churn_warnings(_churn_spells([*nine, "2024-01-05"]), T("2024-07-15"), None)
    ] == ["single_churn_date"]
    eight = ["2024-06-30"] * 8
    two_others = ["2024-01-05", "2024-02-05"]
    assert churn_warnings(_churn_spells(eight + two_others), T("2024-07-15"), None) == []
