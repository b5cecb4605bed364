"""The panel against two baselines computing the same indicators: hand-written DuckDB SQL
and idiomatic pandas.

    # a company's interim tables (e.g. a copy of data/interim), its first 2,000 accounts:
    python benchmarks/bench_panel.py --interim /tmp/x/interim --accounts 2000 5000
    # or synthetic interim tables of N events (~2,500 events per account):
    python benchmarks/bench_panel.py --events 5000000 50000000

The CONTRACTS §3 columns (spine, account attributes, current contract) and five indicators,
all from the events (the panel's dominant cost): weekly_active_users,
active_days, data_exports, usage_wow_change, weeks_since_last_login. Each measurement runs in
a fresh subprocess (`--measure KIND --workdir DIR`, so it can also be timed from outside,
e.g. `/usr/bin/time -v`) and writes its result to DIR/out_KIND.parquet:
- panel: the panel stage's path (catalog SQL -> DuckDB -> Parquet written by DuckDB) for
  the five indicators; panel_all: every indicator the tables allow (what the stage runs);
- duckdb: one hand-written DuckDB query for the five (spine, one events GROUP BY, ASOF JOIN);
- pandas: the same with pandas (read_parquet, groupby, merge_asof), written with to_parquet.
`--check` compares the three five-indicator outputs (same rows, values to 1e-12). All use 2
threads where they can; CPU seconds (user + system of the child) are the figure to quote on
a shared machine, wall seconds as well. Prints JSON lines and a table of ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

EVENTS_PER_ACCOUNT = 2500
USERS_PER_ACCOUNT = 8
FIVE = (
    "weekly_active_users",
    "active_days",
    "data_exports",
    "usage_wow_change",
    "weeks_since_last_login",
)
KEYS = ["account_id", "week_start", "spell", "start", "stop", "event"]
STATIC = ["segment", "customer_goal", "region", "plan", "billing_period", "seats", "mrr"]
TABLES = ("accounts", "contract_terms", "spells", "events", "users")


def generate(workdir: Path, n_events: int) -> None:
    """Deterministic synthetic interim tables (hash-based, no RNG state)."""
    import duckdb

    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / "events.parquet").exists():
        if not (workdir / "spells.parquet").exists():
            _write_history(workdir)
        return
    n_acc = max(1, n_events // EVENTS_PER_ACCOUNT)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '4GB'")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""
        CREATE TABLE acc AS
        SELECT 'A' || lpad(CAST(i AS VARCHAR), 6, '0') AS account_id, i,
               DATE '2024-01-01' + CAST(i % 120 AS INTEGER) AS start_date,
               CASE WHEN hash(i, 'annual') % 10 < 4 THEN 'annual' ELSE 'monthly' END AS bp,
               hash(i, 'churn') % 10 < 3 AS churns
        FROM range({n_acc}) t(i)
    """)
    con.execute(f"""
        COPY (SELECT account_id, 'Name ' || i AS name, start_date AS signup_date,
                     ['smb', 'mid_market', 'enterprise'][1 + i % 3] AS segment,
                     ['done_for_me', 'learn_myself'][1 + i % 2] AS customer_goal, 'eu' AS region
              FROM acc ORDER BY account_id) TO '{workdir}/accounts.parquet' (FORMAT parquet)
    """)
    con.execute(f"""
        COPY (SELECT 'C' || account_id AS contract_id, account_id,
                     CAST(start_date AS TIMESTAMP) AS start_date,
                     CASE WHEN churns THEN CAST(start_date + INTERVAL 12 MONTH AS TIMESTAMP)
                          WHEN bp = 'annual' THEN CAST(start_date + INTERVAL 24 MONTH AS TIMESTAMP)
                     END AS end_date,
                     bp AS billing_period, 'pro' AS plan, 100.0 + i % 50 AS mrr,
                     CAST(5 + i % 20 AS BIGINT) AS seats
              FROM acc ORDER BY account_id) TO '{workdir}/contracts.parquet' (FORMAT parquet)
    """)
    con.execute(f"""
        COPY (SELECT account_id || '-U' || u AS user_id, account_id,
                     CASE WHEN u = 0 THEN 'key_person' ELSE 'member' END AS role,
                     CAST(start_date AS TIMESTAMPTZ) AS invited_at,
                     CASE WHEN u < 6 THEN CAST(start_date AS TIMESTAMPTZ) + INTERVAL (u) DAY END
                       AS activated_at
              FROM acc, range({USERS_PER_ACCOUNT}) r(u) ORDER BY account_id, user_id)
        TO '{workdir}/users.parquet' (FORMAT parquet)
    """)
    # Events: account = i % n_acc, spread over the account's first ~700 days; sorted as
    # ingest writes them (CONTRACTS §2), so the panel's account slices read only their own
    # row groups (engines.account_slices), as on a real company.
    con.execute(f"""
        COPY (SELECT a.account_id,
                     a.account_id || '-U' || CAST(hash(e.i, 'u') % {USERS_PER_ACCOUNT} AS VARCHAR)
                       AS user_id,
                     CAST(a.start_date AS TIMESTAMPTZ)
                       + to_seconds(CAST(hash(e.i, 't') % (700 * 86400) AS BIGINT)) AS occurred_at,
                     ['login', 'login', 'login', 'report_view', 'dashboard', 'automation',
                      'search', 'data_export'][1 + CAST(hash(e.i, 'e') % 8 AS INTEGER)]
                       AS event_type
              FROM range({n_events}) e(i)
              JOIN acc a ON a.i = e.i % {n_acc}
              ORDER BY account_id, occurred_at, user_id, event_type)
        TO '{workdir}/events.parquet' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
    """)
    con.close()
    (workdir / "tables.json").write_text(
        json.dumps({"present": ["accounts", "contracts", "events", "users"], "as_of": "2025-12-31"})
    )
    _write_history(workdir)


