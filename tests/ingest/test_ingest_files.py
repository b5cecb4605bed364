"""File-level behaviour: formats, parts, mapping, time zones, and one clear error per mistake."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_testkit import (
    clean_tables,
    interim,
    params_for,
    project_params_text,
    run_ingest,
    write_raw,
)
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.errors import UserError


def _raw(tmp_path: Path) -> Path:
    raw = tmp_path / "data/raw"
    write_raw(raw, clean_tables())
    return raw


def _error(tmp_path: Path, **ingest) -> str:
    with pytest.raises(UserError) as info:
        run_ingest(tmp_path, None, ingest=ingest)
    return str(info.value)


def test_missing_required_table_names_it(tmp_path):
    (_raw(tmp_path) / "events.csv").unlink()
    msg = _error(tmp_path)
    assert "events" in msg and "required table" in msg and "data/raw" in msg


def test_missing_required_column_names_file_and_column(tmp_path):
    raw = _raw(tmp_path)
    clean_tables()["contracts"].drop(columns="mrr").to_csv(raw / "contracts.csv", index=False)
    msg = _error(tmp_path)
    assert "data/raw/contracts.csv" in msg and "'mrr'" in msg and "column_map" in msg


def test_column_map_maps_user_names(tmp_path):
    raw = _raw(tmp_path)
    ev = clean_tables()["events"].rename(columns={"occurred_at": "Timestamp", "user_id": "uid"})
    ev.to_csv(raw / "events.csv", index=False)
    summary = run_ingest(
        tmp_path,
        None,
        ingest={"column_map": {"events": {"Timestamp": "occurred_at", "uid": "user_id"}}},
    )
    assert summary["rows"]["events"]["accepted"] == 5


def test_optional_column_absent_is_added_as_null(tmp_path):
    raw = _raw(tmp_path)
    clean_tables()["accounts"].drop(columns=["name", "region"]).to_csv(
        raw / "accounts.csv", index=False
    )
    summary = run_ingest(tmp_path, None)
    acc = interim(tmp_path, "accounts")
    assert acc["name"].isna().all() and acc["region"].isna().all()
    assert acc["name"].dtype == "string" and summary["rows"]["accounts"]["accepted"] == 3
    assert summary["missing_optional_columns"] == {"accounts": ["name", "region"]}


def test_wrong_file_type_names_file_and_expected_types(tmp_path):
    raw = _raw(tmp_path)
    (raw / "tickets.csv").rename(raw / "tickets.xlsx")
    msg = _error(tmp_path)
    assert "tickets.xlsx" in msg and ".xlsx" in msg and ".parquet" in msg


def test_empty_file_is_an_error(tmp_path):
    raw = _raw(tmp_path)
    (raw / "users.csv").write_bytes(b"")
    msg = _error(tmp_path)
    assert "data/raw/users.csv" in msg and "empty file" in msg


def test_required_table_with_header_only_is_an_error(tmp_path):
    raw = _raw(tmp_path)
    clean_tables()["accounts"].iloc[:0].to_csv(raw / "accounts.csv", index=False)
    msg = _error(tmp_path)
    assert "data/raw/accounts.csv" in msg and "no data rows" in msg


def test_optional_table_with_header_only_is_fine(tmp_path):
    raw = _raw(tmp_path)
    clean_tables()["tickets"].iloc[:0].to_csv(raw / "tickets.csv", index=False)
    summary = run_ingest(tmp_path, None)
    assert summary["rows"]["tickets"] == {**summary["rows"]["tickets"], "read": 0, "accepted": 0}


def test_wrong_encoding_names_file_column_and_encoding(tmp_path):
    raw = _raw(tmp_path)
    clean_tables()["accounts"].to_csv(raw / "accounts.csv", index=False, encoding="cp932")
    msg = _error(tmp_path)
    assert "data/raw/accounts.csv" in msg and "'name'" in msg and "utf-8" in msg


def test_shift_jis_is_read_with_encoding_param(tmp_path):
    raw = _raw(tmp_path)
    clean_tables()["accounts"].to_csv(raw / "accounts.csv", index=False, encoding="cp932")
    run_ingest(tmp_path, None, ingest={"encoding": "cp932"})
    assert "株式会社テスト" in interim(tmp_path, "accounts")["name"].tolist()


def test_not_a_parquet_file(tmp_path):
    raw = _raw(tmp_path)
    (raw / "events.csv").unlink()
    (raw / "events.parquet").write_bytes(b"this is not parquet at all")
    msg = _error(tmp_path)
    assert "data/raw/events.parquet" in msg and "Parquet" in msg


def test_file_and_folder_for_one_table_is_ambiguous(tmp_path):
    raw = _raw(tmp_path)
    (raw / "events").mkdir()
    clean_tables()["events"].to_csv(raw / "events/part-0.csv", index=False)
    msg = _error(tmp_path)
    assert "events" in msg and "folder" in msg


def test_cli_prints_one_line_and_exits_2(tmp_path):
    raw = _raw(tmp_path)
    (raw / "contracts.csv").unlink()
    # The project's own params file (the CLI validates all of it), pointing at tmp data.
    (tmp_path / "params.yaml").write_text(project_params_text())
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(app, ["ingest"])
    finally:
        os.chdir(old)
    assert result.exit_code == 2
    out = result.output.strip()
    assert "Traceback" not in out and len(out.splitlines()) == 1 and "contracts" in out


def test_missing_optional_tables_are_recorded(tmp_path):
    summary = run_ingest(tmp_path, clean_tables())
    assert summary["present"] == ["accounts", "contracts", "users", "events", "tickets"]
    assert summary["missing_optional"] == [
        "surveys",
        "touchpoints",
        "csm_assignments",
        "milestones",
    ]


def test_source_timezone_applies_to_naive_values_only(tmp_path):
    run_ingest(tmp_path, clean_tables(), ingest={"source_timezone": "Asia/Tokyo"})
    ev = interim(tmp_path, "events").set_index("event_type")["occurred_at"]
    assert ev["report_view"] == pd.Timestamp("2024-01-05 01:00", tz="UTC")  # naive 10:00 JST
    assert ev["data_export"] == pd.Timestamp("2024-02-11 00:00", tz="UTC")  # explicit Z kept
    assert str(ev.dtype) == "datetime64[ns, UTC]"


def test_dst_wall_times_are_deterministic(tmp_path):
    tables = clean_tables()
    # 01:30 happens twice on 2024-11-03 in New York (read as EDT) and 02:30 on 2024-03-10
    # never happens (moved forward to 03:00 EDT).
    tables["events"].loc[0, "occurred_at"] = "2024-11-03 01:30:00"
    tables["events"].loc[1, "occurred_at"] = "2024-03-10 02:30:00"
    tables["contracts"].loc[1, "end_date"] = ""
    run_ingest(tmp_path, tables, ingest={"source_timezone": "America/New_York"})
    ev = interim(tmp_path, "events").set_index("user_id")["occurred_at"]
    assert ev["U1"] == pd.Timestamp("2024-11-03 05:30", tz="UTC")
    assert ev["U2"] == pd.Timestamp("2024-03-10 07:00", tz="UTC")


def test_local_day_decides_before_signup(tmp_path):
    tables = clean_tables()
    # 2024-01-01 08:00 in Tokyo is 2023-12-31 23:00 UTC: on A1's signup day locally.
    tables["events"].loc[0, "occurred_at"] = "2024-01-01T08:00:00+09:00"
    summary = run_ingest(tmp_path, tables, ingest={"source_timezone": "Asia/Tokyo"})
    assert summary["rows"]["events"]["quarantined"] == 0
    summary = run_ingest(tmp_path, tables, ingest={"source_timezone": "UTC"})
    assert summary["rows"]["events"]["by_reason"]["before_signup"] == 1


def test_ids_trimmed_labels_kept_as_written_billing_period_canonical(tmp_path):
    tables = clean_tables()
    tables["events"].loc[0, "account_id"] = "  A1 "
    tables["accounts"].loc[1, "segment"] = " Mid Market"  # a label: trimmed, not rewritten
    tables["contracts"].loc[0, "billing_period"] = " MONTHLY "  # closed: matched any case
    summary = run_ingest(tmp_path, tables)
    assert summary["rows"]["events"]["accepted"] == 5
    assert interim(tmp_path, "accounts")["segment"].tolist() == ["smb", "Mid Market", "enterprise"]
    periods = interim(tmp_path, "contracts")["billing_period"].tolist()
    assert periods == ["monthly", "monthly", "monthly", "annual"]


def test_parquet_parts_typed_columns_and_cross_part_duplicates(tmp_path):
    raw = _raw(tmp_path)
    (raw / "events.csv").unlink()
    (raw / "events").mkdir()
    ev = pd.DataFrame(
        {
            "account_id": ["A1", "A2"],
            "user_id": ["U1", "U3"],
            "occurred_at": pd.to_datetime(["2024-01-05 10:00", "2024-02-10 08:00"]).tz_localize(
                "Asia/Tokyo"
            ),
            "event_type": ["login", "login"],
        }
    )
    ev.to_parquet(raw / "events/part-000.parquet")
    pd.concat([ev.iloc[[1]], ev.iloc[[0]]]).to_parquet(raw / "events/part-001.parquet")
    (raw / "events/_SUCCESS").write_text("")  # marker files are ignored
    # Accounts as typed Parquet with a date32 column and integer-looking ids.
    acc = clean_tables()["accounts"]
    table = pa.table(
        {
            **{c: acc[c] for c in acc.columns if c != "signup_date"},
            "signup_date": pa.array(pd.to_datetime(acc["signup_date"]).dt.date, pa.date32()),
        }
    )
    (raw / "accounts.csv").unlink()
    pq.write_table(table, raw / "accounts.parquet")
    summary = run_ingest(tmp_path, None)
    rows = summary["rows"]["events"]
    assert (rows["read"], rows["accepted"], rows["by_reason"]["duplicate"]) == (4, 2, 2)
    out = interim(tmp_path, "events")
    assert out["occurred_at"].tolist() == [
        pd.Timestamp("2024-01-05 01:00", tz="UTC"),
        pd.Timestamp("2024-02-09 23:00", tz="UTC"),
    ]
    q = interim(tmp_path, "events", quarantine=True)
    assert q["_source_file"].tolist() == ["data/raw/events/part-001.parquet"] * 2
    assert q["_source_row"].tolist() == [1, 2]
    assert interim(tmp_path, "accounts")["signup_date"].dtype == "datetime64[ns]"


def test_ragged_csv_line_is_quarantined_and_row_numbers_stay_right(tmp_path):
    raw = _raw(tmp_path)
    lines = (raw / "events.csv").read_text().splitlines()
    lines.insert(2, "A1,U1,2024-01-05T00:00:00Z,login,EXTRA")  # becomes data row 2
    lines.append("A2,U3,not-a-date,login")  # data row 7
    (raw / "events.csv").write_text("\n".join(lines) + "\n")
    summary = run_ingest(tmp_path, None)
    rows = summary["rows"]["events"]
    assert (rows["read"], rows["accepted"], rows["quarantined"]) == (7, 5, 2)
    q = interim(tmp_path, "events", quarantine=True)
    assert q["_reason"].tolist() == ["malformed_row", "unparseable_date"]
    assert q["_source_row"].tolist() == [2, 7]
    assert q["_raw_line"].iloc[0] == "A1,U1,2024-01-05T00:00:00Z,login,EXTRA"


def test_outputs_are_byte_identical_and_stale_tables_removed(tmp_path):
    run_ingest(tmp_path, clean_tables())
    files = sorted((tmp_path / "data/interim").rglob("*"))
    first = {p: p.read_bytes() for p in files if p.is_file()}
    (tmp_path / "data/raw/tickets.csv").unlink()
    run_ingest(tmp_path, None)
    assert not (tmp_path / "data/interim/tickets.parquet").exists()
    assert not (tmp_path / "data/interim/quarantine/tickets.parquet").exists()
    write_raw(tmp_path / "data/raw", {"tickets": clean_tables()["tickets"]})
    run_ingest(tmp_path, None)
    second = {p: p.read_bytes() for p in files if p.is_file()}
    assert first == second


def test_bad_timezone_param_is_a_config_error(tmp_path):
    _raw(tmp_path)
    msg = _error(tmp_path, source_timezone="Mars/Olympus")
    assert "ingest.source_timezone" in msg


def test_params_helper_matches_project_params():
    # The keys tests rely on exist in the real params.yaml.
    import yaml

    real = yaml.safe_load(Path("params.yaml").read_text())["ingest"]
    assert set(params_for()["ingest"]) <= set(real)


def test_excel_csv_with_bom_and_crlf(tmp_path):
    raw = _raw(tmp_path)
    text = clean_tables()["accounts"].to_csv(index=False, lineterminator="\r\n")
    (raw / "accounts.csv").write_bytes(text.encode("utf-8-sig"))
    summary = run_ingest(tmp_path, None)
    assert summary["rows"]["accounts"]["accepted"] == 3
    acc = interim(tmp_path, "accounts")
    assert acc["account_id"].tolist() == ["A1", "A2", "A3"]  # no BOM, no stray \r
    assert acc["region"].tolist() == ["us", "jp", "eu"]


def test_parquet_naive_timestamps_integer_ids_and_dictionary_strings(tmp_path):
    raw = _raw(tmp_path)
    (raw / "tickets.csv").unlink()
    tickets = pd.DataFrame(
        {
            "ticket_id": [101, 102],  # integer ids become "101", "102"
            "account_id": pd.Categorical(["A1", "A2"]),  # dictionary-encoded in Parquet
            "opened_at": pd.to_datetime(["2024-01-10 10:00", "2024-03-01 09:00"]),  # naive
            "first_response_at": pd.to_datetime(["2024-01-10 12:00", None]),
            "closed_at": pd.to_datetime([None, None]),
            "category": pd.Categorical(["Bug", "billing"]),
        }
    )
    tickets.to_parquet(raw / "tickets.parquet")
    run_ingest(tmp_path, None, ingest={"source_timezone": "Asia/Tokyo"})
    out = interim(tmp_path, "tickets")
    assert out["ticket_id"].tolist() == ["101", "102"]
    assert out["category"].tolist() == ["Bug", "billing"]  # labels kept as written
    assert out["opened_at"].tolist() == [
        pd.Timestamp("2024-01-10 01:00", tz="UTC"),
        pd.Timestamp("2024-03-01 00:00", tz="UTC"),
    ]
    assert out["closed_at"].isna().all() and str(out["closed_at"].dtype) == "datetime64[ns, UTC]"


def test_parquet_bytes_named_csv_say_so(tmp_path):
    raw = _raw(tmp_path)
    clean_tables()["users"].to_parquet(raw / "users.csv")
    msg = _error(tmp_path)
    assert "data/raw/users.csv" in msg and "Parquet" in msg and "expected CSV" in msg
