"""Compose the panel as named SQL steps (DuckDB dialect), or as one query for Spark.

Steps, in order: the spine (one row per account per week of each spell, start/stop/event,
from ingest's spells and contract_terms), the CTEs of every block an included indicator needs, then `panel`, one SELECT
that joins the spine-aligned blocks and evaluates each catalog expression. DuckDB runs the
steps one by one (engines.run_duckdb); Spark runs them transpiled by SQLGlot. Every
definition thus exists once, in DuckDB SQL.
"""

from __future__ import annotations

import re

from churnlab.indicators.blocks import BLOCKS, EPOCH_MONDAY, Block, Settings, dn
from churnlab.indicators.catalog import (  # noqa: F401  (the panel's columns, re-exported)
    CATALOG,
    ID_COLUMNS,
    PANEL_COLUMNS,
    RESERVED_COLUMNS,
    STATIC_COLUMNS,
    Indicator,
)

# Attribute columns whose values panel_meta.json lists.
ATTRIBUTES = ("segment", "customer_goal", "plan", "billing_period", "region")

# panel_meta.json counts and attribute values, over a written panel registered as `panel`
# (DuckDB dialect; Spark runs them transpiled), so no engine hands the panel to pandas.
SUMMARY_SQL = {
    "counts": """SELECT (SELECT COUNT(*) FROM panel) AS n_rows,
       (SELECT COUNT(DISTINCT account_id) FROM panel) AS n_accounts,
       (SELECT COUNT(*) FROM (SELECT DISTINCT account_id, spell FROM panel) x) AS n_spells,
       (SELECT COALESCE(SUM(event), 0) FROM panel) AS n_events""",
    "attributes": "\nUNION ALL\n".join(
        f"SELECT '{col}' AS col, CAST({col} AS VARCHAR) AS v FROM panel "
        f"WHERE {col} IS NOT NULL GROUP BY CAST({col} AS VARCHAR)"
        for col in ATTRIBUTES
    ),
}


def summary_from_rows(counts: tuple, attribute_rows: list[tuple]) -> dict:
    """SUMMARY_SQL results -> {"n_accounts", "n_spells", "n_rows", "n_events", "attributes"}
    (attribute values sorted as Python sorts strings, whatever the engine's collation)."""
    n_rows, n_accounts, n_spells, n_events = (int(x) for x in counts)
    attributes: dict[str, list[str]] = {col: [] for col in ATTRIBUTES}
    for col, value in attribute_rows:
        attributes[col].append(str(value))
    return {
        "n_accounts": n_accounts,
        "n_spells": n_spells,
        "n_rows": n_rows,
        "n_events": n_events,
        "attributes": {col: sorted(set(values)) for col, values in attributes.items()},
    }


