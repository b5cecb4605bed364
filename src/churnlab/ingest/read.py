"""Finding and reading raw table files; every file-level problem becomes one clear UserError.

A table is `<table>.csv`, `<table>.csv.gz`, `<table>.parquet` or a folder `<table>/` of such
part files. CSV values are read as strings (blank = ""), so parsing and the quarantine see
exactly what the user wrote; Parquet keeps its stored types.
"""

from __future__ import annotations

import codecs
import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from churnlab.errors import UserError
from churnlab.ingest.schemas import TableSpec

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
# Tables are named by their file stem; anything else in data/raw (ground_truth.json, ...)
# is not ours to read. A file whose stem is a table name but with another suffix is an error.


@dataclass
class RawPart:
    """One file of a table: its values plus where each row came from."""

    path: Path
    frame: pd.DataFrame  # columns renamed to ours; CSV: all strings
    source_row: np.ndarray  # 1-based data row in the file, per frame row
    malformed: pd.DataFrame  # CSV lines that could not be split into the header's columns
    added_columns: list[str]  # optional contract columns the file lacked (added as null)


def _string_mapper(arrow_type: pa.DataType):
    if arrow_type in (pa.string(), pa.large_string()):
        return pd.StringDtype("pyarrow")
    return None


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in CSV_SUFFIXES + PARQUET_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _stem(path: Path) -> str:
    suffix = _suffix(path)
    return path.name[: -len(suffix)] if suffix else path.name


def find_table_files(raw_dir: Path, table: str) -> list[Path] | None:
    """The files holding `table` (sorted), or None when the table is absent."""
    candidates = [
        p for p in sorted(raw_dir.iterdir()) if p.is_file() and not p.name.startswith((".", "_"))
    ]
    files = [p for p in candidates if _stem(p) == table]
    folder = raw_dir / table
    if folder.is_dir():
        if files:
            raise UserError(
                f"{files[0]}: table '{table}' is given both as this file and as folder "
                f"{folder}/; expected exactly one of them"
            )
        # Spark/DVC leave marker files (_SUCCESS, .crc); only real parts count.
        files = [
            p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith((".", "_"))
        ]
        if not files:
            raise UserError(f"{folder}/: folder for table '{table}' holds no part files")
    if not files:
        return None
    if len(files) > 1 and not folder.is_dir():
        raise UserError(
            f"{files[0]}: table '{table}' is given by several files "
            f"({', '.join(p.name for p in files)}); expected one file or a folder of parts"
        )
    for p in files:
        if _suffix(p) not in CSV_SUFFIXES + PARQUET_SUFFIXES:
            raise UserError(
                f"{p}: unsupported file type '{_suffix(p) or p.name}' for table '{table}'; "
                "expected .csv, .csv.gz or .parquet"
            )
    return files


def _first_line(path: Path) -> bytes:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        return fh.readline()


def _csv_header(path: Path, encoding: str) -> list[str]:
    # Decode only the header line, so a bad byte further down is reported with its column.
    try:
        raw = _first_line(path)
        if raw.startswith(b"PAR1"):
            raise UserError(
                f"{path}: this is a Parquet file; expected CSV text (rename it .parquet)"
            )
        line = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: header row is not valid {encoding} text ({exc.reason} at byte "
            f"{exc.start}); expected {encoding} (set ingest.encoding, e.g. cp932 for Shift-JIS)"
        ) from None
    except LookupError:
        raise UserError(
            f"params.yaml: ingest.encoding '{encoding}' is not a known encoding"
        ) from None
    except (OSError, EOFError) as exc:
        raise UserError(f"{path}: cannot read as CSV ({exc}); expected a CSV file") from None
    header = next(csv.reader([line.lstrip("\ufeff")]), None)  # Excel's byte-order mark
    if not header or all(not h.strip() for h in header):
        raise UserError(f"{path}: empty file; expected a header row naming the columns")
    return [h.strip() for h in header]


