"""Finding and reading raw table files; every file-level problem becomes one clear UserError.

A table is `<table>.csv`, `<table>.csv.gz`, `<table>.parquet` or a folder `<table>/` of such
part files, read recursively: Hive/Spark partition folders (`events/year=2025/part-0.csv`)
are parts too, and a `key=value` folder adds the column `key` where it is a contract column
of the table. CSV values are read as strings (blank = ""), so parsing and the quarantine see
exactly what the user wrote; Parquet keeps its stored types. Each reader's own row count
(Arrow's CSV rows + skipped ragged lines; Parquet metadata `num_rows`) is kept apart from
validation, so "rows read = accepted + quarantined" can be checked against it.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

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

# Delimiters tried on a CSV header when a comma does not split it (European exports use `;`).
DELIMITERS = (",", ";", "\t", "|")
# Arrow reads CSV in blocks and a value must fit in one; 32 MiB holds any sane cell (Arrow's
# default 1 MiB fails on a 3 MB text cell) at no cost on small files.
CSV_BLOCK_SIZE = 32 << 20
# Hive writes a null partition value as this folder name.
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
# Whatever a reader library raises on a damaged file: truncated gzip (OSError, EOFError,
# zlib.error), Arrow's own errors, bad bytes (UnicodeError, a ValueError), Python's csv.
READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, pa.ArrowException, csv.Error)
# Spellings of an encoding, for the hint when text does not decode.
SHIFT_JIS = {"cp932", "shift_jis", "shift-jis", "sjis", "ms932"}


@dataclass
class TableFiles:
    """What a table's folder (or single file) holds."""

    parts: list[Path]  # files read as parts, sorted
    partitions: dict[Path, dict[str, str | None]] = field(default_factory=dict)  # key=value dirs
    ignored: list[Path] = field(default_factory=list)  # markers: names starting with . or _


@dataclass
class RawPart:
    """One file of a table: its values plus where each row came from."""

    path: Path
    frame: pd.DataFrame  # columns renamed to ours; CSV: all strings
    source_row: np.ndarray  # 1-based data row in the file, per frame row
    malformed: pd.DataFrame  # CSV lines that could not be split into the header's columns
    added_columns: list[str]  # optional contract columns the file lacked (added as null)
    rows_read: int = 0  # the reader's own count: Parquet num_rows; CSV rows + ragged lines
    mapped: list[str] = field(default_factory=list)  # ingest.column_map keys this file had
    delimiter: str = ","  # CSV delimiter used (detected from the header)
    partition_columns: list[str] = field(default_factory=list)  # key=value folders used
    partition_ignored: list[str] = field(default_factory=list)  # key=value folders not ours
    headers: list[str] = field(default_factory=list)  # the file's own column names


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


def _marker(path: Path) -> bool:
    """Spark/Hadoop/DVC bookkeeping (_SUCCESS, .crc, _delta_log/, .spark-staging/)."""
    return path.name.startswith((".", "_"))


def _partition(folder: Path, part: Path) -> dict[str, str | None]:
    """{key: value} from the `key=value` folders between the table folder and the part."""
    out: dict[str, str | None] = {}
    for name in part.relative_to(folder).parts[:-1]:
        if "=" in name:
            key, value = name.split("=", 1)
            value = unquote(value)  # Hive escapes '/', ':', ... as %2F, %3A
            out[unquote(key).strip()] = None if value == HIVE_NULL else value
    return out


def _walk(folder: Path) -> tuple[list[Path], list[Path]]:
    """(part files, ignored markers) under `folder`, recursively, sorted by path. A marker
    folder (_delta_log) is listed once and not entered."""
    parts, ignored = [], []
    for path in sorted(folder.iterdir()):
        if _marker(path):
            ignored.append(path)
        elif path.is_dir():
            sub_parts, sub_ignored = _walk(path)
            parts += sub_parts
            ignored += sub_ignored
        elif path.is_file():
            parts.append(path)
    return parts, ignored


