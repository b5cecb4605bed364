"""Compose the panel as named SQL steps (DuckDB dialect), or as one query for Spark.

Steps, in order: the spine (one row per account per week, start/stop/event, CONTRACTS §1
churn rule), the CTEs of every block an included indicator needs, then `panel`, one SELECT
that joins the spine-aligned blocks and evaluates each catalog expression. DuckDB runs the
steps one by one (engines.run_duckdb); Spark runs them transpiled by SQLGlot. Every
definition thus exists once, in DuckDB SQL.
"""

from __future__ import annotations

import sqlglot

from churnlab.indicators.blocks import BLOCKS, EPOCH_MONDAY, Settings, dn
from churnlab.indicators.catalog import CATALOG, Indicator

STATIC_COLUMNS = ("segment", "customer_goal", "plan", "billing_period", "seats", "mrr")


def spine_ctes(s: Settings) -> list[tuple[str, str]]:
    """Contracts -> accounts -> one row per account-week, with the churn event."""
    if s.as_of is not None:
        as_of_dn = f"DATE_DIFF('day', DATE '{EPOCH_MONDAY}', DATE '{s.as_of}')"
    else:
        as_of_dn = (
            f"GREATEST((SELECT MAX({dn('occurred_at')}) FROM events), "
            f"(SELECT MAX({dn('start_date')}) FROM contracts))"
        )
    plan = "CAST(plan AS VARCHAR)" if s.has_plan else "CAST(NULL AS VARCHAR)"
    return [
        ("bounds", f"SELECT {as_of_dn} AS asof_dn"),
        # Contracts that had started by the as-of date; later ones are not known yet.
        (
            "live_contracts",
            f"""
            SELECT c.account_id, c.contract_id, c.billing_period, {plan} AS plan,
                   CAST(c.mrr AS DOUBLE) AS mrr, CAST(c.seats AS DOUBLE) AS seats,
                   {dn("c.start_date")} AS start_dn, {dn("c.end_date")} AS end_dn
            FROM contracts c CROSS JOIN bounds b
            WHERE {dn("c.start_date")} <= b.asof_dn
            """,
        ),
        # Logo churn (CONTRACTS §1): no open-ended contract and the last term ended by as-of.
        (
            "acc",
            """
            SELECT x.account_id, x.first_dn, CAST(FLOOR(x.first_dn / 7) AS BIGINT) AS first_wk,
                   CASE WHEN x.has_open = 0 AND x.last_end_dn <= b.asof_dn
                        THEN CAST(FLOOR(x.last_end_dn / 7) AS BIGINT) END AS churn_wk,
                   CAST(FLOOR(b.asof_dn / 7) AS BIGINT) AS asof_wk
            FROM (SELECT account_id, MIN(start_dn) AS first_dn, MAX(end_dn) AS last_end_dn,
                         MAX(CASE WHEN end_dn IS NULL THEN 1 ELSE 0 END) AS has_open
                  FROM live_contracts GROUP BY account_id) x
            CROSS JOIN bounds b
            """,
        ),
        (
            "spine0",
            """
            SELECT account_id, first_dn, first_wk, churn_wk,
                   UNNEST(generate_series(first_wk, COALESCE(churn_wk, asof_wk))) AS wk
            FROM acc
            """,
        ),
        (
            "spine",
            f"""
            SELECT account_id, first_dn, first_wk, wk, wk - first_wk AS start,
                   CASE WHEN wk = churn_wk THEN 1 ELSE 0 END AS event,
                   DATE '{EPOCH_MONDAY}' + CAST(7 * wk AS INTEGER) AS week_date
            FROM spine0
            """,
        ),
    ]


def as_of_query(s: Settings) -> str:
    """One row, one column `asof_dn`: the as-of day number the panel uses."""
    name, sql = spine_ctes(s)[0]
    return f"WITH {name} AS ({sql}) SELECT asof_dn FROM {name}"


def _blocks_for(indicators: list[Indicator]) -> list[str]:
    """Blocks needed by these indicators plus `ctr` (static contract columns), in order."""
    wanted = {"ctr"}
    for ind in indicators:
        wanted.update(ind.blocks)
    for name in list(wanted):
        wanted.update(BLOCKS[name].needs)
    return [name for name in BLOCKS if name in wanted]


def panel_steps(indicators: list[Indicator], s: Settings) -> list[tuple[str, str]]:
    """The panel as named steps (DuckDB SQL); the last, `panel`, is the final SELECT with
    the CONTRACTS §3 columns except week_start (engines add it from the integer `wk`).
    Each step may read the source tables and any earlier step."""
    steps = spine_ctes(s)
    blocks = _blocks_for(indicators)
    for name in blocks:
        steps.extend(BLOCKS[name].ctes(s))
    joins = "\n".join(
        f"JOIN b_{name} {name} ON {name}.account_id = spine.account_id AND {name}.wk = spine.wk"
        for name in blocks
    )
    values = ",\n       ".join(f"CAST({ind.sql} AS DOUBLE) AS {ind.id}" for ind in indicators)
    select_values = f",\n       {values}" if values else ""
    final = f"""SELECT spine.account_id, spine.wk, CAST(spine.start AS BIGINT) AS start,
       CAST(spine.start + 1 AS BIGINT) AS stop, CAST(spine.event AS BIGINT) AS event,
       CAST(a.segment AS VARCHAR) AS segment, CAST(a.customer_goal AS VARCHAR) AS customer_goal,
       ctr.plan, CAST(ctr.billing_period AS VARCHAR) AS billing_period, ctr.seats, ctr.mrr,
       CAST(spine.start AS BIGINT) AS tenure_weeks{select_values}
FROM spine
LEFT JOIN accounts a ON a.account_id = spine.account_id
{joins}
ORDER BY spine.account_id, spine.wk"""
    return [*steps, ("panel", final)]


def steps_to_sql(steps: list[tuple[str, str]]) -> str:
    """Steps -> one query: every step but the last becomes a CTE."""
    with_clause = ",\n".join(f"{name} AS ({sql.strip()})" for name, sql in steps[:-1])
    return f"WITH\n{with_clause}\n{steps[-1][1]}"


def panel_sql(indicators: list[Indicator], s: Settings) -> str:
    """The full panel as one DuckDB query (what Spark runs after transpiling)."""
    return steps_to_sql(panel_steps(indicators, s))


def to_spark(sql: str) -> str:
    """Transpile the DuckDB panel query to Spark SQL."""
    return sqlglot.transpile(sql, read="duckdb", write="spark", pretty=True)[0]


def select_indicators(present_tables: set[str]) -> list[Indicator]:
    """Catalog entries whose tables are all present, in catalog order."""
    return [ind for ind in CATALOG if set(ind.tables) <= present_tables]
