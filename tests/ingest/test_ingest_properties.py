"""Property-based tests: malformed rows and files thrown at ingest."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from ingest_testkit import clean_tables, interim, run_ingest

from churnlab.errors import UserError
from churnlab.ingest.parse import parse_dates, parse_numbers, parse_timestamps
from churnlab.ingest.quality import ALL_REASONS
from churnlab.ingest.schemas import STRING_DTYPE, TABLES, pandera_schema

SLOW = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)

NASTY = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "garbage",
            "2024-02-30",
            "2024-13-01 10:00",
            "-5",
            "0",
            "1e999",
            "NaN",
            "inf",
            "2.5",
            "株式会社",
            'quote " inside',
            "comma, inside",
            "line\nbreak",
            "A404",
            "2019-01-01T00:00:00Z",
            "2031-01-01T00:00:00+09:00",
            "mid market",
        ]
    ),
    # A bare CR is a line break to every CSV reader; pandas writes it unquoted, which would
    # test pandas' writer rather than ingest.
    st.text(alphabet=st.characters(blacklist_characters="\r"), max_size=12),
)


@st.composite
def corrupted_company(draw):
    """The clean company with random cells overwritten and random rows duplicated."""
    tables = clean_tables()
    for _ in range(draw(st.integers(1, 8))):
        name = draw(st.sampled_from(sorted(tables)))
        df = tables[name]
        row = draw(st.integers(0, len(df) - 1))
        col = draw(st.sampled_from(list(df.columns)))
        df.loc[row, col] = draw(NASTY)
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(sorted(tables)))
        df = tables[name]
        row = draw(st.integers(0, len(df) - 1))
        tables[name] = pd.concat([df, df.iloc[[row]]], ignore_index=True)
    return tables


@SLOW
@given(corrupted_company())
def test_invariant_and_quarantine_faithful_under_random_corruption(tables):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            summary = run_ingest(work, tables)
        except UserError as exc:
            # Only a required table with no accepted rows may stop the stage, and it says so.
            assert "none of the" in str(exc) and "data/raw/" in str(exc)
            return
        for name, df in tables.items():
            rows = summary["rows"][name]
            assert rows["read"] == len(df)
            assert rows["read"] == rows["accepted"] + rows["quarantined"]
            assert sum(rows["by_reason"].values()) == rows["quarantined"]
            accepted = interim(work, name)
            q = interim(work, name, quarantine=True)
            assert len(accepted) == rows["accepted"] and len(q) == rows["quarantined"]
            assert set(q["_reason"]) <= set(ALL_REASONS)
            # Accepted rows satisfy the declared schema (raises if not).
            strings = accepted.select_dtypes("string").columns
            typed = accepted.astype({c: STRING_DTYPE for c in strings})
            pandera_schema(TABLES[name]).validate(typed)
            # Quarantined rows are the original strings of the row they point at.
            for _, qrow in q.iterrows():
                original = df.iloc[qrow["_source_row"] - 1]
                for col in df.columns:
                    assert qrow[col] == original[col]
            # Every row is accounted for exactly once.
            assert q["_source_row"].is_unique


FILE_MISTAKES = ["drop_column", "empty", "xlsx", "encoding", "bad_parquet", "missing_table"]


@SLOW
@given(
    table=st.sampled_from(["accounts", "contracts", "events", "users", "tickets"]),
    mistake=st.sampled_from(FILE_MISTAKES),
    data=st.data(),
)
def test_file_level_mistakes_name_file_column_and_reason(table, mistake, data):
    tables = clean_tables()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        raw = work / "data/raw"
        raw.mkdir(parents=True)
        for name, df in tables.items():
            df.to_csv(raw / f"{name}.csv", index=False)
        path = raw / f"{table}.csv"
        column = None
        if mistake == "drop_column":
            column = data.draw(st.sampled_from(TABLES[table].required_columns))
            tables[table].drop(columns=column).to_csv(path, index=False)
        elif mistake == "empty":
            path.write_bytes(b"")
        elif mistake == "xlsx":
            path.rename(raw / f"{table}.xlsx")
            path = raw / f"{table}.xlsx"
        elif mistake == "encoding":
            column = "account_id"
            df = tables[table].copy()
            df.loc[0, column] = "Ａ１"  # full-width, written as Shift-JIS below
            df.to_csv(path, index=False, encoding="cp932")
        elif mistake == "bad_parquet":
            path.unlink()
            path = raw / f"{table}.parquet"
            path.write_bytes(data.draw(st.binary(min_size=1, max_size=64)))
        elif mistake == "missing_table":
            path.unlink()
            if table not in ("accounts", "contracts", "events"):
                summary = run_ingest(work, None)
                assert table in summary["missing_optional"]
                return
        with pytest.raises(UserError) as info:
            run_ingest(work, None)
        msg = str(info.value)
        assert f"data/raw/{table}" in msg
        if column is not None:
            assert f"'{column}'" in msg
        assert "expected" in msg  # says what it wanted


# Offset +00:01 is never written: it marks a naive value (read in the source zone).
OFFSETS = st.one_of(st.just(1), st.integers(-12 * 60, 14 * 60)).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m))
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2035, 1, 1)),
            OFFSETS,
            st.sampled_from(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_mixed_offsets_parse_to_the_true_instant(values):
    texts, truth = [], []
    for naive, tz, fmt, colon in values:
        naive = naive.replace(microsecond=0)
        if tz.utcoffset(None) == dt.timedelta(minutes=1):  # stands for "no offset written"
            texts.append(naive.strftime(fmt))
            local = pd.Timestamp(naive).tz_localize("Asia/Tokyo")  # no DST in Tokyo
            truth.append(local.tz_convert("UTC"))
            continue
        aware = naive.replace(tzinfo=tz)
        offset = aware.strftime("%z")
        if colon:
            offset = offset[:3] + ":" + offset[3:]
        texts.append(aware.strftime(fmt) + offset)
        truth.append(pd.Timestamp(aware).tz_convert("UTC"))
    parsed = parse_timestamps(pd.Series(texts, dtype="string[pyarrow]"), "Asia/Tokyo")
    assert not parsed.unparseable.any() and not parsed.implausible.any()
    assert parsed.values.tolist() == truth


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=10), st.dates().map(str)), min_size=1, max_size=20))
def test_parsers_flag_exactly_the_nonblank_unparseable(values):
    s = pd.Series(values, dtype="string[pyarrow]")
    blank = s.str.strip().fillna("") == ""
    dates, stamps = parse_dates(s), parse_timestamps(s, "UTC")
    for typed, bad, implausible in [
        (dates.values, dates.unparseable, dates.implausible),
        (stamps.values, stamps.unparseable, stamps.implausible),
        (*parse_numbers(s, False), pd.Series(False, index=s.index)),
    ]:
        # Every non-blank value is parsed, unparseable or implausible: exactly one of them.
        assert (typed.isna() == (blank | bad | implausible)).all()
        assert not (bad & blank).any() and not (bad & implausible).any()


@SLOW
@given(st.lists(st.sampled_from(["ok", "extra", "short"]), min_size=1, max_size=12))
def test_ragged_csv_lines_are_counted_and_located(kinds):
    tables = clean_tables()
    lines = ["account_id,user_id,occurred_at,event_type"]
    for i, kind in enumerate(kinds):
        base = f"A1,U1,2024-01-05T{i:02d}:00:00Z,login"
        lines.append({"ok": base, "extra": base + ",x", "short": "A1,U1"}[kind])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        raw = work / "data/raw"
        raw.mkdir(parents=True)
        for name, df in tables.items():
            df.to_csv(raw / f"{name}.csv", index=False)
        (raw / "events.csv").write_text("\n".join(lines) + "\n")
        if "ok" not in kinds:
            with pytest.raises(UserError, match="none of the"):
                run_ingest(work, None)
            return
        rows = run_ingest(work, None)["rows"]["events"]
        assert rows["read"] == len(kinds)
        assert rows["accepted"] == kinds.count("ok")
        assert rows["by_reason"]["malformed_row"] == len(kinds) - kinds.count("ok")
        q = interim(work, "events", quarantine=True)
        assert q["_source_row"].tolist() == [i + 1 for i, k in enumerate(kinds) if k != "ok"]
        accepted_hours = interim(work, "events")["occurred_at"].dt.hour.tolist()
        assert accepted_hours == [i for i, k in enumerate(kinds) if k == "ok"]