def find_table_files(raw_dir: Path, table: str) -> TableFiles | None:
    """The files holding `table`, or None when the table is absent.

    A folder `<table>/` is read recursively (Hive/Spark partitions); marker files and
    folders (names starting with `.` or `_`) are not parts but are listed in `ignored`;
    every other file must be a readable CSV or Parquet part (else UserError)."""
    candidates = [p for p in sorted(raw_dir.iterdir()) if p.is_file() and not _marker(p)]
    files = [p for p in candidates if _stem(p) == table]
    folder = raw_dir / table
    ignored: list[Path] = []
    partitions: dict[Path, dict[str, str | None]] = {}
    if folder.is_dir():
        if files:
            raise UserError(
                f"{files[0]}: table '{table}' is given both as this file and as folder "
                f"{folder}/; expected exactly one of them"
            )
        files, ignored = _walk(folder)
        if not files:
            raise UserError(f"{folder}/: folder for table '{table}' holds no part files")
        partitions = {p: _partition(folder, p) for p in files}
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
                "expected .csv, .csv.gz or .parquet (files whose names start with '.' or '_' "
                "are skipped as markers)"
            )
    return TableFiles(files, {p: v for p, v in partitions.items() if v}, ignored)


def _first_line(path: Path) -> bytes:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        return fh.readline()


def _open_text(path: Path, encoding: str, errors: str = "strict") -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding=encoding, errors=errors, newline="")
    return open(path, encoding=encoding, errors=errors, newline="")  # noqa: SIM115


def _split_header(line: str) -> tuple[list[str], str]:
    """(header fields, delimiter): a comma, unless it leaves the header one field and
    another of DELIMITERS splits it into more (the most wins; ties: DELIMITERS order)."""
    best, best_fields = ",", next(csv.reader([line]), [])
    if len(best_fields) <= 1:
        for delimiter in DELIMITERS[1:]:
            fields = next(csv.reader([line], delimiter=delimiter), [])
            if len(fields) > len(best_fields):
                best, best_fields = delimiter, fields
    return best_fields, best


def _csv_header(path: Path, encoding: str) -> tuple[list[str], str]:
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
            f"{exc.start}){_encoding_hint(path, encoding)}"
        ) from None
    except LookupError:
        raise UserError(
            f"params.yaml: ingest.encoding '{encoding}' is not a known encoding"
        ) from None
    except READ_ERRORS as exc:
        if path.name.lower().endswith(".gz"):
            raise UserError(
                f"{path}: cannot read as gzip ({exc}); expected a gzip-compressed CSV file "
                "(or drop the .gz suffix if it is plain text)"
            ) from None
        raise UserError(f"{path}: cannot read as CSV ({exc}); expected a CSV file") from None
    header, delimiter = _split_header(line.lstrip("\ufeff").rstrip("\r\n"))  # Excel's BOM
    if not header or all(not h.strip() for h in header):
        raise UserError(f"{path}: empty file; expected a header row naming the columns")
    return [h.strip() for h in header], delimiter


def _encoding_hint(path: Path, encoding: str) -> str:
    """'; expected <encoding> (...)' with the encoding the file does decode in, if a common
    one does (read only on this failure path)."""
    tried = [e for e in ("utf-8", "cp932") if codecs.lookup(e).name != codecs.lookup(encoding).name]
    data = b""
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as fh:
            data = fh.read()
    except READ_ERRORS:
        pass
    for candidate in tried:
        try:
            data.decode(candidate)
        except UnicodeDecodeError:
            continue
        label = "cp932 (Shift-JIS)" if candidate == "cp932" else candidate
        return (
            f"; expected {encoding} text. The file reads as {label}: set "
            f"ingest.encoding: {candidate} in params.yaml"
        )
    return (
        f"; expected {encoding} text (set ingest.encoding to the file's encoding, e.g. "
        "cp932 for Shift-JIS, cp1252 for Western European Excel exports)"
    )


def _locate_bad_text(
    path: Path, names: list[str], encoding: str, delimiter: str
) -> tuple[int, str] | None:
    """(1-based data row, column) of the first cell holding bytes that are not `encoding`
    text, found with Python's csv module (only after Arrow failed, so speed is no issue)."""
    try:
        with _open_text(path, encoding, errors="surrogateescape") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            next(reader, None)  # header (checked before)
            for row_number, row in enumerate(reader, start=1):
                for i, cell in enumerate(row):
                    if any("\udc80" <= ch <= "\udcff" for ch in cell):
                        return row_number, names[i] if i < len(names) else f"#{i + 1}"
    except READ_ERRORS:
        return None
    return None


def _arrow_csv(path: Path, names: list[str], encoding: str, delimiter: str, threads: bool):
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
            block_size=CSV_BLOCK_SIZE,
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table, bad_lines


