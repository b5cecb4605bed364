"""Ingest: validate raw exports (CSV/Parquet) into typed tables, quarantining bad rows.

Modules, in the order data flows through them:
- `schemas`: the raw data contract declared once (column kinds, pandera schemas, reason codes);
- `read`: finding a table's files and reading them; file-level problems raise UserError;
- `parse`: vectorised parsing of raw values into the contract's types;
- `checks`: row checks (pandera schema, duplicates, accounts/contracts), as reason masks;
- `table`: one table file by file -> accepted rows + quarantine;
- `spill`: accepted rows staged file by file, de-duplicated across files and sorted out of
  core by DuckDB (bounded memory; fixed threads and memory limit), written in row groups;
- `quality`: counts and coverage for tables.json and metrics/ingest.json;
- `vocabulary`: the `vocabulary` params that map the user's labels onto closed columns;
- `as_of`: the pipeline's one as-of date, snapshot detection, end-of-data warnings;
- `history`: accepted contract rows -> non-overlapping terms and spells (churn, reactivation,
  censoring);
- `stage`: `churnlab ingest` (reads params, runs the above, writes data/interim/).
"""