def _write_history(workdir: Path) -> None:
    """contract_terms + spells from the generated contracts, as ingest writes them."""
    import pandas as pd

    from churnlab.ingest.history import HistoryRules, contract_history
    from churnlab.io import write_parquet

    contracts = pd.read_parquet(workdir / "contracts.parquet")
    contracts["cancelled_at"] = pd.NaT
    terms, spells, _ = contract_history(contracts, HistoryRules(as_of=pd.Timestamp("2025-12-31")))
    write_parquet(terms, workdir / "contract_terms.parquet")
    write_parquet(spells, workdir / "spells.parquet")


def subset(interim: Path, workdir: Path, n_accounts: int) -> None:
    """The first `n_accounts` accounts (by id) of a company's interim tables, every table
    filtered to them, written to `workdir` (DuckDB, streamed)."""
    import duckdb

    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / "events.parquet").exists():
        return
    info = json.loads((interim / "tables.json").read_text())
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(f"""CREATE TABLE keep AS SELECT account_id
        FROM read_parquet('{interim}/accounts.parquet') ORDER BY account_id LIMIT {n_accounts}""")
    for path in sorted(interim.glob("*.parquet")):
        con.execute(f"""COPY (SELECT t.* FROM read_parquet('{path}') t
            WHERE t.account_id IN (SELECT account_id FROM keep))
            TO '{workdir / path.name}' (FORMAT parquet, COMPRESSION zstd)""")
    con.close()
    (workdir / "tables.json").write_text(json.dumps(info))


def _as_of(workdir: Path) -> str:
    return json.loads((workdir / "tables.json").read_text())["as_of"]


