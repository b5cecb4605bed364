"""Streaming writers: each output table is appended block by block, so memory stays bounded
by one partition of accounts however large the company is.

Parquet (clean mode) uses fixed Arrow schemas (the raw data contract's types) and the same
settings as `churnlab.io.write_parquet` (zstd, no index); CSV (messy mode) writes strings.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

TS = pa.timestamp("us", tz="UTC")
STR = pa.string()
SCHEMAS: dict[str, pa.Schema] = {
    "accounts": pa.schema(
        [
            ("account_id", STR),
            ("name", STR),
            ("signup_date", pa.date32()),
            ("segment", STR),
            ("customer_goal", STR),
            ("region", STR),
        ]
    ),
    "contracts": pa.schema(
        [
            ("contract_id", STR),
            ("account_id", STR),
            ("start_date", pa.date32()),
            ("end_date", pa.date32()),
            ("billing_period", STR),
            ("plan", STR),
            ("mrr", pa.float64()),
            ("seats", pa.int64()),
            ("cancelled_at", pa.date32()),
            ("cancel_reason", STR),
        ]
    ),
    "users": pa.schema(
        [
            ("user_id", STR),
            ("account_id", STR),
            ("role", STR),
            ("invited_at", TS),
            ("activated_at", TS),
        ]
    ),
    "events": pa.schema(
        [("account_id", STR), ("user_id", STR), ("occurred_at", TS), ("event_type", STR)]
    ),
    "tickets": pa.schema(
        [
            ("ticket_id", STR),
            ("account_id", STR),
            ("opened_at", TS),
            ("first_response_at", TS),
            ("closed_at", TS),
            ("category", STR),
        ]
    ),
    "surveys": pa.schema(
        [
            ("survey_id", STR),
            ("account_id", STR),
            ("user_id", STR),
            ("sent_at", TS),
            ("answered_at", TS),
            ("nps_score", pa.int64()),
        ]
    ),
    "touchpoints": pa.schema(
        [("account_id", STR), ("occurred_at", TS), ("kind", STR), ("csm_id", STR)]
    ),
    "csm_assignments": pa.schema(
        [
            ("account_id", STR),
            ("csm_id", STR),
            ("start_date", pa.date32()),
            ("end_date", pa.date32()),
        ]
    ),
    "milestones": pa.schema([("account_id", STR), ("milestone", STR), ("achieved_at", TS)]),
}


def arrow_table(name: str, df: pd.DataFrame) -> pa.Table:
    """A block's table with the contract's Arrow types (all-null columns keep their type)."""
    return pa.Table.from_pandas(df, schema=SCHEMAS[name], preserve_index=False)


def string_table(df: pd.DataFrame) -> pa.Table:
    return pa.table({c: pa.array(df[c].to_numpy(), STR) for c in df.columns})


class Sink:
    """One output file written in pieces: Parquet with a fixed schema, or CSV of strings."""

    def __init__(self, path: Path, schema: pa.Schema, csv: bool):
        self.path = path
        self.schema = pa.schema([(f.name, STR) for f in schema]) if csv else schema
        self.csv = csv
        self._writer = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.csv:
                options = pacsv.WriteOptions(quoting_style="needed")
                self._writer = pacsv.CSVWriter(self.path, self.schema, write_options=options)
            else:
                self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._writer.write_table(table.cast(self.schema))

    def close(self) -> None:
        if self._writer is None:  # nothing written: still leave a file with the header/schema
            self.write(self.schema.empty_table())
        self._writer.close()