def spine_ctes(s: Settings) -> list[tuple[str, str]]:
    """spells + contract_terms (ingest) -> one row per account-week, with the churn event.

    `spine` is dense per account (first spell week .. last spine week) so that the blocks'
    "previous N rows" windows are calendar weeks; weeks between two spells have `spell`
    NULL and are dropped from the final panel (the account was not a customer, not at risk).
    Each spell runs from its first week to its churn week (churned spells) or the as-of week;
    `start` counts weeks since the spell's first week (each spell is its own Cox/KM subject).
    """
    if s.as_of is None:
        raise ValueError("Settings.as_of is required (tables.json 'as_of')")
    plan = "CAST(plan AS VARCHAR)" if s.has_plan else "CAST(NULL AS VARCHAR)"
    return [
        (
            "bounds",
            f"SELECT DATE_DIFF('day', DATE '{EPOCH_MONDAY}', DATE '{s.as_of}') AS asof_dn",
        ),
        # Contract pieces that had started by the as-of date (ingest drops later ones too).
        (
            "terms",
            f"""
            SELECT t.account_id, CAST(t.spell AS BIGINT) AS spell, t.contract_id,
                   t.billing_period, {plan} AS plan,
                   CAST(t.mrr AS DOUBLE) AS mrr, CAST(t.seats AS DOUBLE) AS seats,
                   {dn("t.start_date")} AS start_dn, {dn("t.contract_start")} AS cs_dn
            FROM contract_terms t CROSS JOIN bounds b
            WHERE {dn("t.start_date")} <= b.asof_dn
            """,
        ),
        # Spells known at as-of; a churned spell ends in the week of its end date.
        (
            "sp",
            f"""
            SELECT account_id, spell, start_dn, CAST(FLOOR(start_dn / 7) AS BIGINT) AS spell_wk,
                   churn_wk, COALESCE(churn_wk, asof_wk) AS last_wk,
                   LEAD(CAST(FLOOR(start_dn / 7) AS BIGINT))
                     OVER (PARTITION BY account_id ORDER BY spell) AS next_wk
            FROM (SELECT x.account_id, CAST(x.spell AS BIGINT) AS spell,
                         {dn("x.start_date")} AS start_dn,
                         CASE WHEN x.churned AND {dn("x.end_date")} <= b.asof_dn
                              THEN CAST(FLOOR({dn("x.end_date")} / 7) AS BIGINT) END AS churn_wk,
                         CAST(FLOOR(b.asof_dn / 7) AS BIGINT) AS asof_wk
                  FROM spells x CROSS JOIN bounds b
                  WHERE {dn("x.start_date")} <= b.asof_dn) y
            """,
        ),
        (
            "acc",
            """
            SELECT account_id, MIN(start_dn) AS first_dn, MIN(spell_wk) AS first_wk
            FROM sp GROUP BY account_id
            """,
        ),
        (
            "spine0",
            """
            SELECT account_id, spell, spell_wk, churn_wk,
                   UNNEST(generate_series(spell_wk, last_wk)) AS wk
            FROM sp
            UNION ALL
            SELECT account_id, CAST(NULL AS BIGINT) AS spell, CAST(NULL AS BIGINT) AS spell_wk,
                   CAST(NULL AS BIGINT) AS churn_wk,
                   UNNEST(generate_series(last_wk + 1, next_wk - 1)) AS wk
            FROM sp WHERE next_wk - 1 >= last_wk + 1
            """,
        ),
        (
            "spine",
            f"""
            SELECT x.account_id, a.first_dn, a.first_wk, x.wk, x.spell,
                   x.wk - x.spell_wk AS start,
                   CASE WHEN x.wk = x.churn_wk THEN 1 ELSE 0 END AS event,
                   DATE '{EPOCH_MONDAY}' + CAST(7 * x.wk AS INTEGER) AS week_date
            FROM spine0 x JOIN acc a ON a.account_id = x.account_id
            """,
        ),
    ]


def _blocks_for(indicators: list[Indicator]) -> list[Block]:
    """Blocks these indicators need, with their dependencies, plus `ctr` (static contract
    columns): built-in blocks in BLOCKS order, then user-indicator blocks in definition
    order (each after the blocks it reads)."""
    registry: dict[str, Block] = dict(BLOCKS)
    for ind in indicators:
        for block in ind.own_blocks:
            registry.setdefault(block.name, block)
    wanted: set[str] = set()

    def want(name: str) -> None:
        if name not in wanted:
            wanted.add(name)
            for need in registry[name].needs:
                want(need)

    want("ctr")
    for ind in indicators:
        for name in ind.blocks:
            want(name)
    return [block for name, block in registry.items() if name in wanted]


def _columns_read(block: str, texts: list[str]) -> frozenset[str]:
    """Names `x` in `<block>.x` anywhere in the texts (conservative: a literal counts too)."""
    pattern = re.compile(rf"\b{re.escape(block)}\.([A-Za-z_][A-Za-z0-9_]*)")
    return frozenset(m for text in texts for m in pattern.findall(text))