def run_panel(workdir: Path, out: Path, only: tuple[str, ...] | None) -> None:
    """The stage's path: catalog SQL for the indicators, DuckDB writes the Parquet."""
    from churnlab.indicators.blocks import Settings
    from churnlab.panel.engines import run_duckdb
    from churnlab.panel.query import PANEL_ROW_KEYS, panel_steps, select_indicators

    present = set(json.loads((workdir / "tables.json").read_text())["present"])
    tables = ["accounts", "contract_terms", "spells", *sorted(present - {"accounts", "contracts"})]
    paths = {t: workdir / f"{t}.parquet" for t in tables}
    wanted = set(only) if only else None
    steps = panel_steps(select_indicators(present, (), wanted), Settings(as_of=_as_of(workdir)))
    run_duckdb(paths, steps, threads=2, memory_limit="4GB", out=out, row_keys=PANEL_ROW_KEYS)


# The five indicators written by hand for DuckDB: the same definitions (previous week's
# events; change vs the spine's previous week; last login strictly before the week, else the
# first contract start), the way one would write them for this one job.
HAND_SQL = """
WITH b AS (SELECT epoch_us(DATE '{as_of}'::TIMESTAMP) // 86400000000 - 4 AS asof_dn),
sp AS (
  SELECT account_id, spell, start_dn // 7 AS spell_wk,
         CASE WHEN churned AND end_dn <= asof_dn THEN end_dn // 7 END AS churn_wk,
         CASE WHEN churned AND end_dn <= asof_dn THEN end_dn // 7 ELSE asof_dn // 7 END AS last_wk,
         MIN(start_dn) OVER (PARTITION BY account_id) AS first_dn
  FROM (SELECT account_id, spell::BIGINT AS spell, churned,
               epoch_us(start_date::TIMESTAMP) // 86400000000 - 4 AS start_dn,
               epoch_us(end_date::TIMESTAMP) // 86400000000 - 4 AS end_dn
        FROM read_parquet('{d}/spells.parquet')), b
  WHERE start_dn <= asof_dn),
spine AS (
  SELECT account_id, spell, first_dn, churn_wk, spell_wk,
         UNNEST(generate_series(spell_wk, last_wk)) AS wk FROM sp),
uw AS (
  SELECT account_id, dn // 7 AS awk, user_id, COUNT(*) AS n,
         BIT_OR(1 << (dn % 7)::INTEGER) AS days,
         COUNT(*) FILTER (event_type = 'data_export') AS exports,
         MAX(dn) FILTER (event_type = 'login') AS login_dn
  FROM (SELECT account_id, user_id, event_type, epoch_us(occurred_at::TIMESTAMPTZ) // 86400000000 - 4 AS dn
        FROM read_parquet('{d}/events.parquet'))
  GROUP BY ALL),
w AS (
  SELECT account_id, awk, SUM(n) AS events, COUNT(*) AS wau, BIT_COUNT(BIT_OR(days)) AS days,
         SUM(exports) AS exports,
         MAX(MAX(login_dn)) OVER (PARTITION BY account_id ORDER BY awk) AS login_dn
  FROM uw GROUP BY account_id, awk),
t AS (
  SELECT account_id, spell, contract_id, billing_period, plan, mrr, seats,
         epoch_us(start_date::TIMESTAMP) // 86400000000 - 4 AS start_dn
  FROM read_parquet('{d}/contract_terms.parquet')),
t1 AS (SELECT account_id, spell, arg_min(t, (start_dn, contract_id)) AS f FROM t GROUP BY ALL),
p AS (
  SELECT s.*, COALESCE(w.events, 0) AS events, COALESCE(w.wau, 0) AS wau,
         COALESCE(w.days, 0) AS days, COALESCE(w.exports, 0) AS exports,
         COALESCE(LAG(w.events) OVER (PARTITION BY s.account_id ORDER BY s.wk), 0) AS before
  FROM spine s LEFT JOIN w ON w.account_id = s.account_id AND w.awk = s.wk - 1)
SELECT p.account_id, CAST(DATE '1970-01-05' + CAST(7 * p.wk AS INTEGER) AS TIMESTAMP_NS)
         AS week_start,
       p.spell, p.wk - p.spell_wk AS start, p.wk - p.spell_wk + 1 AS stop,
       CASE WHEN p.wk = p.churn_wk THEN 1 ELSE 0 END::BIGINT AS event,
       a.segment, a.customer_goal, a.region,
       COALESCE(c.plan, t1.f.plan) AS plan,
       COALESCE(c.billing_period, t1.f.billing_period) AS billing_period,
       COALESCE(c.seats, t1.f.seats) AS seats, COALESCE(c.mrr, t1.f.mrr) AS mrr,
       p.wk - p.spell_wk AS tenure_weeks,
       p.wau::DOUBLE AS weekly_active_users, p.days::DOUBLE AS active_days,
       p.exports::DOUBLE AS data_exports,
       CASE WHEN p.before > 0 THEN p.events / p.before - 1.0 ELSE 0.0 END AS usage_wow_change,
       GREATEST(7 * p.wk - COALESCE(l.login_dn, p.first_dn), 0) / 7.0 AS weeks_since_last_login
FROM p ASOF LEFT JOIN w l ON l.account_id = p.account_id AND p.wk > l.awk
ASOF LEFT JOIN t c ON c.account_id = p.account_id AND c.spell = p.spell AND 7 * p.wk >= c.start_dn
JOIN t1 ON t1.account_id = p.account_id AND t1.spell = p.spell
LEFT JOIN read_parquet('{d}/accounts.parquet') a ON a.account_id = p.account_id
ORDER BY p.account_id, p.wk
"""