def _arrow_csv(path: Path, names: list[str], encoding: str, threads: bool):
    bad_lines: list[tuple[int, str]] = []

    def on_invalid(row) -> str:  # ragged line: quarantine it instead of stopping
        bad_lines.append((-1 if row.number is None else int(row.number), row.text))
        return "skip"

    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(
            encoding=codecs.lookup(encoding).name,
            column_names=names,
            skip_rows=1,
            use_threads=threads,
        ),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table, bad_lines


def _read_csv(path: Path, encoding: str) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    names = _csv_header(path, encoding)
    if "" in names:
        raise UserError(
            f"{path}: column {names.index('') + 1} of the header is blank; "
            "expected every column to have a name"
        )
    try:
        table, bad_lines = _arrow_csv(path, names, encoding, threads=True)
        if bad_lines:
            # Only a single-threaded read knows where a ragged line sits in the file.
            table, bad_lines = _arrow_csv(path, names, encoding, threads=False)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        msg = str(exc)
        column = ""
        if "CSV column #" in msg:
            idx = int(msg.split("CSV column #")[1].split(":")[0])
            column = f" in column '{names[idx]}'" if idx < len(names) else ""
        if "UTF8" in msg or isinstance(exc, UnicodeDecodeError):
            raise UserError(
                f"{path}: text{column} is not valid {encoding}; expected {encoding} "
                "(set ingest.encoding, e.g. cp932 for Shift-JIS exports)"
            ) from None
        raise UserError(
            f"{path}: cannot parse as CSV{column} ({msg}); expected a CSV file"
        ) from None
    frame = table.to_pandas(types_mapper=_string_mapper)
    # Row numbers count the header row; data rows are 1-based after it.
    skipped = np.array([n - 1 for n, _ in bad_lines if n > 0], dtype=np.int64)
    kept = np.ones(len(frame) + len(bad_lines), dtype=bool)
    kept[skipped[skipped <= len(kept)] - 1] = False
    kept_rows = (np.flatnonzero(kept) + 1)[: len(frame)]
    malformed = pd.DataFrame(
        {
            "_raw_line": pd.array([t for _, t in bad_lines], dtype="string"),
            "_source_row": np.array([n - 1 for n, _ in bad_lines], dtype=np.int64),
        }
    )
    return frame, kept_rows, malformed


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(
            f"{path}: cannot read as Parquet ({exc}); expected a Parquet file"
        ) from None
    return table.to_pandas(types_mapper=_string_mapper, date_as_object=False)


def read_part(path: Path, spec: TableSpec, column_map: dict[str, str], encoding: str) -> RawPart:
    """Read one file of `spec`'s table, rename columns to ours and check required columns."""
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file; expected a header row naming the columns")
    if _suffix(path) in CSV_SUFFIXES:
        frame, rows, malformed = _read_csv(path, encoding)
    else:
        frame = _read_parquet(path)
        frame.columns = [str(c).strip() for c in frame.columns]
        rows = np.arange(1, len(frame) + 1, dtype=np.int64)
        malformed = pd.DataFrame({"_raw_line": [], "_source_row": []})
    frame = frame.rename(columns=column_map)
    dupes = frame.columns[frame.columns.duplicated()].tolist()
    if dupes:
        raise UserError(
            f"{path}: column '{dupes[0]}' appears more than once (after ingest.column_map); "
            "expected unique column names"
        )
    missing = [c for c in spec.required_columns if c not in frame.columns]
    if missing:
        raise UserError(
            f"{path}: missing required column '{missing[0]}' for table '{spec.name}' "
            f"(expected columns: {', '.join(spec.required_columns)}; found: "
            f"{', '.join(map(str, frame.columns)) or 'none'}); map your own names with "
            f"ingest.column_map.{spec.name}"
        )
    added = [n for n, c in spec.columns.items() if c.optional_column and n not in frame.columns]
    for name in added:
        frame[name] = pd.Series(pd.NA, index=frame.index, dtype=pd.StringDtype("pyarrow"))
    return RawPart(
        path=path, frame=frame, source_row=rows, malformed=malformed, added_columns=added
    )
