"""The panel as a Spark application, for `spark-submit` against a cluster (docs/SPARK.md).

    spark-submit --master yarn --deploy-mode client --driver-memory 2g \\
        --conf spark.sql.shuffle.partitions=400 \\
        -m churnlab.panel.spark_job ...   # (see docs/SPARK.md for the launcher line)
    python -m churnlab.panel.spark_job --interim s3a://bucket/co/interim \\
        --out s3a://bucket/co/processed/panel.parquet --meta panel_meta.json \\
        --tables-json data/interim/tables.json --params params.yaml

The same SQL as `churnlab panel` (catalog, user indicators, vocabulary, `panel:` params from
--params), run by the executors: they read the interim Parquet (`--interim`, any Hadoop file
system URI) and write the panel as a folder of Parquet parts (`--out`); the driver only
plans, and receives the few numbers panel_meta.json needs. The input checks of the stage
(columns present, spells well formed) are ingest's contract and are not repeated here:
run `churnlab ingest` (or its Spark equivalent) first. Master, driver memory and other
settings come from spark-submit; `--master` / `--driver-memory` override them for a
`python -m` run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from churnlab.indicators.catalog import CATALOG, testability
from churnlab.indicators.user import compile_user_indicators, load_user_definitions
from churnlab.io import write_json
from churnlab.panel.engines import run_spark, spark_session, summarise_spark
from churnlab.panel.query import panel_steps, select_indicators
from churnlab.panel.stage import (
    HISTORY_FILES,
    NOT_COMPUTED,
    TIME_COLUMNS,
    USED_COLUMNS,
    panel_meta,
    read_tables_json,
    requested_indicators,
    settings_from_params,
)


def build(
    interim: str, history: dict[str, Any], params: dict[str, Any], has_plan: bool = True
) -> tuple[dict[str, str], list[tuple[str, str]], list, set[str] | None]:
    """Source URIs, panel steps, every indicator (for the meta) and the requested ids.
    `history`: tables.json content ("present", "as_of")."""
    panel_params = params.get("panel") or {}
    present = set(history["present"])
    tables = ["accounts", *HISTORY_FILES, *(t for t in sorted(present) if t in USED_COLUMNS)]
    paths = {t: f"{interim.rstrip('/')}/{t}.parquet" for t in dict.fromkeys(tables)}
    settings = settings_from_params(
        panel_params, has_plan=has_plan, as_of=history["as_of"], vocabulary=params.get("vocabulary")
    )
    user = compile_user_indicators(load_user_definitions(panel_params, settings))
    every = [*CATALOG, *user]
    wanted = requested_indicators(panel_params, every)
    steps = panel_steps(select_indicators(present, user, wanted), settings)
    return paths, steps, every, wanted


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Build the churnlab panel on Spark.")
    ap.add_argument("--interim", required=True, help="folder (URI) of ingest's Parquet tables")
    ap.add_argument("--out", required=True, help="panel folder (URI) to write, overwritten")
    ap.add_argument("--tables-json", required=True, type=Path, help="ingest's tables.json")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--meta", type=Path, help="where to write panel_meta.json (local)")
    ap.add_argument("--master", help="Spark master (default: spark-submit's)")
    ap.add_argument("--driver-memory", help="only for a local `python -m` run")
    ap.add_argument("--no-plan", action="store_true", help="contract_terms has no plan column")
    args = ap.parse_args(argv)

    history = read_tables_json(args.tables_json)
    params = yaml.safe_load(args.params.read_text()) if args.params.exists() else {}
    paths, steps, every, wanted = build(args.interim, history, params, not args.no_plan)
    panel_params = params.get("panel") or {}
    spark = spark_session(
        master=args.master,
        driver_memory=args.driver_memory,
        conf=panel_params.get("spark_conf") or {},
    )
    run_spark(spark, paths, steps, out=args.out, time_columns=TIME_COLUMNS)
    summary = summarise_spark(spark, args.out)
    reasons = testability(set(history["present"]), every)
    if wanted is not None:
        reasons = {
            k: (NOT_COMPUTED if r is None and k not in wanted else r) for k, r in reasons.items()
        }
    if args.meta:
        write_json(args.meta, panel_meta(summary, history, reasons, every))
    print(
        f"panel: {summary['n_rows']:,} rows, {summary['n_accounts']:,} accounts, "
        f"{summary['n_events']:,} churn events -> {args.out}"
    )


if __name__ == "__main__":
    main()
