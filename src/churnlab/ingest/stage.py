"""`churnlab ingest`: data/raw/ -> validated tables in data/interim/ (CONTRACTS.md §2)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnlab.config import base_path, metrics_path
from churnlab.errors import ConfigError, UserError
from churnlab.ingest.checks import last_contract_end
from churnlab.ingest.quality import accounts_without_events, date_coverage, row_counts
from churnlab.ingest.read import find_table_files, read_part
from churnlab.ingest.schemas import TABLE_ORDER, TABLES
from churnlab.ingest.table import (
    AccountContext,
    RowRules,
    TableState,
    check_part,
    finish_table,
)
from churnlab.io import write_json, write_parquet


@dataclass(frozen=True)
class Settings:
    source_timezone: str
    column_map: dict[str, dict[str, str]]
    required_tables: list[str]
    encoding: str
    rules: RowRules

    @classmethod
    def from_params(cls, cfg: dict[str, Any]) -> Settings:
        tz = str(cfg.get("source_timezone") or "UTC")
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"params.yaml: ingest.source_timezone '{tz}' is not an IANA time zone "
                "(expected e.g. UTC, Asia/Tokyo, America/New_York)"
            ) from None
        column_map = cfg.get("column_map") or {}
        if not isinstance(column_map, dict) or not all(
            isinstance(m, dict) for m in column_map.values()
        ):
            raise ConfigError("params.yaml: ingest.column_map must be {table: {their: ours}}")
        required = list(cfg.get("required_tables") or ["accounts", "contracts", "events"])
        for name in [*column_map, *required]:
            if name not in TABLES:
                raise ConfigError(
                    f"params.yaml: ingest names unknown table '{name}' "
                    f"(expected one of {', '.join(TABLES)})"
                )
        grace = cfg.get("grace_days", 30)
        if not isinstance(grace, int) or grace < 0:
            raise ConfigError(
                f"params.yaml: ingest.grace_days must be an integer >= 0, got {grace!r}"
            )
        nulls = cfg.get("null_values") or []
        if not isinstance(nulls, list) or "" in [str(v).strip() for v in nulls]:
            raise ConfigError(
                "params.yaml: ingest.null_values must be a list of non-blank strings "
                "(blank cells are always null)"
            )
        return cls(
            source_timezone=tz,
            column_map={t: {str(k): str(v) for k, v in m.items()} for t, m in column_map.items()},
            required_tables=required,
            encoding=str(cfg.get("encoding") or "utf-8"),
            rules=RowRules(tz, grace, tuple(str(v).strip() for v in nulls)),
        )


def ingest_table(files: list[Path], table: str, ctx: AccountContext, settings: Settings):
    """Read, check and split every file of one table."""
    spec = TABLES[table]
    state = TableState()
    accepted, quarantined, absent = [], [], set()
    for i, path in enumerate(files):
        part = read_part(path, spec, settings.column_map.get(table, {}), settings.encoding)
        ok, q = check_part(part, spec, ctx, state, settings.rules, more_files=i < len(files) - 1)
        accepted.append(ok)
        quarantined.append(q)
        absent.update(part.added_columns)
    typed, quarantine = finish_table(accepted, quarantined, spec)
    # A column counts as missing when no file of the table has it.
    missing = [c for c in spec.columns if c in absent and typed[c].isna().all()]
    return typed, quarantine, missing


def run(params: dict) -> None:
    settings = Settings.from_params(params.get("ingest") or {})
    raw_dir = base_path(params, "raw_dir")
    out_dir = base_path(params, "interim_dir")
    if not raw_dir.is_dir():
        raise UserError(f"{raw_dir}: raw data folder not found (expected base.raw_dir to exist)")
    files = {t: find_table_files(raw_dir, t) for t in TABLE_ORDER}
    missing = [t for t in settings.required_tables if files[t] is None]
    if missing:
        raise UserError(
            f"{raw_dir}/{missing[0]}.csv: required table '{missing[0]}' not found (expected "
            f"{missing[0]}.csv, {missing[0]}.parquet or a folder {missing[0]}/ in {raw_dir})"
        )

    ctx = AccountContext()
    summary: dict[str, Any] = {
        "rows": {},
        "date_coverage": {},
        "files": {},
        "missing_optional_columns": {},
    }
    present = [t for t in TABLE_ORDER if files[t] is not None]
    accounts = events = None
    for table in present:
        typed, quarantine, missing_columns = ingest_table(files[table], table, ctx, settings)
        counts = row_counts(typed, quarantine)
        if counts["read"] == 0 and table in settings.required_tables:
            raise UserError(
                f"{files[table][0]}: required table '{table}' has no data rows "
                "(expected a header and at least one row)"
            )
        write_parquet(typed, out_dir / f"{table}.parquet")
        write_parquet(quarantine, out_dir / "quarantine" / f"{table}.parquet")
        if counts["accepted"] == 0 and table in settings.required_tables:
            top = max(counts["by_reason"], key=counts["by_reason"].get)
            raise UserError(
                f"{files[table][0]}: none of the {counts['read']} rows of required table "
                f"'{table}' passed validation (most common reason: {top}; column by column "
                f"in {out_dir}/quarantine/{table}.parquet)"
            )
        summary["rows"][table] = counts
        summary["date_coverage"][table] = date_coverage(typed, TABLES[table])
        summary["files"][table] = [str(p) for p in files[table]]
        if missing_columns:
            summary["missing_optional_columns"][table] = missing_columns
        if table == "accounts":
            accounts = typed
            ctx.accounts = typed[["account_id", "signup_date"]]
        elif table == "contracts":
            ctx.last_end = last_contract_end(typed)
        elif table == "events":
            events = typed

    # Outputs of tables absent this time must not linger from an earlier run.
    for table in TABLE_ORDER:
        if files[table] is None:
            for stale in (
                out_dir / f"{table}.parquet",
                out_dir / "quarantine" / f"{table}.parquet",
            ):
                stale.unlink(missing_ok=True)

    summary["present"] = present
    summary["missing_optional"] = [t for t in TABLE_ORDER if files[t] is None]
    summary["accounts_without_events"] = (
        accounts_without_events(accounts, events)
        if accounts is not None and events is not None
        else None
    )
    summary["source_timezone"] = settings.source_timezone
    write_json(out_dir / "tables.json", summary)
    write_json(metrics_path("ingest"), _metrics(summary))


def _metrics(summary: dict) -> dict:
    """The small DVC metrics file: counts only, zero reasons dropped to keep it readable."""
    rows = {
        t: {
            "read": c["read"],
            "accepted": c["accepted"],
            "quarantined": c["quarantined"],
            "quarantined_by_reason": {k: v for k, v in c["by_reason"].items() if v},
        }
        for t, c in summary["rows"].items()
    }
    by_reason: dict[str, int] = {}
    for c in summary["rows"].values():
        for k, v in c["by_reason"].items():
            if v:
                by_reason[k] = by_reason.get(k, 0) + v
    return {
        "tables": rows,
        "quarantined_by_reason": by_reason,
        "accounts_without_events": summary["accounts_without_events"],
        "date_coverage": summary["date_coverage"],
        "tables_missing_optional": len(summary["missing_optional"]),
    }