def panel_steps(indicators: list[Indicator], s: Settings) -> list[tuple[str, str]]:
    """The panel as named steps (DuckDB SQL); the last, `panel`, is the final SELECT with
    the CONTRACTS §3 columns except week_start (engines add it from the integer `wk`).
    Each step may read the source tables and any earlier step. The final step's rows come
    in no particular order: the engines' writers order them by (account_id, wk) and `finish`
    orders a returned frame (an ORDER BY here would be a second full sort under the
    writer's, which DuckDB does not remove)."""
    steps = spine_ctes(s)
    blocks = _blocks_for(indicators)
    built = {b.name: b.ctes(s) for b in blocks if not b.by_columns}
    # Column references `<block>.<column>` in the indicator expressions and in the other
    # blocks' SQL (user ratios and changes embed their operands' expressions).
    texts = [ind.sql for ind in indicators] + [sql for ctes in built.values() for _, sql in ctes]
    for block in blocks:
        if block.by_columns:
            wanted = _columns_read(block.name, texts)
            steps.extend(block.ctes(s, wanted))
        else:
            steps.extend(built[block.name])
    joins = "\n".join(
        f"JOIN b_{b.name} {b.name} ON {b.name}.account_id = spine.account_id "
        f"AND {b.name}.wk = spine.wk"
        for b in blocks
    )
    values = ",\n       ".join(f'CAST({ind.sql} AS DOUBLE) AS "{ind.id}"' for ind in indicators)
    select_values = f",\n       {values}" if values else ""
    final = f"""SELECT spine.account_id, spine.wk, CAST(spine.spell AS BIGINT) AS spell,
       CAST(spine.start AS BIGINT) AS start, CAST(spine.start + 1 AS BIGINT) AS stop,
       CAST(spine.event AS BIGINT) AS event,
       CAST(a.segment AS VARCHAR) AS segment, CAST(a.customer_goal AS VARCHAR) AS customer_goal,
       CAST(a.region AS VARCHAR) AS region,
       ctr.plan, CAST(ctr.billing_period AS VARCHAR) AS billing_period, ctr.seats, ctr.mrr,
       CAST(spine.start AS BIGINT) AS tenure_weeks{select_values}
FROM spine
LEFT JOIN accounts a ON a.account_id = spine.account_id
{joins}
WHERE spine.spell IS NOT NULL"""
    return [*steps, ("panel", final)]


# (account_id, wk) of the rows of panel_steps' final step: the spine's weeks inside a spell
# (its WHERE; every block has one row per spine week). engines.write_duckdb cuts its sorted
# write of the panel into ranges of these keys.
PANEL_ROW_KEYS = "SELECT account_id, wk FROM spine WHERE spell IS NOT NULL"


def steps_to_sql(steps: list[tuple[str, str]]) -> str:
    """Steps -> one query: every step but the last becomes a CTE."""
    with_clause = ",\n".join(f"{name} AS ({sql.strip()})" for name, sql in steps[:-1])
    return f"WITH\n{with_clause}\n{steps[-1][1]}"


def panel_sql(indicators: list[Indicator], s: Settings) -> str:
    """The full panel as one DuckDB query (what Spark runs after transpiling)."""
    return steps_to_sql(panel_steps(indicators, s))


def to_spark(sql: str) -> str:
    """Transpile the DuckDB panel query to Spark SQL."""
    import sqlglot  # only the Spark path needs it (a second of imports the DuckDB path spares)
    from sqlglot import exp

    def epoch_us(node: exp.Expression) -> exp.Expression:
        # DuckDB's EPOCH_US(t) is Spark's UNIX_MICROS(t), which takes a (zoned) TIMESTAMP:
        # dates and zone-less timestamps are cast in the session's UTC.
        if isinstance(node, exp.Anonymous) and node.name.upper() == "EPOCH_US":
            arg = exp.cast(node.expressions[0], "TIMESTAMP")
            return exp.Anonymous(this="UNIX_MICROS", expressions=[arg])
        return node

    tree = sqlglot.parse_one(sql, read="duckdb").transform(epoch_us)
    return tree.sql(dialect="spark", pretty=True)


def select_indicators(
    present_tables: set[str],
    user: list[Indicator] | tuple[Indicator, ...] = (),
    wanted: set[str] | None = None,
) -> list[Indicator]:
    """Catalog entries, then user indicators, whose tables are all present (in order);
    with `wanted`, only those ids and the user indicators they are computed from (a ratio
    or change reads its operands' blocks, not their columns, so those are not added)."""
    return [
        ind
        for ind in (*CATALOG, *user)
        if set(ind.tables) <= present_tables and (wanted is None or ind.id in wanted)
    ]
