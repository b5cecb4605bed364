"""A tiny clean company as raw CSV strings, and a helper to run ingest on it in a temp dir."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from churnlab.ingest.stage import run
from churnlab.io import read_json


def clean_tables() -> dict[str, pd.DataFrame]:
    """Three accounts (one Japanese name), a churned one, valid rows in every table."""
    accounts = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "name": ["Acme", "株式会社テスト", "Zeta"],
            "signup_date": ["2024-01-01", "2024-02-01", "2024-03-01"],
            "segment": ["smb", "mid_market", "enterprise"],
            "customer_goal": ["done_for_me", "learn_myself", "done_for_me"],
            "region": ["us", "jp", "eu"],
        }
    )
    contracts = pd.DataFrame(
        {
            "contract_id": ["C1", "C2", "C3", "C4"],
            "account_id": ["A1", "A1", "A2", "A3"],
            "start_date": ["2024-01-01", "2024-02-01", "2024-02-01", "2024-03-01"],
            "end_date": ["2024-02-01", "", "2024-06-01", "2025-03-01"],
            "billing_period": ["monthly", "monthly", "monthly", "annual"],
            "plan": ["basic", "pro", "basic", "pro"],
            "mrr": ["100", "150.5", "80", "1000"],
            "seats": ["5", "5", "3", "40"],
            "cancelled_at": ["", "", "2024-05-10", ""],
            "cancel_reason": ["", "", "価格", ""],
        }
    )
    users = pd.DataFrame(
        {
            "user_id": ["U1", "U2", "U3", "U4"],
            "account_id": ["A1", "A1", "A2", "A3"],
            "role": ["admin", "member", "key_person", "decision_maker"],
            "invited_at": [
                "2024-01-01 09:00:00",
                "2024-01-03T10:00:00+09:00",
                "2024-02-01T00:00:00Z",
                "2024-03-02 12:00",
            ],
            "activated_at": ["2024-01-02 09:00:00", "", "2024-02-02T00:00:00Z", ""],
        }
    )
    events = pd.DataFrame(
        {
            "account_id": ["A1", "A1", "A2", "A2", "A3"],
            "user_id": ["U1", "U2", "U3", "U3", "U4"],
            "occurred_at": [
                "2024-01-05T10:00:00+09:00",  # = 01:00 UTC
                "2024-01-05 10:00:00",  # naive: source zone
                "2024-02-10T08:30:00-05:00",  # = 13:30 UTC
                "2024-02-11T00:00:00Z",
                "2024-03-05 23:59:59",
            ],
            "event_type": ["login", "report_view", "login", "data_export", "login"],
        }
    )
    tickets = pd.DataFrame(
        {
            "ticket_id": ["T1", "T2"],
            "account_id": ["A1", "A2"],
            "opened_at": ["2024-01-10 10:00", "2024-03-01 10:00"],
            "first_response_at": ["2024-01-10 12:00", ""],
            "closed_at": ["2024-01-11 10:00", ""],
            "category": ["bug", "Feature Request"],
        }
    )
    return {
        "accounts": accounts,
        "contracts": contracts,
        "users": users,
        "events": events,
        "tickets": tickets,
    }


def with_row(tables: dict[str, pd.DataFrame], table: str, **values) -> dict[str, pd.DataFrame]:
    """Append a row to `table`, copying the first row and overriding `values`."""
    df = tables[table]
    row = df.iloc[[0]].copy()
    for k, v in values.items():
        row[k] = v
    tables[table] = pd.concat([df, row], ignore_index=True)
    return tables


def write_raw(raw: Path, tables: dict[str, pd.DataFrame]) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(raw / f"{name}.csv", index=False)


def params_for(
    ingest: dict | None = None, vocabulary: dict | None = None, as_of: str | None = None
) -> dict:
    cfg = {
        "source_timezone": "UTC",
        "column_map": {},
        "required_tables": ["accounts", "contracts", "events"],
    }
    cfg.update(ingest or {})
    params = {
        "base": {"raw_dir": "data/raw", "interim_dir": "data/interim", "as_of": as_of},
        "ingest": cfg,
    }
    if vocabulary is not None:
        params["vocabulary"] = vocabulary
    return params


def run_ingest(
    workdir: Path,
    tables=None,
    ingest: dict | None = None,
    vocabulary: dict | None = None,
    as_of: str | None = None,
) -> dict:
    """Write `tables` as CSV under workdir/data/raw (unless None), run ingest, return tables.json.

    `vocabulary` is the params' `vocabulary` section, `as_of` is `base.as_of`."""
    old = os.getcwd()
    os.chdir(workdir)
    try:
        if tables is not None:
            write_raw(Path("data/raw"), tables)
        run(params_for(ingest, vocabulary, as_of))
        return read_json("data/interim/tables.json")
    finally:
        os.chdir(old)


def project_params_text() -> str:
    """The project's params.yaml with base paths relative to the working directory, for CLI
    tests run in a temp dir (the CLI validates the whole file, so a fragment would fail)."""
    import yaml

    root = Path(__file__).resolve().parents[2]
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    params["base"].update({"raw_dir": "data/raw", "interim_dir": "data/interim", "as_of": None})
    return yaml.safe_dump(params, sort_keys=False, allow_unicode=True)


def interim(workdir: Path, table: str, quarantine: bool = False) -> pd.DataFrame:
    sub = "quarantine/" if quarantine else ""
    return pd.read_parquet(workdir / f"data/interim/{sub}{table}.parquet")