def run_duckdb_hand(workdir: Path, out: Path) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '4GB'")
    con.execute("SET TimeZone = 'UTC'")
    sql = HAND_SQL.format(as_of=_as_of(workdir), d=workdir)
    con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    con.close()


def run_pandas(workdir: Path, out: Path) -> None:
    """The five indicators in idiomatic pandas (vectorised groupby / merge, no loops)."""
    import numpy as np
    import pandas as pd

    day_ns = 86_400 * 10**9
    asof_dn = (pd.Timestamp(_as_of(workdir)) - pd.Timestamp("1970-01-05")).days
    sp = pd.read_parquet(
        workdir / "spells.parquet",
        columns=["account_id", "spell", "start_date", "end_date"] + ["churned"],
    )
    start_dn = (pd.to_datetime(sp["start_date"]) - pd.Timestamp("1970-01-05")).dt.days
    end_dn = (pd.to_datetime(sp["end_date"]) - pd.Timestamp("1970-01-05")).dt.days
    sp = sp.assign(start_dn=start_dn, end_dn=end_dn)[start_dn <= asof_dn]
    churned = sp["churned"].astype(bool) & (sp["end_dn"] <= asof_dn)
    sp = sp.assign(
        spell_wk=sp["start_dn"] // 7,
        churn_wk=np.where(churned, sp["end_dn"] // 7, -1).astype("int64"),
        last_wk=np.where(churned, sp["end_dn"] // 7, asof_dn // 7).astype("int64"),
        first_dn=sp.groupby("account_id")["start_dn"].transform("min"),
    )
    n = (sp["last_wk"] - sp["spell_wk"] + 1).to_numpy().astype("int64")
    spine = sp.loc[sp.index.repeat(n), ["account_id", "spell", "spell_wk", "churn_wk", "first_dn"]]
    spine["wk"] = spine["spell_wk"].to_numpy() + (
        np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    )
    spine = spine.sort_values(["account_id", "wk"], kind="stable").reset_index(drop=True)

    ev = pd.read_parquet(
        workdir / "events.parquet", columns=["account_id", "user_id", "occurred_at", "event_type"]
    )
    ns = ev["occurred_at"].dt.tz_convert(None) if ev["occurred_at"].dt.tz else ev["occurred_at"]
    ev["dn"] = ns.astype("datetime64[ns]").astype("int64") // day_ns - 4
    ev["awk"] = ev["dn"] // 7
    ev["export"] = ev["event_type"].eq("data_export")
    ev["login_dn"] = ev["dn"].where(ev["event_type"].eq("login"))
    w = ev.groupby(["account_id", "awk"], sort=False).agg(
        events=("dn", "size"),
        wau=("user_id", "nunique"),
        days=("dn", "nunique"),
        exports=("export", "sum"),
        login_dn=("login_dn", "max"),
    )
    del ev
    w = w.reset_index().sort_values(["awk", "account_id"], kind="stable")
    w["login_dn"] = w.sort_values(["account_id", "awk"]).groupby("account_id")["login_dn"].cummax()

    spine["awk"] = spine["wk"] - 1
    p = spine.merge(w.drop(columns="login_dn"), on=["account_id", "awk"], how="left")
    for col in ("events", "wau", "days", "exports"):
        p[col] = p[col].fillna(0)
    p["before"] = p.groupby("account_id")["events"].shift(fill_value=0)
    logins = w.dropna(subset=["login_dn"])[["account_id", "awk", "login_dn"]]
    p = pd.merge_asof(
        p.sort_values("awk"),
        logins.sort_values("awk"),
        on="awk",
        by="account_id",
        allow_exact_matches=True,
    ).sort_values(["account_id", "wk"], kind="stable")
    # The current contract piece: the latest one started on or before the week's Monday,
    # else (the spell's first, partial week) the spell's first piece; account attributes.
    terms = pd.read_parquet(
        workdir / "contract_terms.parquet",
        columns=["account_id", "spell", "contract_id", "start_date"]
        + ["billing_period", "plan", "mrr", "seats"],
    )
    terms["start_dn"] = (terms["start_date"] - pd.Timestamp("1970-01-05")).dt.days
    terms = terms.sort_values(["start_dn", "contract_id"], kind="stable")
    value_cols = ["billing_period", "plan", "mrr", "seats"]
    p["monday_dn"] = 7 * p["wk"]
    p = pd.merge_asof(
        p.sort_values("monday_dn"),
        terms.drop(columns=["contract_id", "start_date"]),
        left_on="monday_dn",
        right_on="start_dn",
        by=["account_id", "spell"],
    )
    first = terms.groupby(["account_id", "spell"], sort=False)[value_cols].first()
    p = p.join(first, on=["account_id", "spell"], rsuffix="_first")
    for col in value_cols:
        p[col] = p[col].where(p[col].notna(), p[f"{col}_first"])
    accounts = pd.read_parquet(
        workdir / "accounts.parquet", columns=["account_id", "segment", "customer_goal", "region"]
    )
    p = p.merge(accounts, on="account_id", how="left").sort_values(
        ["account_id", "wk"], kind="stable"
    )
    last = p["login_dn"].fillna(p["first_dn"])
    before = p["before"].to_numpy(dtype=float)
    result = pd.DataFrame(
        {
            "account_id": p["account_id"].to_numpy(),
            "week_start": pd.Timestamp("1970-01-05") + pd.to_timedelta(7 * p["wk"], "D"),
            "spell": p["spell"].astype("int64").to_numpy(),
            "start": (p["wk"] - p["spell_wk"]).to_numpy(),
            "stop": (p["wk"] - p["spell_wk"] + 1).to_numpy(),
            "event": (p["wk"] == p["churn_wk"]).astype("int64").to_numpy(),
            **{c: p[c].to_numpy() for c in ("segment", "customer_goal", "region")},
            **{c: p[c].to_numpy() for c in ("plan", "billing_period", "seats", "mrr")},
            "tenure_weeks": (p["wk"] - p["spell_wk"]).to_numpy(),
            "weekly_active_users": p["wau"].astype(float).to_numpy(),
            "active_days": p["days"].astype(float).to_numpy(),
            "data_exports": p["exports"].astype(float).to_numpy(),
            "usage_wow_change": np.where(
                before > 0,
                p["events"].to_numpy(dtype=float) / np.where(before > 0, before, 1) - 1,
                0.0,
            ),
            "weeks_since_last_login": np.maximum(7 * p["wk"] - last, 0).to_numpy(dtype=float) / 7.0,
        }
    )
    result.to_parquet(out, index=False, compression="zstd")


def measure(kind: str, workdir: Path) -> dict:
    """Run one measurement in this process (called in a subprocess)."""
    out = workdir / f"out_{kind}.parquet"
    start = time.perf_counter()
    if kind == "panel":
        run_panel(workdir, out, FIVE)
    elif kind == "panel_all":
        run_panel(workdir, out, None)
    elif kind == "duckdb":
        run_duckdb_hand(workdir, out)
    else:
        run_pandas(workdir, out)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)  # the whole process, imports included
    import pyarrow.parquet as pq

    return {
        "kind": kind,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),  # Linux: KiB
        "rows": pq.read_metadata(out).num_rows,
    }


