"""Vectorised parsing of raw columns into the contract's types.

Each parser takes a raw column (strings from CSV, or whatever a Parquet file stored) and
returns the typed column plus a boolean mask of values that were present but unparseable.
Blank values become null and are *not* flagged here: whether a blank is allowed is the
schema's business (blank_required).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnlab.ingest.schemas import (
    CATEGORY,
    DATE,
    FLOAT,
    ID,
    INT,
    LABEL,
    STRING_DTYPE,
    TEXT,
    TIMESTAMP,
    TableSpec,
)

# An explicit zone suffix after a time: Z (RFC 3339 allows z), +09:00, -0500, +09.
_OFFSET_RE = r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
# The only text forms of an instant (CONTRACTS.md §2), with `/` already turned into `-`: a
# date, optionally a time (T, t or a space before it) and a zone (Z, z or an offset). Anything
# else (`now`, `today`, `yesterday`, month names ...) is unparseable: pandas would read some
# of those words as the clock time of the run, and two runs would differ.
_TIMESTAMP_FORM_RE = (
    r"^\d{4}-\d{1,2}-\d{1,2}"
    r"(?:[Tt ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?$"
)
# A calendar date, optionally followed by a time (and zone), which a date column ignores:
# a date is the wall date the user wrote, not an instant.
_DATE_RE = (
    r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
    r"(?:[Tt ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?$"
)
_LEADING_DATE_RE = r"^(\d{4})-(\d{1,2})-(\d{1,2})"


@dataclass(frozen=True)
class DateWindow:
    """The plausible dates (`ingest.earliest_date`, `ingest.latest_date`): a date or instant
    before `earliest` is `implausible_date` (an "unknown" sentinel such as 1900-01-01); one on
    or after `latest` is open-ended in an end-date column (2999-12-31, 9999-12-31: read as
    null) and `implausible_date` anywhere else. Instants are compared by their UTC day."""

    earliest: pd.Timestamp = pd.Timestamp("1990-01-01")
    latest: pd.Timestamp = pd.Timestamp("2090-01-01")

    def day_keys(self) -> tuple[int, int]:
        """(earliest, latest) as yyyymmdd integers, for dates that do not fit datetime64[ns]."""
        return tuple(int(d.strftime("%Y%m%d")) for d in (self.earliest, self.latest))


DEFAULT_WINDOW = DateWindow()


@dataclass
class Parsed:
    """One parsed column: typed values plus masks of rows that need a reason or a count."""

    values: pd.Series
    unparseable: pd.Series  # present but not an accepted form / not a number
    implausible: pd.Series | None = None  # outside the DateWindow (dates / instants)
    open_ended: pd.Series | None = None  # end date on or after the window's end: read as null
    shifted: pd.Series | None = None  # naive wall time that does not exist (DST gap)
    ambiguous: pd.Series | None = None  # naive wall time that exists twice (DST fall-back)


def _false(index: pd.Index) -> pd.Series:
    return pd.Series(False, index=index)


def _window_masks(
    values: pd.Series, window: DateWindow, open_end: bool
) -> tuple[pd.Series, pd.Series]:
    """(implausible, open_ended) for parsed datetimes of any unit (a Parquet date32 of 2999
    stays datetime64[ms]; the bounds are compared in that unit, so nothing overflows)."""
    lo, hi = window.earliest, window.latest
    if isinstance(values.dtype, pd.DatetimeTZDtype):  # compare instants, no conversion
        lo, hi = lo.tz_localize("UTC"), hi.tz_localize("UTC")
    early = (values < lo).to_numpy(dtype=bool, na_value=False)
    late = (values >= hi).to_numpy(dtype=bool, na_value=False)
    early, late = pd.Series(early, index=values.index), pd.Series(late, index=values.index)
    if open_end:
        return early, late
    return early | late, _false(values.index)


def _text_window_masks(
    text: pd.Series, candidates: pd.Series, window: DateWindow, open_end: bool
) -> tuple[pd.Series, pd.Series]:
    """(implausible, open_ended) among `candidates`: values in an accepted form that did not
    parse, read from their leading YYYY-MM-DD (year 2999 does not fit datetime64[ns]). A
    month or day out of range stays unparseable."""
    implausible, open_ended = _false(text.index), _false(text.index)
    if not candidates.any():
        return implausible, open_ended
    ymd = text[candidates].str.extract(_LEADING_DATE_RE).astype("float64")
    valid = ymd[1].between(1, 12) & ymd[2].between(1, 31)
    key = ymd[0] * 10000 + ymd[1] * 100 + ymd[2]
    lo, hi = window.day_keys()
    early, late = valid & (key < lo), valid & (key >= hi)
    implausible[candidates] = ((early | late) if not open_end else early).to_numpy(dtype=bool)
    if open_end:
        open_ended[candidates] = late.to_numpy(dtype=bool)
    return implausible, open_ended


def as_text(s: pd.Series) -> pd.Series:
    """Trimmed strings with blanks as null; integral floats lose their '.0' (ids from Excel)."""
    if pd.api.types.is_float_dtype(s) and bool(np.all(np.isnan(s) | (s == np.round(s)))):
        s = s.astype("Int64")
    if not isinstance(s.dtype, pd.StringDtype):
        s = s.astype(STRING_DTYPE)
    s = s.str.strip()
    return s.mask(s == "")


def label_key(s: pd.Series) -> pd.Series:
    """The key a label is matched on: trimmed and lower-cased (' Yearly' and 'YEARLY' match)."""
    return as_text(s).str.lower()


def parse_category(s: pd.Series, labels: dict[str, str]) -> pd.Series:
    """A closed category reached through a vocabulary map.

    `labels` maps a label key (`label_key`: trimmed, lower-case) to its meaning, e.g.
    {"yearly": "annual", "monthly": "monthly"}. A mapped value becomes its meaning; an
    unmapped one stays as written (trimmed), so the schema's allowed-set check rejects it
    (invalid_category) and error messages can quote it.
    """
    text = as_text(s)
    meaning = label_key(text).map(labels, na_action="ignore").astype(STRING_DTYPE)
    return meaning.fillna(text)


def parse_timestamps(
    s: pd.Series, source_timezone: str, window: DateWindow = DEFAULT_WINDOW
) -> Parsed:
    """Instants in UTC. Values with an explicit offset keep it (mixed offsets in one column
    are normal); naive values are read in `source_timezone` (`_localize` for DST)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s):
        implausible, _ = _window_masks(s, window, open_end=False)
        s = s.mask(implausible)  # a Parquet year 2300 does not fit datetime64[ns]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            out = s.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
            return Parsed(out, _false(s.index), implausible)
        out, shifted, ambiguous = _localize(s.astype("datetime64[ns]"), source_timezone)
        return Parsed(out, _false(s.index), implausible, None, shifted, ambiguous)
    text = as_text(s).str.replace("/", "-", regex=False)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    shifted, ambiguous = _false(s.index), _false(s.index)
    present = text.notna()
    aware = present & text.str.contains(_OFFSET_RE, regex=True).fillna(False).astype(bool)
    naive = present & ~aware
    if aware.any():
        out[aware] = _iso8601(text[aware], utc=True)
    if naive.any():
        local, sh, am = _localize(_iso8601(text[naive], utc=False), source_timezone)
        out[naive] = local
        shifted[naive] = sh.to_numpy(dtype=bool)
        ambiguous[naive] = am.to_numpy(dtype=bool)
    implausible, _ = _window_masks(out, window, open_end=False)
    implausible |= _text_window_masks(text, present & out.isna(), window, open_end=False)[0]
    out = out.mask(implausible)
    bad = present & out.isna() & ~implausible
    return Parsed(out, bad, implausible, None, shifted & ~implausible, ambiguous & ~implausible)


