"""User-defined indicators: the YAML file named by params `panel.indicators_file`.

A user declares indicators over their own data, without Python; each becomes a panel column
exactly like a catalog entry, compiled to the same SQL path (a `Block` of DuckDB CTEs over
the interim tables and the dense spine of `blocks.py`, transpiled for Spark), so the
leakage-free rule (data strictly before the week) and the integer week arithmetic are the
catalog's own. File shape (CONTRACTS §3 documents it):

    indicators:
      - id: blocks_4w                       # panel column; [a-z][a-z0-9_]*, not a built-in id
        label: Users blocked (last 4 weeks) # optional (default: the id); unit, meaning too
        from: events                        # a table with a time column (TIME_COLUMNS)
        where: {event_type: [block_user]}   # optional: column -> values to keep
        measure: count                      # see MEASURES
        window_weeks: 4                     # weeks before the week (default panel.window_weeks)
      - id: comments_per_upload
        ratio_of: [comments_4w, uploads_4w] # numerator / denominator (0 when it is 0)
      - id: uploads_change
        change_of: uploads_4w               # vs its mean over panel.trailing_weeks weeks before

Measures over the rows of `from` kept by `where`, at week w (all from weeks before w):
- `count`: rows in the previous `window_weeks` weeks;
- `distinct_users`: distinct user_id among them;
- `active_days`: distinct UTC days among them;
- `share_of_users_active`: distinct users among them / distinct users with any row of the
  table in the same weeks (0 with none): "share of active users who did this";
- `weeks_since_last`: weeks from the latest such row to the week start; with none yet,
  weeks since the account's first contract start (as the catalog's weeks_since_* do).
`ratio_of` and `change_of` take indicator ids, built-in or defined in the file (any order).
Text values in `where` match trimmed and case-insensitively; numbers match numerically;
`null` matches a blank cell. On a table with user_id, `users.<column>` filters by the acting
user's row in users (`where: {users.role: [Champion]}`: the champion's own events). Every mistake is a ConfigError naming the file, the entry (id
or position) and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from churnlab.errors import ConfigError
from churnlab.indicators.blocks import RUNNING, Block, Settings, dn, last_n
from churnlab.indicators.catalog import (
    BY_ID,
    RESERVED_COLUMNS,
    Indicator,
    change_sql,
    ratio_sql,
)
from churnlab.indicators.vocabulary import sql_in

# Column kinds of the ingest contract (churnlab.ingest.schemas, imported lazily: it pulls
# in pandera, 1.6 s, which a panel run without user indicators does not need).
DATE, TIMESTAMP, FLOAT, INT = "date", "timestamp", "float", "int"


def _table_columns(table: str) -> dict[str, Any]:
    """The ingest contract's columns of `table` (name -> Col with `.kind`)."""
    from churnlab.ingest.schemas import TABLES

    return TABLES[table].columns


# Table -> its default time column (the moment a row "happens").
TIME_COLUMNS = {
    "events": "occurred_at",
    "tickets": "opened_at",
    "surveys": "sent_at",
    "touchpoints": "occurred_at",
    "milestones": "achieved_at",
    "users": "activated_at",
    "csm_assignments": "start_date",
}
# Columns whose value is only known at another time than the table's default time column:
# filtering on them needs that time column, or a row would be counted before its value
# existed (a survey counted at sending by the score it got when answered leaks the future).
KNOWN_AT = {("surveys", "nps_score"): "answered_at"}
MEASURES = ("count", "distinct_users", "active_days", "weeks_since_last", "share_of_users_active")
USER_MEASURES = ("distinct_users", "share_of_users_active")  # need a user_id column
WINDOWED = ("count", "distinct_users", "active_days", "share_of_users_active")
UNITS = {
    "count": "rows",
    "distinct_users": "users",
    "active_days": "days",
    "weeks_since_last": "weeks",
    "share_of_users_active": "fraction",
    "ratio_of": "ratio",
    "change_of": "fraction",
}
FIELDS = (
    "id",
    "label",
    "unit",
    "meaning",
    "from",
    "time_column",
    "where",
    "measure",
    "window_weeks",
    "ratio_of",
    "change_of",
)
USERS_PREFIX = "users."  # where-column prefix: a column of the acting user's users row
ID_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class UserDef:
    """One validated entry of the indicators file (`kind`: measure, ratio_of or change_of)."""

    id: str
    position: int  # 1-based entry number in the file
    kind: str
    label: str
    unit: str
    meaning: str
    table: str | None = None
    time_column: str | None = None
    where: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    measure: str | None = None
    window_weeks: int | None = None
    refs: tuple[str, ...] = ()  # indicator ids read (ratio_of: num, den; change_of: one)


