"""`churnlab panel`: interim tables -> data/processed/panel.parquet + panel_meta.json.

Reads `data/interim/tables.json` (which tables exist, the pipeline's `as_of`, snapshot or
not), ingest's `spells.parquet` and `contract_terms.parquet` (the spine and the contract
values), builds the panel query for every indicator whose tables are present (the catalog
plus the user's `panel.indicators_file`; `panel.indicators` may name fewer, and only the
blocks those need run), runs it on DuckDB (or Spark with `panel.engine: spark`), which
writes the panel file itself, then its metadata and metrics/panel.json. The panel never
passes through pandas: memory stays within the engine's bound.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from churnlab.config import base_path, metrics_path
from churnlab.errors import ConfigError, UserError
from churnlab.indicators.blocks import Settings
from churnlab.indicators.catalog import CATALOG, Indicator, testability
from churnlab.indicators.user import (
    USERS_PREFIX,
    columns_used,
    compile_user_indicators,
    load_user_definitions,
)
from churnlab.indicators.vocabulary import vocabulary_from_params
from churnlab.io import read_json, write_json, write_metrics
from churnlab.panel.engines import run_duckdb, run_spark, spark_session, summarise_duckdb
from churnlab.panel.label_check import label_warnings
from churnlab.panel.query import ATTRIBUTES, PANEL_ROW_KEYS, panel_steps, select_indicators

# Columns the panel SQL reads, per file (ingest guarantees them; checked for a clear error).
USED_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "segment", "customer_goal", "region"),
    "contract_terms": (
        "account_id",
        "spell",
        "contract_id",
        "start_date",
        "contract_start",
        "billing_period",
        "mrr",
        "seats",
    ),
    "spells": ("account_id", "spell", "start_date", "end_date", "churned"),
    "events": ("account_id", "user_id", "occurred_at", "event_type"),
    "users": ("user_id", "account_id", "role", "activated_at"),
    "tickets": ("account_id", "opened_at", "first_response_at", "category"),
    "surveys": ("survey_id", "account_id", "sent_at", "answered_at", "nps_score"),
    "touchpoints": ("account_id", "occurred_at", "kind"),
    "csm_assignments": ("account_id", "csm_id", "start_date"),
    "milestones": ("account_id", "milestone", "achieved_at"),
}
# The timestamp / date columns among them: Spark reads pandas' nanosecond Parquet times as
# longs and converts these (engines.read_spark_table).
TIME_COLUMNS: dict[str, frozenset[str]] = {
    "contract_terms": frozenset({"start_date", "contract_start"}),
    "spells": frozenset({"start_date", "end_date"}),
    "events": frozenset({"occurred_at"}),
    "users": frozenset({"activated_at", "invited_at"}),
    "tickets": frozenset({"opened_at", "first_response_at"}),
    "surveys": frozenset({"sent_at", "answered_at"}),
    "touchpoints": frozenset({"occurred_at"}),
    "csm_assignments": frozenset({"start_date", "end_date"}),
    "milestones": frozenset({"achieved_at"}),
}
# Files ingest derives from contracts (not listed in tables.json "present").
HISTORY_FILES = ("contract_terms", "spells")
ENGINES = ("duckdb", "spark")
NOT_COMPUTED = "not computed (not named in params panel.indicators)"


def settings_from_params(
    panel: dict[str, Any], has_plan: bool, as_of: str | None, vocabulary: Any = None
) -> Settings:
    """Validate the `panel:` and `vocabulary:` sections and turn them into SQL settings."""
    if panel.get("as_of") is not None:
        raise ConfigError(
            f"params.yaml: panel.as_of={panel.get('as_of')!r} is no longer read; set base.as_of "
            "instead (the one as-of date of the whole pipeline, applied by ingest)"
        )
    if panel.get("freq", "W-MON") != "W-MON":
        raise ConfigError(
            f"params.yaml: panel.freq={panel.get('freq')!r} is not supported (only 'W-MON')"
        )
    ints = {}
    for key in ("trailing_weeks", "mau_weeks", "window_weeks", "csm_change_weeks"):
        ints[key] = _positive_int(panel, key, 4 if key != "csm_change_weeks" else 8)
    nps_days = panel.get("nps_answer_days", 14)
    if not isinstance(nps_days, int) or isinstance(nps_days, bool) or nps_days < 0:
        raise ConfigError(
            f"params.yaml: panel.nps_answer_days must be an integer >= 0, got {nps_days!r}"
        )
    return Settings(
        as_of=as_of,
        nps_answer_days=nps_days,
        has_plan=has_plan,
        vocabulary=vocabulary_from_params(vocabulary),
        **ints,
    )


def _positive_int(panel: dict[str, Any], key: str, default: int) -> int:
    value = panel.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"params.yaml: panel.{key} must be an integer >= 1, got {value!r}")
    return value


def check_columns(
    paths: dict[str, Path], extra: dict[str, set[str]] | None = None
) -> dict[str, set[str]]:
    """Column names of each interim file; a missing used column is a UserError. `extra`:
    more columns per table that must exist (those user indicators read)."""
    columns: dict[str, set[str]] = {}
    for table, path in paths.items():
        if not path.exists():
            why = (
                "written by ingest v2 (re-run `churnlab ingest`)"
                if table in HISTORY_FILES
                else "listed as present in tables.json"
            )
            raise UserError(f"{path}: not found ({why})")
        columns[table] = set(pq.read_schema(path).names)
        used = [*USED_COLUMNS.get(table, ()), *sorted((extra or {}).get(table, ()))]
        missing = [c for c in dict.fromkeys(used) if c not in columns[table]]
        if missing:
            raise UserError(f"{path}: column(s) {', '.join(missing)} missing (re-run ingest)")
    return columns


def check_spells(path: Path) -> int:
    """The spells file must give one spine per account: spells numbered 1.., in order, every
    one but the last churned, and a week between a churn and the next start (ingest's
    reactivation_gap_days >= 7 guarantees it). Returns the number of spells."""
    sp = pd.read_parquet(path, columns=["account_id", "spell", "start_date", "end_date", "churned"])
    sp = sp.sort_values(["account_id", "spell"], kind="stable")
    same = sp["account_id"].eq(sp["account_id"].shift())
    first = ~sp["account_id"].eq(sp["account_id"].shift())
    prev_churned = sp["churned"].astype(bool).shift(fill_value=False)
    bad = (first & sp["spell"].ne(1)) | (
        same
        & (
            sp["spell"].ne(sp["spell"].shift() + 1)
            | ~prev_churned
            | (_week(sp["start_date"]) <= _week(sp["end_date"].shift()))
        )
    )
    if bad.any():
        row = sp[bad].iloc[0]
        raise UserError(
            f"{path}: account {row['account_id']!r} spell {row['spell']}: spells must be "
            "numbered 1.. in time order, each but the last churned, and start in a later "
            "week than the previous churn (re-run ingest)"
        )
    return len(sp)


def _week(dates: pd.Series) -> pd.Series:
    d = pd.to_datetime(dates)
    return (d - pd.Timestamp("1970-01-05")).dt.days // 7


def indicator_entry(ind: Indicator, reason: str | None) -> dict[str, Any]:
    return {
        "label": ind.label,
        "meaning": ind.meaning,
        "unit": ind.unit,
        "tables": list(ind.tables),
        "group": ind.group,
        "source": ind.source,
        "testable": reason is None,
        "reason": reason,
    }


def summarise_frame(panel: pd.DataFrame) -> dict[str, Any]:
    """The summary panel_meta needs, from a panel in pandas (what the engines compute with
    query.SUMMARY_SQL over the written file)."""
    return {
        "n_accounts": int(panel["account_id"].nunique()),
        "n_spells": int(panel[["account_id", "spell"]].drop_duplicates().shape[0]),
        "n_rows": len(panel),
        "n_events": int(panel["event"].sum()),
        "attributes": {
            col: sorted({str(v) for v in panel[col].dropna().unique()}) for col in ATTRIBUTES
        },
    }


def panel_meta(
    summary: dict[str, Any],
    history: dict[str, Any],
    reasons: dict[str, str | None],
    indicators: list[Indicator] | tuple[Indicator, ...] = CATALOG,
) -> dict[str, Any]:
    """panel_meta.json content (CONTRACTS §3). `summary`: counts and attribute values of
    the written panel (engines.summarise_duckdb / summarise_spark / summarise_frame);
    `history`: tables.json "as_of", "as_of_source" and "snapshot"."""
    return {
        "as_of": history["as_of"],
        "as_of_source": history.get("as_of_source"),
        "snapshot": bool(history["snapshot"]),
        "n_accounts": summary["n_accounts"],
        "n_spells": summary["n_spells"],
        "n_rows": summary["n_rows"],
        "n_events": summary["n_events"],
        "attributes": summary["attributes"],
        "indicators": {ind.id: indicator_entry(ind, reasons[ind.id]) for ind in indicators},
    }


def requested_indicators(panel: dict[str, Any], known: list[Indicator]) -> set[str] | None:
    """`panel.indicators`: "all" / absent (None: every indicator) or a list of ids to
    compute; the others keep their meta entry, marked not computed. Unknown ids are a
    ConfigError naming the key and the id."""
    value = panel.get("indicators", "all")
    if value is None or value == "all":
        return None
    ids = {ind.id for ind in known}
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f'params.yaml: panel.indicators must be "all" or a list of indicator ids, got {value!r}'
        )
    unknown = [v for v in value if v not in ids]
    if unknown:
        raise ConfigError(
            f"params.yaml: panel.indicators names unknown indicator {unknown[0]!r} "
            "(see the catalog and panel.indicators_file)"
        )
    return set(value)


ACTIVITY_TABLES = ("events", "tickets", "surveys", "touchpoints", "milestones", "users")


def read_tables_json(path: Path) -> dict[str, Any]:
    """tables.json -> {"present": set, "as_of", "as_of_source", "snapshot"}; accounts and
    contracts must be present and as_of given (ingest v2)."""
    if not path.exists():
        raise UserError(f"{path}: not found (run `churnlab ingest` first)")
    info = read_json(path)
    present = set(info.get("present", []))
    for required in ("accounts", "contracts"):
        if required not in present:
            raise UserError(f"{path}: table {required!r} is not present (the panel needs it)")
    as_of = info.get("as_of")
    if not as_of:
        raise UserError(f'{path}: no "as_of" date (written by ingest v2: re-run ingest)')
    snapshot = info.get("snapshot")
    if snapshot is None:
        snapshot = not present & set(ACTIVITY_TABLES)
    return {
        "present": present,
        "as_of": str(as_of),
        "as_of_source": info.get("as_of_source"),
        "snapshot": bool(snapshot),
    }


def run(params: dict) -> None:
    interim = base_path(params, "interim_dir")
    processed = base_path(params, "processed_dir")
    panel_params = params.get("panel") or {}
    engine = panel_params.get("engine", "duckdb")
    if engine not in ENGINES:
        raise ConfigError(f"params.yaml: panel.engine={engine!r}; expected one of {ENGINES}")

    history = read_tables_json(interim / "tables.json")
    present = history["present"]
    tables = ["accounts", *HISTORY_FILES, *(t for t in sorted(present) if t in USED_COLUMNS)]
    paths = {t: interim / f"{t}.parquet" for t in dict.fromkeys(tables)}
    columns = check_columns(paths)
    settings = settings_from_params(
        panel_params,
        has_plan="plan" in columns["contract_terms"],
        as_of=history["as_of"],
        vocabulary=params.get("vocabulary"),
    )
    definitions = load_user_definitions(panel_params, settings)
    user = compile_user_indicators(definitions)
    used = {t: c for t, c in columns_used(definitions).items() if t in paths}
    check_columns({t: paths[t] for t in used}, used)
    check_spells(paths["spells"])

    warnings = label_warnings(
        settings.vocabulary.labels, where_filters(definitions), {t: paths[t] for t in paths}
    )
    for line in warnings:
        # a typo'd label silently zeroes an indicator: say so where the user runs the stage
        print(f"churnlab panel: warning: {line}", file=sys.stderr)

    every = [*CATALOG, *user]
    wanted = requested_indicators(panel_params, every)
    indicators = select_indicators(present, user, wanted)
    steps = panel_steps(indicators, settings)
    out = processed / "panel.parquet"
    summary = write_panel(paths, steps, out, panel_params, engine)

    reasons = testability(present, every)
    if wanted is not None:
        reasons = {
            k: (NOT_COMPUTED if r is None and k not in wanted else r) for k, r in reasons.items()
        }
    meta = panel_meta(summary, history, reasons, every)
    meta["label_warnings"] = warnings
    write_json(processed / "panel_meta.json", meta)
    n_testable = sum(1 for r in reasons.values() if r is None)
    write_metrics(
        metrics_path("panel"),
        {
            "rows": meta["n_rows"],
            "accounts": meta["n_accounts"],
            "spells": meta["n_spells"],
            "events": meta["n_events"],
            "indicators_testable": n_testable,
            "indicators_not_testable": len(reasons) - n_testable,
            "user_indicators": len(user),
        },
    )


def where_filters(definitions) -> list[tuple[str, str, str, tuple]]:
    """(indicator id, table, column, values) of every user indicator's `where` filter; a
    `users.<column>` filter is matched against the users table."""
    out = []
    for d in definitions:
        for column, values in d.where:
            if column.startswith(USERS_PREFIX):
                out.append((d.id, "users", column[len(USERS_PREFIX) :], values))
            elif d.table:
                out.append((d.id, d.table, column, values))
    return out


def write_panel(
    paths: dict[str, Path],
    steps: list[tuple[str, str]],
    out: Path,
    panel_params: dict[str, Any],
    engine: str,
) -> dict[str, Any]:
    """Run the steps on the engine, which writes the panel to `out` (a file from DuckDB, a
    folder of parts from Spark; written beside it and moved into place, so a failed run
    leaves no half-written panel); returns its summary for panel_meta."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    _remove(tmp)
    if engine == "spark":
        spark = spark_session(
            master=panel_params.get("spark_master", "local[2]"),
            driver_memory=panel_params.get("spark_driver_memory", "1g"),
            conf=panel_params.get("spark_conf") or {},
        )
        run_spark(spark, paths, steps, out=str(tmp), time_columns=TIME_COLUMNS)
    else:
        run_duckdb(
            paths,
            steps,
            memory_limit=panel_params.get("duckdb_memory_limit", "4GB"),
            out=tmp,
            row_keys=PANEL_ROW_KEYS,
        )
    _remove(out)
    tmp.rename(out)
    return summarise_duckdb(out)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