def _iso8601(text: pd.Series, utc: bool) -> pd.Series:
    """ISO 8601 strings to datetime64[ns] (UTC-aware if `utc`); unparseable -> NaT.

    Arrow's cast is tried first: ~50x faster than pandas on mixed offsets, and it reads
    ISO 8601 only (never a word such as `now`). It parses all or nothing, so any value it
    rejects (garbage, RFC 3339's lower-case t / z, or a form only pandas accepts such as
    '2024-1-5') sends the column to pandas, value by value, but only the values in a
    CONTRACTS form (`_TIMESTAMP_FORM_RE`): pandas reads `now`, `today` ... as the clock.
    """
    target = pa.timestamp("ns", tz="UTC" if utc else None)
    try:
        arrow = pc.cast(pa.array(text.to_numpy(dtype=object, na_value=None), pa.string()), target)
        return pd.Series(arrow.to_pandas().array, index=text.index)  # positional, not by label
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    form = text.str.match(_TIMESTAMP_FORM_RE).fillna(False).astype(bool)
    out = pd.Series(pd.NaT, index=text.index, dtype=f"datetime64[ns{', UTC' if utc else ''}]")
    if form.any():
        out[form] = pd.to_datetime(
            text[form].astype(object), format="ISO8601", utc=utc, errors="coerce"
        )
        lower = form & out.isna()  # pandas refuses a lower-case t / z: only those again
        if lower.any():
            out[lower] = pd.to_datetime(
                text[lower].str.upper().astype(object), format="ISO8601", utc=utc, errors="coerce"
            )
    return out


