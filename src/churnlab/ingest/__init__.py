"""Ingest: validate raw exports (CSV/Parquet) into typed tables, quarantining bad rows.

Modules, in the order data flows through them:
- `schemas`: the raw data contract declared once (column kinds, pandera schemas, reason codes);
- `read`: finding a table's files and reading them; file-level problems raise UserError;
- `parse`: vectorised parsing of raw values into the contract's types;
- `checks`: row checks (pandera schema, duplicates, accounts/contracts), as reason masks;
- `table`: one table file by file -> accepted rows + quarantine;
- `quality`: counts and coverage for tables.json and metrics/ingest.json;
- `stage`: `churnlab ingest` (reads params, runs the above, writes data/interim/).
"""
