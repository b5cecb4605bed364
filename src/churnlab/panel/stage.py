"""`churnlab panel`: interim tables -> data/processed/panel.parquet + panel_meta.json.

Reads `data/interim/tables.json` to learn which tables exist, builds the panel query for
every indicator whose tables are present, runs it on DuckDB (or Spark with
`panel.engine: spark`) and writes the panel, its metadata and metrics/panel.json.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from churnlab.config import base_path, metrics_path
from churnlab.errors import ConfigError, UserError
from churnlab.indicators.blocks import EPOCH_MONDAY, Settings
from churnlab.indicators.catalog import CATALOG, testability
from churnlab.io import read_json, write_json, write_parquet
from churnlab.panel.engines import finish, run_duckdb, run_spark, spark_session
from churnlab.panel.query import as_of_query, panel_steps, select_indicators

# Columns the panel SQL reads, per table (ingest guarantees them; checked for a clear error).
USED_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "segment", "customer_goal"),
    "contracts": (
        "contract_id",
        "account_id",
        "start_date",
        "end_date",
        "billing_period",
        "mrr",
        "seats",
    ),
    "events": ("account_id", "user_id", "occurred_at", "event_type"),
    "users": ("user_id", "account_id", "role", "activated_at"),
    "tickets": ("account_id", "opened_at", "first_response_at", "category"),
    "surveys": ("survey_id", "account_id", "sent_at", "answered_at", "nps_score"),
    "touchpoints": ("account_id", "occurred_at", "kind"),
    "csm_assignments": ("account_id", "csm_id", "start_date"),
    "milestones": ("account_id", "milestone", "achieved_at"),
}
ENGINES = ("duckdb", "spark")


def settings_from_params(panel: dict[str, Any], has_plan: bool) -> Settings:
    """Validate the `panel:` section and turn it into SQL settings."""
    if panel.get("freq", "W-MON") != "W-MON":
        raise ConfigError(
            f"params.yaml: panel.freq={panel.get('freq')!r} is not supported (only 'W-MON')"
        )
    ints = {}
    for key in ("trailing_weeks", "mau_weeks", "window_weeks", "csm_change_weeks"):
        ints[key] = _positive_int(panel, key, 4 if key != "csm_change_weeks" else 8)
    nps_days = panel.get("nps_answer_days", 14)
    if not isinstance(nps_days, int) or nps_days < 0:
        raise ConfigError(
            f"params.yaml: panel.nps_answer_days must be an integer >= 0, got {nps_days!r}"
        )
    as_of = panel.get("as_of")
    if as_of is not None:
        try:
            as_of = dt.date.fromisoformat(str(as_of)).isoformat()
        except ValueError as exc:
            raise ConfigError(
                f"params.yaml: panel.as_of={as_of!r} is not a date (YYYY-MM-DD) or null"
            ) from exc
    return Settings(as_of=as_of, nps_answer_days=nps_days, has_plan=has_plan, **ints)


def _positive_int(panel: dict[str, Any], key: str, default: int) -> int:
    value = panel.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"params.yaml: panel.{key} must be an integer >= 1, got {value!r}")
    return value


def check_columns(paths: dict[str, Path]) -> dict[str, set[str]]:
    """Column names of each interim table; a missing used column is a UserError."""
    columns: dict[str, set[str]] = {}
    for table, path in paths.items():
        if not path.exists():
            raise UserError(f"{path}: listed as present in tables.json but the file is missing")
        columns[table] = set(pq.read_schema(path).names)
        missing = [c for c in USED_COLUMNS.get(table, ()) if c not in columns[table]]
        if missing:
            raise UserError(f"{path}: column(s) {', '.join(missing)} missing (re-run ingest)")
    return columns


def panel_meta(panel: pd.DataFrame, as_of: str, reasons: dict[str, str | None]) -> dict[str, Any]:
    """panel_meta.json content (CONTRACTS §3)."""
    indicators = {
        ind.id: {
            "label": ind.label,
            "meaning": ind.meaning,
            "unit": ind.unit,
            "tables": list(ind.tables),
            "group": ind.group,
            "testable": reasons[ind.id] is None,
            "reason": reasons[ind.id],
        }
        for ind in CATALOG
    }
    return {
        "as_of": as_of,
        "n_accounts": int(panel["account_id"].nunique()),
        "n_rows": len(panel),
        "n_events": int(panel["event"].sum()),
        "indicators": indicators,
    }


def run(params: dict) -> None:
    interim = base_path(params, "interim_dir")
    processed = base_path(params, "processed_dir")
    panel_params = params.get("panel") or {}
    engine = panel_params.get("engine", "duckdb")
    if engine not in ENGINES:
        raise ConfigError(f"params.yaml: panel.engine={engine!r}; expected one of {ENGINES}")

    tables_json = interim / "tables.json"
    if not tables_json.exists():
        raise UserError(f"{tables_json}: not found (run `churnlab ingest` first)")
    present = set(read_json(tables_json).get("present", []))
    for required in ("accounts", "contracts", "events"):
        if required not in present:
            raise UserError(f"{tables_json}: required table {required!r} is not present")
    paths = {t: interim / f"{t}.parquet" for t in sorted(present) if t in USED_COLUMNS}
    columns = check_columns(paths)

    settings = settings_from_params(panel_params, has_plan="plan" in columns["contracts"])
    indicators = select_indicators(set(paths))
    sql = panel_steps(indicators, settings)
    as_of_sql = as_of_query(settings)
    if engine == "spark":
        spark = spark_session(master=panel_params.get("spark_master", "local[2]"))
        raw = run_spark(spark, paths, sql)
        as_of_dn = run_spark(spark, paths, as_of_sql)["asof_dn"].iloc[0]
    else:
        raw = run_duckdb(paths, sql)
        as_of_dn = run_duckdb(paths, as_of_sql)["asof_dn"].iloc[0]
    panel = finish(raw)
    as_of = (pd.Timestamp(EPOCH_MONDAY) + pd.Timedelta(days=int(as_of_dn))).date().isoformat()

    reasons = testability(set(paths))
    meta = panel_meta(panel, as_of, reasons)
    write_parquet(panel, processed / "panel.parquet")
    write_json(processed / "panel_meta.json", meta)
    n_testable = sum(1 for r in reasons.values() if r is None)
    write_json(
        metrics_path("panel"),
        {
            "rows": meta["n_rows"],
            "accounts": meta["n_accounts"],
            "events": meta["n_events"],
            "indicators_testable": n_testable,
            "indicators_not_testable": len(reasons) - n_testable,
        },
    )