def load_user_definitions(panel: dict[str, Any], s: Settings) -> list[UserDef]:
    """The validated entries of `panel.indicators_file`, in dependency order (none if the
    key is unset or the file does not exist)."""
    name = panel.get("indicators_file")
    if name is None:
        return []
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"params.yaml: panel.indicators_file must be a path or null, got {name!r}"
        )
    path = Path(name)
    if not path.exists():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid UTF-8 YAML ({str(exc).splitlines()[0]})") from exc
    return parse_user_indicators(doc, str(path), s.window_weeks, s.trailing_weeks)


def columns_used(defs: list[UserDef]) -> dict[str, set[str]]:
    """Table -> the columns the definitions read (for a clear error on a stale file)."""
    out: dict[str, set[str]] = {}
    for d in defs:
        if d.table is None:
            continue
        own = [c for c, _ in d.where if not c.startswith(USERS_PREFIX)]
        of_user = [c[len(USERS_PREFIX) :] for c, _ in d.where if c.startswith(USERS_PREFIX)]
        cols = {"account_id", d.time_column or "", *own}
        if d.measure in USER_MEASURES or of_user:
            cols.add("user_id")
        out.setdefault(d.table, set()).update(cols - {""})
        if of_user:
            out.setdefault("users", set()).update({"user_id", "account_id", *of_user})
    return out


def parse_user_indicators(
    doc: Any, where: str, default_window: int = 4, trailing_weeks: int = 4
) -> list[UserDef]:
    """Validate the file's content (parsed YAML) -> definitions in dependency order.

    `where` names the file in messages. A file with only comments (None) or
    `indicators: []` defines none. Raises ConfigError on the first bad entry.
    """
    if doc is None:
        return []
    if not isinstance(doc, dict) or set(doc) - {"indicators"}:
        raise ConfigError(f"{where}: expected a mapping with one key 'indicators' (a list)")
    entries = doc.get("indicators") or []
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: 'indicators' must be a list of entries")
    defs: dict[str, UserDef] = {}
    for pos, entry in enumerate(entries, start=1):
        d = _parse_entry(entry, pos, where, default_window, trailing_weeks)
        if d.id in defs:
            raise ConfigError(
                f"{where}: indicator '{d.id}' (entry {pos}): field 'id': already defined "
                f"by entry {defs[d.id].position}"
            )
        defs[d.id] = d
    for d in defs.values():
        for ref in d.refs:
            if ref not in defs and ref not in BY_ID:
                field = "ratio_of" if d.kind == "ratio_of" else "change_of"
                raise ConfigError(
                    f"{where}: indicator '{d.id}' (entry {d.position}): field '{field}': "
                    f"unknown indicator id '{ref}' (neither built-in nor defined in this file)"
                )
    return _dependency_order(defs, where)


def _fail(where: str, entry: str, field: str, why: str) -> ConfigError:
    return ConfigError(f"{where}: {entry}: field '{field}': {why}")