def _csv_error(path: Path, exc: Exception, names: list[str], encoding: str, delimiter: str):
    """The one-line UserError for a CSV that Arrow (or the decompressor) could not read."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    column = ""
    if "CSV column #" in msg:
        idx = int(msg.split("CSV column #")[1].split(":")[0])
        column = f" in column '{names[idx]}'" if idx < len(names) else ""
    if "UTF8" in msg or isinstance(exc, UnicodeError):
        where = _locate_bad_text(path, names, encoding, delimiter)
        if where is not None:
            column = f" in row {where[0]}, column '{where[1]}'"
        return UserError(
            f"{path}: text{column} is not valid {encoding}{_encoding_hint(path, encoding)}"
        )
    if "straddling" in msg or "block size" in msg:
        return UserError(
            f"{path}: a single CSV value{column} is longer than {CSV_BLOCK_SIZE >> 20} MB; "
            'most often a quote (") opens a value that never closes, so the rest of the '
            "file reads as one value; expected balanced quotes (or split the huge value)"
        )
    if isinstance(exc, OSError | EOFError | zlib.error) and path.name.lower().endswith(".gz"):
        return UserError(
            f"{path}: the gzip file is damaged or cut short ({msg}); expected a complete "
            "gzip file (compress or copy it again)"
        )
    return UserError(f"{path}: cannot parse as CSV{column} ({msg}); expected a CSV file")


def _read_csv(path: Path, encoding: str) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, int, str]:
    """(frame of strings, 1-based data row per frame row, ragged lines, rows the reader
    returned incl. ragged lines, delimiter)."""
    names, delimiter = _csv_header(path, encoding)
    if "" in names:
        raise UserError(
            f"{path}: column {names.index('') + 1} of the header is blank; "
            "expected every column to have a name"
        )
    try:
        table, bad_lines = _arrow_csv(path, names, encoding, delimiter, threads=True)
        if bad_lines:
            # Only a single-threaded read knows where a ragged line sits in the file.
            table, bad_lines = _arrow_csv(path, names, encoding, delimiter, threads=False)
        frame = table.to_pandas(types_mapper=_string_mapper)
    except READ_ERRORS as exc:
        raise _csv_error(path, exc, names, encoding, delimiter) from None
    rows_read = table.num_rows + len(bad_lines)
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
    return frame, kept_rows, malformed, rows_read, delimiter


def _scalar(arrow_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(arrow_type):
        return _scalar(arrow_type.value_type)
    return not pa.types.is_nested(arrow_type)


def parquet_pieces(path: Path, max_rows: int) -> list[list[int]] | None:
    """The row groups of a Parquet file of more than `max_rows` rows in consecutive pieces
    of about equal size (ceil(rows / max_rows) of them; a row group is never split), so a
    big file is read and checked piece by piece in bounded memory. None when the file is
    one piece (or cannot be opened: `read_part` then says why)."""
    if _suffix(path) not in PARQUET_SUFFIXES:
        return None
    try:
        meta = pq.ParquetFile(path).metadata
    except READ_ERRORS:
        return None
    if meta.num_rows <= max_rows or meta.num_row_groups < 2:
        return None
    target = meta.num_rows / -(-meta.num_rows // max_rows)  # rows per piece, about
    pieces: list[list[int]] = [[]]
    rows = 0
    for i in range(meta.num_row_groups):
        if rows >= target:
            pieces.append([])
            rows = 0
        pieces[-1].append(i)
        rows += meta.row_group(i).num_rows
    return pieces


def _read_parquet(
    path: Path, spec: TableSpec, column_map: dict[str, str], row_groups: list[int] | None
) -> tuple[pd.DataFrame, int, int]:
    """(frame, rows from the file's metadata, rows before the first one read): the whole
    file, or only `row_groups` (consecutive). A list / struct / map column where the
    contract has a scalar column is a UserError naming it."""
    try:
        file = pq.ParquetFile(path)
        meta = file.metadata
        for f in file.schema_arrow:
            ours = column_map.get(str(f.name).strip(), str(f.name).strip())
            if ours in spec.columns and not _scalar(f.type):
                raise UserError(
                    f"{path}: column '{f.name}' holds {f.type} values (lists / records); "
                    f"expected one plain value per row for '{ours}' of table '{spec.name}' "
                    "(flatten it before export)"
                )
        if row_groups is None:
            table, rows_read, before = file.read(), meta.num_rows, 0
        else:
            table = file.read_row_groups(row_groups)
            rows_read = sum(meta.row_group(i).num_rows for i in row_groups)
            before = sum(meta.row_group(i).num_rows for i in range(row_groups[0]))
    except READ_ERRORS as exc:
        raise UserError(
            f"{path}: cannot read as Parquet ({exc}); expected a Parquet file"
        ) from None
    try:
        frame = table.to_pandas(types_mapper=_string_mapper, date_as_object=False)
    except READ_ERRORS as exc:
        raise UserError(f"{path}: cannot convert the Parquet columns ({exc})") from None
    return frame, rows_read, before


def _case_hint(headers: list[str], wanted: str, table: str, ours: str) -> str:
    """'; header 'Account_ID' differs ... only in case ...' when a header does; `ours` is
    the contract column the header should become."""
    same = [c for c in headers if c.lower() == wanted.lower() and c != wanted]
    if not same:
        return ""
    return (
        f"; header '{same[0]}' differs from '{wanted}' only in case (headers are matched "
        f"exactly: rename it or map it with ingest.column_map.{table}: {{{same[0]}: {ours}}})"
    )


def missing_column_error(
    path: Path, spec: TableSpec, missing: str, headers: list[str], column_map: dict[str, str]
) -> UserError:
    """The one line for a required column the file lacks, with the likeliest cause: a
    column_map entry that did not match, a header differing only in case, a delimiter."""
    found = ", ".join(map(str, headers)) or "none"
    mapped_from = [theirs for theirs, ours in column_map.items() if ours == missing]
    if mapped_from:
        theirs = mapped_from[0]
        return UserError(
            f"{path}: ingest.column_map.{spec.name} maps '{theirs}' to '{missing}', but the "
            f"file has no column '{theirs}' (its columns: {found})"
            f"{_case_hint(headers, theirs, spec.name, missing)}"
        )
    hint = _case_hint(headers, missing, spec.name, missing)
    if not hint and len(headers) == 1 and any(d in headers[0] for d in DELIMITERS[1:]):
        hint = "; the header is one column: is the file delimited by another character?"
    return UserError(
        f"{path}: missing required column '{missing}' for table '{spec.name}' "
        f"(expected columns: {', '.join(spec.required_columns)}; found: {found}); map your "
        f"own names with ingest.column_map.{spec.name}{hint}"
    )


def read_part(
    path: Path,
    spec: TableSpec,
    column_map: dict[str, str],
    encoding: str,
    partition: dict[str, str | None] | None = None,
    row_groups: list[int] | None = None,
) -> RawPart:
    """Read one file of `spec`'s table (of a Parquet file, only `row_groups` if given: a
    piece of `parquet_pieces`), rename columns to ours, add partition columns
    (`partition`: the part's key=value folders) and check required columns."""
    try:
        empty = path.stat().st_size == 0
    except OSError as exc:
        raise UserError(f"{path}: cannot read the file ({exc})") from None
    if empty:
        raise UserError(f"{path}: empty file; expected a header row naming the columns")
    delimiter = ","
    if _suffix(path) in CSV_SUFFIXES:
        frame, rows, malformed, rows_read, delimiter = _read_csv(path, encoding)
    else:
        frame, rows_read, before = _read_parquet(path, spec, column_map, row_groups)
        frame.columns = [str(c).strip() for c in frame.columns]
        rows = np.arange(before + 1, before + len(frame) + 1, dtype=np.int64)
        malformed = pd.DataFrame({"_raw_line": [], "_source_row": []})
    headers = [str(c) for c in frame.columns]
    mapped = [c for c in column_map if c in frame.columns]
    frame = frame.rename(columns=column_map)
    dupes = frame.columns[frame.columns.duplicated()].tolist()
    if dupes:
        raise UserError(
            f"{path}: column '{dupes[0]}' appears more than once (after ingest.column_map); "
            "expected unique column names"
        )
    used, ignored = [], []
    for key, value in (partition or {}).items():
        ours = column_map.get(key, key)
        if ours in spec.columns and ours not in frame.columns:
            frame[ours] = pd.Series(value, index=frame.index, dtype=pd.StringDtype("pyarrow"))
            used.append(ours)
        elif ours not in spec.columns:
            ignored.append(key)
    missing = [c for c in spec.required_columns if c not in frame.columns]
    if missing:
        raise missing_column_error(path, spec, missing[0], headers, column_map)
    added = [n for n, c in spec.columns.items() if c.optional_column and n not in frame.columns]
    for name in added:
        frame[name] = pd.Series(pd.NA, index=frame.index, dtype=pd.StringDtype("pyarrow"))
    return RawPart(
        path=path,
        frame=frame,
        source_row=rows,
        malformed=malformed,
        added_columns=added,
        rows_read=rows_read,
        mapped=mapped,
        delimiter=delimiter,
        partition_columns=used,
        partition_ignored=ignored,
        headers=headers,
    )