def _localize(local: pd.Series, tz: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Naive wall times in `tz` -> (UTC instants, rows shifted forward, rows ambiguous).

    A wall time skipped at a spring-forward DST change (02:30 on a night the clocks jump
    from 02:00 to 03:00) does not exist: it moves forward to the first instant after the gap
    (03:00 local; pandas `nonexistent="shift_forward"`). One that
    occurs twice at a fall-back is read as the first (summer-time) one. Both are
    deterministic and counted. Zones without DST skip the second look.
    """
    none = _false(local.index)
    if tz == "UTC":
        return local.dt.tz_localize("UTC").astype("datetime64[ns, UTC]"), none, none
    # One pass marks both kinds NaT; only those few rows are localised again by the rules.
    strict = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    odd = strict.isna() & local.notna()
    if not odd.any():
        return strict.dt.tz_convert("UTC").astype("datetime64[ns, UTC]"), none, none
    out = strict.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    sub = local[odd]
    first = np.ones(len(sub), dtype=bool)
    exists = sub.dt.tz_localize(tz, ambiguous=first, nonexistent="NaT").notna()
    out[odd] = (
        sub.dt.tz_localize(tz, ambiguous=first, nonexistent="shift_forward")
        .dt.tz_convert("UTC")
        .astype("datetime64[ns, UTC]")
    )
    shifted, ambiguous = none.copy(), none.copy()
    exists = exists.to_numpy(dtype=bool)  # in `sub`'s order: the order of the odd rows
    shifted[odd] = ~exists
    ambiguous[odd] = exists
    return out, shifted, ambiguous


def parse_dates(
    s: pd.Series, window: DateWindow = DEFAULT_WINDOW, open_end: bool = False
) -> Parsed:
    """Calendar dates as midnight datetime64[ns] (no zone). `open_end`: an end-date column,
    where a date on or after `window.latest` means "no end" and is read as null."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(s):
        implausible, open_ended = _window_masks(s, window, open_end)
        s = s.mask(implausible | open_ended)  # 2999-12-31 does not fit datetime64[ns]
        out = s.astype("datetime64[ns]").dt.normalize()
        return Parsed(out, _false(s.index), implausible, open_ended)
    text = as_text(s)
    parts = text.str.extract(_DATE_RE)
    ymd = parts.astype("float64").rename(columns={0: "year", 1: "month", 2: "day"})
    lo, hi = window.day_keys()
    key = ymd["year"] * 10000 + ymd["month"] * 100 + ymd["day"]
    valid = ymd["month"].between(1, 12) & ymd["day"].between(1, 31)
    early, late = valid & (key < lo), valid & (key >= hi)
    implausible = early | late if not open_end else early
    open_ended = late if open_end else _false(s.index)
    # Out-of-window rows are left out before conversion: year 2999 overflows datetime64[ns].
    out = pd.to_datetime(ymd.mask(early | late), errors="coerce").astype("datetime64[ns]")
    bad = text.notna() & out.isna() & ~(early | late)
    return Parsed(out, bad, implausible, open_ended)


def parse_numbers(s: pd.Series, integer: bool) -> tuple[pd.Series, pd.Series]:
    """Finite numbers; `integer` also rejects fractions (2.5 seats)."""
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        text = as_text(s)
        present = text.notna()
        values = pd.to_numeric(text.astype(object), errors="coerce").astype("float64")
    else:
        values = s.astype("float64")
        present = values.notna()
    bad = present & ~np.isfinite(values.fillna(0.0))
    bad |= present & values.isna()
    if integer:
        bad |= present & values.notna() & (values != np.round(values))
        values = values.where(~bad).round().astype("Int64")
    else:
        values = values.where(~bad)
    return values, bad


def null_markers(s: pd.Series, null_values: tuple[str, ...]) -> pd.Series:
    """Text cells such as NULL or \\N (what SQL tools export for a missing value) as null."""
    if not null_values or not isinstance(s.dtype, pd.StringDtype):
        return s
    return s.mask(s.str.strip().isin(null_values))


# Row counts kept beside the typed table (not reasons: the rows are accepted).
NOTES = ("open_ended", "dst_shifted", "dst_ambiguous")


def type_frame(
    frame: pd.DataFrame,
    spec: TableSpec,
    source_timezone: str,
    null_values: tuple[str, ...] = (),
    vocabularies: dict[str, dict[str, str]] | None = None,
    window: DateWindow = DEFAULT_WINDOW,
) -> tuple[pd.DataFrame, dict[str, dict[str, pd.Series]], dict[str, dict[str, pd.Series]]]:
    """The contract columns of `frame`, typed; {reason: {column: mask}} for values that are
    present but unusable (unparseable_date, implausible_date, unparseable_number); and
    {note: {column: mask}} for rows read by a documented rule (NOTES: a far-future end date
    read as open-ended, a DST-gap wall time shifted forward, an ambiguous one read as the
    first).

    `vocabularies` maps a vocabulary name (`Col.vocabulary`) to {label key: meaning}; a
    closed column without one accepts exactly its allowed values (any case).
    """
    typed: dict[str, pd.Series] = {}
    bad: dict[str, dict[str, pd.Series]] = {
        "unparseable_date": {},
        "implausible_date": {},
        "unparseable_number": {},
    }
    notes: dict[str, dict[str, pd.Series]] = {n: {} for n in NOTES}
    for name, col in spec.columns.items():
        raw = null_markers(frame[name], null_values)
        if col.kind in (ID, TEXT, LABEL):
            typed[name] = as_text(raw)
        elif col.kind == CATEGORY:
            labels = (vocabularies or {}).get(col.vocabulary or "")
            if labels is None:
                labels = {a: a for a in col.allowed or ()}
            typed[name] = parse_category(raw, labels)
        elif col.kind in (TIMESTAMP, DATE):
            if col.kind == TIMESTAMP:
                parsed = parse_timestamps(raw, source_timezone, window)
            else:
                parsed = parse_dates(raw, window, open_end=col.open_end)
            typed[name] = parsed.values
            bad["unparseable_date"][name] = parsed.unparseable
            bad["implausible_date"][name] = parsed.implausible
            for note, mask in zip(
                NOTES, (parsed.open_ended, parsed.shifted, parsed.ambiguous), strict=True
            ):
                if mask is not None and mask.any():
                    notes[note][name] = mask
        elif col.kind in (FLOAT, INT):
            typed[name], bad["unparseable_number"][name] = parse_numbers(
                raw, integer=col.kind == INT
            )
        else:  # pragma: no cover - a spec typo
            raise ValueError(f"unknown column kind {col.kind!r}")
    out = pd.DataFrame(typed, index=frame.index)
    return out, bad, notes
