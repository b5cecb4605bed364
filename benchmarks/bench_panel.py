"""Benchmark the DuckDB panel path against a plain DuckDB baseline on synthetic events.

    python benchmarks/bench_panel.py --events 5000000 50000000 --workdir /tmp/churnlab-bench

For each size it writes a synthetic company (accounts x 2 years, ~2,500 events per account,
8 users per account, monthly/annual contracts, ~30% churned) as interim Parquet, then runs,
each in a fresh subprocess so peak RSS is its own:
- baseline: `SELECT account_id, week, COUNT(*) ... GROUP BY ALL` over the same events;
- panel: the full panel (all indicators the tables allow) -> finish() -> panel.parquet.
Both use DuckDB with 2 threads and memory_limit 4GB. Prints one JSON line per measurement
and a summary table (seconds, events/s, peak RSS, panel / baseline ratio).
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
    # Events: account = i % n_acc, spread over the account's first ~700 days.
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
              JOIN acc a ON a.i = e.i % {n_acc})
        TO '{workdir}/events.parquet' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
    """)
    con.close()
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


def measure(kind: str, workdir: Path) -> dict:
    """Run one measurement in this process (called in a subprocess)."""
    start = time.perf_counter()
    if kind == "baseline":
        import duckdb

        con = duckdb.connect()
        con.execute("SET threads = 2")
        con.execute("SET memory_limit = '4GB'")
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(f"""
            SELECT COUNT(*) FROM (
              SELECT account_id, date_trunc('week', occurred_at) AS week, COUNT(*) AS n
              FROM read_parquet('{workdir}/events.parquet') GROUP BY ALL)
        """).fetchone()[0]
    else:
        from churnlab.indicators.blocks import Settings
        from churnlab.io import write_parquet
        from churnlab.panel.engines import finish, run_duckdb
        from churnlab.panel.query import panel_steps, select_indicators

        tables = ("accounts", "contracts", "events", "users")
        paths = {t: workdir / f"{t}.parquet" for t in tables}
        # The spine reads ingest's contract history; derive it with ingest's own rules.
        paths.update({t: workdir / f"{t}.parquet" for t in ("contract_terms", "spells")})
        sql = panel_steps(select_indicators(set(tables)), Settings(as_of="2025-12-31"))
        panel = finish(run_duckdb(paths, sql, threads=2, memory_limit="4GB"))
        write_parquet(panel, workdir / "panel.parquet")
        rows = len(panel)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = usage.ru_maxrss / 1024  # Linux: KiB
    # CPU seconds as well as wall: the 2-core machine is shared, so wall time varies with load.
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "kind": kind,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mb": round(peak_mb),
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=float, nargs="+", default=[5e6, 50e6])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/churnlab-bench"))
    ap.add_argument("--measure", choices=["baseline", "panel"])
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.workdir)))
        return
    results = []
    for n in [int(x) for x in args.events]:
        wd = args.workdir / f"ev{n}"
        t0 = time.perf_counter()
        generate(wd, n)
        print(f"# data for {n:,} events ready in {time.perf_counter() - t0:.0f}s", flush=True)
        row = {"events": n}
        for kind in ("baseline", "panel"):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", kind, "--workdir", str(wd)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            m = json.loads(out.strip().splitlines()[-1])
            m["events"] = n
            m["events_per_s"] = round(n / m["seconds"])
            print(json.dumps(m), flush=True)
            row[kind] = m
        results.append(row)
    print("\nevents      | panel s | events/s  | peak RSS MB | panel rows | baseline s | ratio")
    for r in results:
        p, b = r["panel"], r["baseline"]
        print(
            f"{r['events']:>11,} | {p['seconds']:>7} | {p['events_per_s']:>9,} | "
            f"{p['peak_rss_mb']:>11} | {p['rows']:>10,} | {b['seconds']:>10} | "
            f"{p['seconds'] / b['seconds']:.1f}x"
        )
    if len(results) > 1:
        a, b = results[0], results[-1]
        growth = b["panel"]["seconds"] / a["panel"]["seconds"]
        print(f"time x{growth:.1f} for events x{b['events'] / a['events']:.0f}")


if __name__ == "__main__":
    main()