def check(workdir: Path) -> str:
    """The three five-indicator outputs agree: same keys in the same order, values to 1e-12."""
    import numpy as np
    import pandas as pd

    columns = [*KEYS, *STATIC, "tenure_weeks", *FIVE]
    panel = pd.read_parquet(workdir / "out_panel.parquet", columns=columns)
    for kind in ("duckdb", "pandas"):
        other = pd.read_parquet(workdir / f"out_{kind}.parquet", columns=columns)
        assert len(other) == len(panel), (kind, len(other), len(panel))
        for col in [*KEYS, *STATIC, "tenure_weeks"]:
            a, b = panel[col].astype(object), other[col].astype(object)
            same = (a == b) | (a.isna() & b.isna())
            assert same.all(), (kind, col, int((~same).sum()))
        for col in FIVE:
            np.testing.assert_allclose(other[col], panel[col], rtol=0, atol=1e-12, err_msg=kind)
    return (
        f"duckdb and pandas equal the panel on {len(panel):,} rows: the contract columns "
        f"and {len(FIVE)} indicators"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=float, nargs="*", default=[])
    ap.add_argument("--interim", type=Path, help="a company's interim folder (read only)")
    ap.add_argument("--accounts", type=int, nargs="*", default=[])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/churnlab-bench"))
    ap.add_argument("--measure", choices=["panel", "panel_all", "duckdb", "pandas"])
    ap.add_argument("--check", action="store_true", help="compare the outputs in --workdir")
    ap.add_argument("--kinds", nargs="+", default=["duckdb", "panel", "panel_all", "pandas"])
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.workdir)))
        return
    if args.check:
        print(check(args.workdir))
        return
    sizes: list[tuple[str, Path]] = []
    for n in [int(x) for x in args.events]:
        wd = args.workdir / f"ev{n}"
        generate(wd, n)
        sizes.append((f"{n:,} events", wd))
    for n in args.accounts:
        if args.interim is None:
            ap.error("--accounts needs --interim")
        wd = args.workdir / f"acc{n}"
        subset(args.interim, wd, n)
        sizes.append((f"{n:,} accounts", wd))
    results = []
    for label, wd in sizes:
        row = {"size": label}
        for kind in args.kinds:
            out = subprocess.run(
                [sys.executable, __file__, "--measure", kind, "--workdir", str(wd)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            m = json.loads(out.strip().splitlines()[-1])
            m["size"] = label
            print(json.dumps(m), flush=True)
            row[kind] = m
        if {"panel", "duckdb", "pandas"} <= set(args.kinds):
            print("#", check(wd), flush=True)
        results.append(row)
    print("\nsize            | kind      | CPU s  | wall s | peak MB | rows      | CPU / duckdb")
    for r in results:
        base = r.get("duckdb", {}).get("cpu_seconds")
        for kind in args.kinds:
            m = r[kind]
            ratio = f"{m['cpu_seconds'] / base:.2f}x" if base else "-"
            print(
                f"{r['size']:<15} | {kind:<9} | {m['cpu_seconds']:>6} | {m['seconds']:>6} | "
                f"{m['peak_rss_mb']:>7} | {m['rows']:>9,} | {ratio}"
            )


if __name__ == "__main__":
    main()