def _parse_entry(entry: Any, pos: int, where: str, default_window: int, trailing: int) -> UserDef:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: entry {pos}: expected a mapping with at least 'id'")
    raw_id = entry.get("id")
    if not isinstance(raw_id, str) or not ID_PATTERN.fullmatch(raw_id):
        raise _fail(
            where,
            f"entry {pos}",
            "id",
            f"{raw_id!r} is not an id (lower-case letters, digits and _, starting with a "
            "letter, at most 63 characters)",
        )
    name = f"indicator '{raw_id}' (entry {pos})"
    if raw_id in BY_ID:
        raise _fail(where, name, "id", "clashes with the built-in indicator of that id")
    if raw_id in RESERVED_COLUMNS:
        raise _fail(where, name, "id", "clashes with a panel column of that name")
    unknown = [k for k in entry if k not in FIELDS]
    if unknown:
        raise _fail(where, name, str(unknown[0]), f"unknown field (known: {', '.join(FIELDS)})")
    kinds = [k for k in ("measure", "ratio_of", "change_of") if k in entry]
    if len(kinds) != 1:
        raise _fail(
            where,
            name,
            kinds[1] if len(kinds) > 1 else "measure",
            "give exactly one of 'measure' (with 'from'), 'ratio_of' or 'change_of'",
        )
    kind = kinds[0]
    texts = {}
    for key in ("label", "unit", "meaning"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise _fail(where, name, key, f"must be non-blank text, got {value!r}")
        texts[key] = value.strip() if isinstance(value, str) else None
    if kind == "measure":
        fields = _parse_measure(entry, name, where, default_window)
        meaning = _measure_meaning(**fields)
        unit = UNITS[fields["measure"]]
        refs: tuple[str, ...] = ()
    else:
        for key in ("from", "time_column", "where", "window_weeks"):
            if key in entry:
                raise _fail(where, name, key, f"does not apply to a '{kind}' indicator")
        fields = {}
        refs = _parse_refs(entry[kind], kind, raw_id, name, where)
        unit = UNITS[kind]
        if kind == "ratio_of":
            meaning = f"{refs[0]} / {refs[1]} (0 when {refs[1]} is 0)"
        else:
            meaning = (
                f"{refs[0]} / its mean over the {trailing} weeks before, minus 1 "
                "(0 with no baseline)"
            )
    return UserDef(
        id=raw_id,
        position=pos,
        kind=kind,
        label=texts["label"] or raw_id,
        unit=texts["unit"] or unit,
        meaning=texts["meaning"] or meaning,
        refs=refs,
        **fields,
    )


def _parse_measure(entry: dict, name: str, where: str, default_window: int) -> dict[str, Any]:
    table = entry.get("from")
    if table is None:
        raise _fail(where, name, "from", "missing: the table to count in")
    if table not in TIME_COLUMNS:
        raise _fail(
            where,
            name,
            "from",
            f"unknown table {table!r} (tables with a time column: {', '.join(TIME_COLUMNS)})",
        )
    columns = _table_columns(table)
    time_column = entry.get("time_column", TIME_COLUMNS[table])
    if time_column not in columns or columns[time_column].kind not in (DATE, TIMESTAMP):
        times = [c for c, col in columns.items() if col.kind in (DATE, TIMESTAMP)]
        raise _fail(
            where,
            name,
            "time_column",
            f"{time_column!r} is not a date/time column of {table} (one of: {', '.join(times)})",
        )
    measure = entry.get("measure")
    if measure not in MEASURES:
        raise _fail(
            where, name, "measure", f"unknown measure {measure!r} (one of: {', '.join(MEASURES)})"
        )
    if measure in USER_MEASURES and "user_id" not in columns:
        raise _fail(where, name, "measure", f"{measure} needs a user_id column; {table} has none")
    window = entry.get("window_weeks")
    if measure == "weeks_since_last":
        if window is not None:
            raise _fail(where, name, "window_weeks", "does not apply to weeks_since_last")
    else:
        window = default_window if window is None else window
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise _fail(where, name, "window_weeks", f"must be an integer >= 1, got {window!r}")
    return {
        "table": table,
        "time_column": time_column,
        "where": _parse_where(entry.get("where"), table, time_column, name, where),
        "measure": measure,
        "window_weeks": window,
    }


def _parse_where(raw: Any, table: str, time_column: str, name: str, where: str) -> tuple:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        raise _fail(where, name, "where", "must map column names to lists of values")
    columns = _table_columns(table)
    out = []
    for column, values in raw.items():
        field = f"where.{column}"
        # `users.<column>` filters by the acting user's attributes (e.g. the champion's own
        # events): users rows describe people, not moments, like the catalog's key-person join.
        if str(column).startswith(USERS_PREFIX) and table != "users":
            if "user_id" not in columns:
                raise _fail(where, name, field, f"{table} has no user_id to join users on")
            user_columns = _table_columns("users")
            bare = column[len(USERS_PREFIX) :]
            if bare not in user_columns:
                raise _fail(
                    where, name, field, f"users has no column {bare!r} ({', '.join(user_columns)})"
                )
            col = user_columns[bare]
        elif column not in columns:
            raise _fail(
                where, name, field, f"{table} has no column {column!r} ({', '.join(columns)})"
            )
        else:
            col = columns[column]
        kind = col.kind
        if kind in (DATE, TIMESTAMP):
            raise _fail(where, name, field, "date/time columns cannot be filtered here")
        if not isinstance(values, list):
            values = [values]
        if not values:
            raise _fail(where, name, field, "give at least one value")
        known_at = KNOWN_AT.get((table, column))
        if known_at and time_column != known_at:
            raise _fail(
                where,
                name,
                field,
                f"{column} is only known at {known_at}: add `time_column: {known_at}` "
                "(else rows would be counted before their value existed)",
            )
        clean = []
        for v in values:
            if isinstance(v, bool) or isinstance(v, (dict, list)):
                raise _fail(where, name, field, f"{v!r} is not a value (quote text: 'yes')")
            if v is None:
                clean.append(None)
            elif kind in (FLOAT, INT):
                if not isinstance(v, (int, float)):
                    raise _fail(where, name, field, f"{v!r} is not a number ({column} is numeric)")
                clean.append(float(v))
            else:
                clean.append(str(v))
        out.append((column, tuple(clean)))
    return tuple(out)


def _parse_refs(raw: Any, kind: str, own: str, name: str, where: str) -> tuple[str, ...]:
    refs = raw if kind == "ratio_of" else [raw]
    n = 2 if kind == "ratio_of" else 1
    if not isinstance(refs, list) or len(refs) != n or not all(isinstance(r, str) for r in refs):
        shape = "[numerator_id, denominator_id]" if n == 2 else "one indicator id"
        raise _fail(where, name, kind, f"expected {shape}, got {raw!r}")
    if own in refs:
        raise _fail(where, name, kind, f"refers to itself ('{own}')")
    if kind == "ratio_of" and refs[0] == refs[1]:
        raise _fail(where, name, kind, f"a ratio of '{refs[0]}' to itself is always 1")
    return tuple(refs)


def _measure_meaning(
    table: str, time_column: str, where: tuple, measure: str, window_weeks: int | None
) -> str:
    kept = "".join(
        f" with {col} in [{', '.join('null' if v is None else str(v) for v in vals)}]"
        for col, vals in where
    )
    rows = f"{table} rows{kept}"
    if time_column != TIME_COLUMNS[table]:
        rows += f" (by {time_column})"
    span = f"in the previous {window_weeks} week{'s' if window_weeks != 1 else ''}"
    return {
        "count": f"{rows} {span}",
        "distinct_users": f"distinct users with {rows} {span}",
        "active_days": f"distinct UTC days with {rows} {span}",
        "share_of_users_active": (
            f"users with {rows} {span} / users with any {table} row in those weeks (0 with none)"
        ),
        "weeks_since_last": (
            f"weeks since the last of the {rows}; with none yet, weeks since the first "
            "contract start"
        ),
    }[measure]


def _dependency_order(defs: dict[str, UserDef], where: str) -> list[UserDef]:
    """Definitions with every user indicator after those it reads; a cycle is an error."""
    done: dict[str, UserDef] = {}
    state: dict[str, str] = {}

    def visit(d: UserDef, path: list[str]) -> None:
        if state.get(d.id) == "done":
            return
        if state.get(d.id) == "visiting":
            cycle = " -> ".join([*path[path.index(d.id) :], d.id])
            raise _fail(where, f"indicator '{d.id}' (entry {d.position})", d.kind, f"cycle {cycle}")
        state[d.id] = "visiting"
        for ref in d.refs:
            if ref in defs:
                visit(defs[ref], [*path, d.id])
        state[d.id] = "done"
        done[d.id] = d

    for d in sorted(defs.values(), key=lambda x: x.position):
        visit(d, [])
    return list(done.values())


# ---- compiling ------------------------------------------------------------------------


def compile_user_indicators(defs: list[UserDef]) -> list[Indicator]:
    """Definitions (dependency order) -> Indicators whose `own_blocks` hold their SQL.

    Each definition gets one block `ui<position>` whose last CTE `b_ui<position>` has one
    row per spine row with the value in column `v`; the Indicator's expression is
    `ui<position>.v`. A ratio or change reads its operands' blocks (built-in or user).
    """
    compiled: dict[str, Indicator] = {}
    for d in defs:
        block_name = f"ui{d.position}"
        if d.kind == "measure":
            joins_users = any(c.startswith(USERS_PREFIX) for c, _ in d.where)
            tables: tuple[str, ...] = (d.table, *(("users",) if joins_users else ()))  # type: ignore[assignment]
            needs: tuple[str, ...] = ()
            deps: tuple[Block, ...] = ()
            ctes = _measure_ctes(block_name, d)
        else:
            operands = [compiled.get(r) or BY_ID[r] for r in d.refs]
            tables = tuple(sorted({t for op in operands for t in op.tables}))
            needs = tuple(dict.fromkeys(b for op in operands for b in op.blocks))
            deps = tuple(
                dict.fromkeys(b for op in operands for b in op.own_blocks)
            )  # operands' blocks (and theirs), dependencies first
            ctes = _combine_ctes(block_name, d, [op.sql for op in operands], needs)
        block = Block(block_name, tables, needs, ctes)
        compiled[d.id] = Indicator(
            id=d.id,
            label=d.label,
            meaning=d.meaning,
            unit=d.unit,
            group="user",
            tables=tables,
            blocks=(block_name,),
            sql=f"{block_name}.v",
            source="user",
            own_blocks=(*deps, block),
        )
    return list(compiled.values())


def _rows_sql(d: UserDef, filtered: bool = True) -> str:
    """The kept rows of the table: account_id, [user_id,] dn (day number of the time)."""
    cols = _table_columns(d.table)  # type: ignore[arg-type]
    user = ", t.user_id" if "user_id" in cols else ""
    conds = [f"t.{d.time_column} IS NOT NULL"]
    join = ""
    for column, values in d.where if filtered else ():
        if column.startswith(USERS_PREFIX):
            bare = column[len(USERS_PREFIX) :]
            kind = _table_columns("users")[bare].kind
            conds.append(_where_sql(f"u.{bare}", kind, values))
            join = " JOIN users u ON u.user_id = t.user_id AND u.account_id = t.account_id"
        else:
            conds.append(_where_sql(f"t.{column}", cols[column].kind, values))
    return (
        f"SELECT t.account_id AS account_id{user}, {dn('t.' + d.time_column)} AS dn "  # type: ignore[operator]
        f"FROM {d.table} t{join} WHERE {' AND '.join(conds)}"
    )


def _where_sql(column: str, kind: str, values: tuple[Any, ...]) -> str:
    present = [v for v in values if v is not None]
    parts = []
    if present and kind in (FLOAT, INT):
        parts.append(f"CAST({column} AS DOUBLE) IN ({', '.join(repr(v) for v in present)})")
    elif present:
        parts.append(sql_in(f"CAST({column} AS VARCHAR)", present))
    if len(present) < len(values):
        parts.append(f"{column} IS NULL")
    return "(" + " OR ".join(parts) + ")"


def _distinct_users_ctes(prefix: str, rows: str, n: int) -> list[tuple[str, str]]:
    """Distinct users over the previous n weeks as a running sum of +1/-1 (the catalog's
    MAU construction): a user active in week awk counts for weeks awk+1 .. awk+n, cut where
    their next active week takes over; `<prefix>_delta` holds (account_id, t, delta)."""
    return [
        (
            f"{prefix}_uwk",
            f"""
            SELECT DISTINCT account_id, user_id, CAST(FLOOR(dn / 7) AS BIGINT) AS awk
            FROM ({rows}) r WHERE user_id IS NOT NULL
            """,
        ),
        (
            f"{prefix}_delta",
            f"""
            SELECT d.account_id, GREATEST(d.t, a.first_wk) AS t, SUM(d.delta) AS delta
            FROM (SELECT account_id, awk + 1 AS t, 1 AS delta FROM {prefix}_uwk
                  UNION ALL
                  SELECT account_id,
                         LEAST(awk + {n},
                               COALESCE(LEAD(awk) OVER (PARTITION BY account_id, user_id
                                                        ORDER BY awk),
                                        awk + {n})) + 1 AS t,
                         -1 AS delta
                  FROM {prefix}_uwk) d
            JOIN acc a ON a.account_id = d.account_id
            GROUP BY d.account_id, GREATEST(d.t, a.first_wk)
            """,
        ),
    ]


def _measure_ctes(b: str, d: UserDef):
    def ctes(s: Settings) -> list[tuple[str, str]]:
        rows = _rows_sql(d)
        n = d.window_weeks or 1
        if d.measure in ("count", "active_days"):
            # Per account-week: rows, or distinct days (days of different weeks never
            # coincide, so summing weekly distinct days gives the window's distinct days).
            inner = (
                f"SELECT account_id, dn FROM ({rows}) r"
                if d.measure == "count"
                else f"SELECT DISTINCT account_id, dn FROM ({rows}) r"
            )
            return [
                (
                    f"{b}_wk",
                    f"""
                    SELECT account_id, awk, COUNT(*) AS n
                    FROM (SELECT account_id, CAST(FLOOR(dn / 7) AS BIGINT) AS awk
                          FROM ({inner}) x) y
                    GROUP BY account_id, awk
                    """,
                ),
                (
                    f"b_{b}",
                    f"""
                    SELECT s.account_id, s.wk,
                           CAST(SUM(COALESCE(w.n, 0)) {last_n(n)} AS DOUBLE) AS v
                    FROM spine s
                    LEFT JOIN {b}_wk w ON w.account_id = s.account_id AND w.awk = s.wk - 1
                    """,
                ),
            ]
        if d.measure == "weeks_since_last":
            return [
                (
                    f"{b}_t",
                    f"""
                    SELECT r.account_id,
                           GREATEST(CAST(FLOOR(r.dn / 7) AS BIGINT) + 1, a.first_wk) AS t,
                           MAX(r.dn) AS last_dn
                    FROM ({rows}) r JOIN acc a ON a.account_id = r.account_id
                    GROUP BY r.account_id,
                             GREATEST(CAST(FLOOR(r.dn / 7) AS BIGINT) + 1, a.first_wk)
                    """,
                ),
                (
                    f"b_{b}",
                    f"""
                    SELECT s.account_id, s.wk,
                           CAST(GREATEST(7 * s.wk - COALESCE(MAX(t.last_dn) {RUNNING},
                                                             s.first_dn), 0) AS DOUBLE) / 7.0
                             AS v
                    FROM spine s
                    LEFT JOIN {b}_t t ON t.account_id = s.account_id AND t.t = s.wk
                    """,
                ),
            ]
        if d.measure == "distinct_users":
            return [
                *_distinct_users_ctes(b, rows, n),
                (
                    f"b_{b}",
                    f"""
                    SELECT s.account_id, s.wk,
                           CAST(SUM(COALESCE(m.delta, 0)) {RUNNING} AS DOUBLE) AS v
                    FROM spine s
                    LEFT JOIN {b}_delta m ON m.account_id = s.account_id AND m.t = s.wk
                    """,
                ),
            ]
        # share_of_users_active: kept rows' users / all rows' users, same weeks
        return [
            *_distinct_users_ctes(f"{b}_n", rows, n),
            *_distinct_users_ctes(f"{b}_d", _rows_sql(d, filtered=False), n),
            (
                f"b_{b}",
                f"""
                SELECT account_id, wk, {ratio_sql("num", "den")} AS v
                FROM (SELECT s.account_id, s.wk,
                             SUM(COALESCE(p.delta, 0)) {RUNNING} AS num,
                             SUM(COALESCE(q.delta, 0)) {RUNNING} AS den
                      FROM spine s
                      LEFT JOIN {b}_n_delta p ON p.account_id = s.account_id AND p.t = s.wk
                      LEFT JOIN {b}_d_delta q ON q.account_id = s.account_id AND q.t = s.wk
                     ) x
                """,
            ),
        ]

    return ctes


def _combine_ctes(b: str, d: UserDef, operands: list[str], needs: tuple[str, ...]):
    joins = " ".join(
        f"JOIN b_{n} {n} ON {n}.account_id = spine.account_id AND {n}.wk = spine.wk" for n in needs
    )

    def ctes(s: Settings) -> list[tuple[str, str]]:
        if d.kind == "ratio_of":
            return [
                (
                    f"b_{b}",
                    f"""
                    SELECT spine.account_id, spine.wk,
                           {ratio_sql(f"({operands[0]})", f"({operands[1]})")} AS v
                    FROM spine {joins}
                    """,
                )
            ]
        # change_of: value now vs its mean over the trailing_weeks rows before (the dense
        # spine makes them the previous calendar weeks); 0 with no baseline.
        x = f"CAST(({operands[0]}) AS DOUBLE)"
        window = (
            "OVER (PARTITION BY spine.account_id ORDER BY spine.wk "
            f"ROWS BETWEEN {s.trailing_weeks} PRECEDING AND 1 PRECEDING)"
        )
        return [
            (
                f"b_{b}",
                f"""
                SELECT account_id, wk, {change_sql("now_v", "base_v")} AS v
                FROM (SELECT spine.account_id, spine.wk, {x} AS now_v,
                             AVG({x}) {window} AS base_v
                      FROM spine {joins}) z
                """,
            )
        ]

    return ctes
