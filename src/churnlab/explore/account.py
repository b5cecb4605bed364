"""One account's weekly history: the question every CSM asks about a red account ("why?").

Built from the project's outputs, read-only: the panel (indicators, contract attributes,
churn), the score's lamps (models/health_score.json `lamps_used`; without a health score, the
hypotheses that lead churn in models/hypotheses.json, chosen by the health stage's rule), the
health score and band (data/processed/health_scores.parquet) when the health_score stage has
run, the CSM in charge each week and the contract events (data/interim).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.errors import UserError
from churnlab.explore.workspace import Workspace, open_workspace
from churnlab.health.lamps import lag_within_account, lamp_on, lamp_table, score_lamps
from churnlab.hypotheses.lamp_alerts import csm_per_row
from churnlab.io import read_json
from churnlab.project import require_input
from churnlab.reports.loaders import display_labels

FRONT = ("account_id", "week_start", "spell", "tenure_weeks", "event", "events", "csm_id")
HEALTH = ("score", "band", "churn_probability")
ATTRIBUTES = ("segment", "customer_goal", "region", "plan", "billing_period", "seats", "mrr")


def score_lamps_of(ws: Workspace) -> pd.DataFrame:
    """The lamps behind the health score: id, indicator, direction, threshold, lag_weeks,
    kind. From models/health_score.json (`lamps_used`) if the health_score stage has run,
    else the hypotheses that lead churn with a threshold (`health.lamps.score_lamps` on
    models/hypotheses.json).

    Raises:
        MissingInputError: neither file exists (names `dvc repro hypotheses`).
    """
    health = ws.path("models_dir", "health_score.json")
    if health.exists():
        used = read_json(health).get("lamps_used") or []
        cols = ["id", "indicator", "direction", "threshold", "lag_weeks", "kind"]
        return pd.DataFrame(used).reindex(columns=cols)
    hyp = require_input(ws.path("models_dir", "hypotheses.json"), "hypotheses")
    lamps, _ = score_lamps(lamp_table(read_json(hyp)["hypotheses"], None), list(ws.panel.columns))
    return lamps[["id", "indicator", "direction", "threshold", "lag_weeks", "kind"]]


def reddest_account(ws: Workspace | None = None) -> str:
    """The account with the highest churn probability in the latest scored week (among the
    accounts still customers then) - a red account to start from.

    Raises:
        MissingInputError: data/processed/health_scores.parquet is missing (names
            `dvc repro health_score`).
    """
    ws = ws if ws is not None else open_workspace()
    path = require_input(ws.path("processed_dir", "health_scores.parquet"), "health_score")
    scores = pd.read_parquet(path, columns=["account_id", "week_start", "churn_probability"])
    latest = scores[scores["week_start"] == scores["week_start"].max()]
    return str(latest.sort_values(["churn_probability", "account_id"]).iloc[-1]["account_id"])


def _week_of(dates: pd.Series) -> pd.Series:
    """The Monday of each date's week (the panel's W-MON weeks)."""
    d = pd.to_datetime(dates)
    if d.dt.tz is not None:
        d = d.dt.tz_localize(None)
    return d.dt.normalize() - pd.to_timedelta(d.dt.weekday, unit="D")


def _contract_events(ws: Workspace, account_id: str) -> pd.DataFrame:
    """(week_start, event text) of the account's contracts: starts, cancellation notices and
    ends, from data/interim/contracts.parquet (nothing if the file is missing)."""
    path = ws.path("interim_dir", "contracts.parquet")
    if not path.exists():
        return pd.DataFrame(columns=["week_start", "what"])
    c = pd.read_parquet(path)
    c = c[c["account_id"].astype(str) == account_id]
    parts = []
    for col, label in (("start_date", "contract start"), ("cancelled_at", "cancellation notice"),
                       ("end_date", "contract end")):  # fmt: skip
        if col in c.columns:
            d = c[[col]].dropna()
            plan = c.loc[d.index, "plan"].astype(str) if "plan" in c.columns else ""
            what = label + (" (" + plan + ")" if col == "start_date" and len(d) else "")
            parts.append(pd.DataFrame({"week_start": _week_of(d[col]), "what": what}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def account_history(account_id: str, ws: Workspace | None = None) -> pd.DataFrame:
    """One row per week the account was a customer (panel rows), oldest first.

    Columns: account_id, week_start, spell, tenure_weeks, event (1 = churned that week),
    events (contract starts / cancellation notices / ends, CSM changes and churn in that
    week, "; "-joined), csm_id (in charge that week), score / band / churn_probability (if
    the health score exists), the account's attributes (billing_period in the user's own
    label where params.yaml `vocabulary.billing_period` maps exactly one to it), one `lamp:<hypothesis id>` column
    per score lamp (`score_lamps_of`; 1 = on that week, read at the lamp's lag, as the score
    reads it; 0 = off or unknown), then every indicator of panel_meta.json.
    `attrs["lamp_indicators"]`: the indicators of the lamps that were on at some point (what
    `plot_account_history` draws by default).

    Raises:
        UserError: the account is not in the panel: rejected at ingest (its account row, or
            its contract rows, in data/interim/quarantine: reason, column, file and row;
            `ingest_fate`), else not in the data (with the closest ids).
        MissingInputError: no models/hypotheses.json (the lamps need it).
    """
    ws = ws if ws is not None else open_workspace()
    account_id = str(account_id)
    panel = ws.panel
    rows = panel[panel["account_id"].astype(str) == account_id]
    if rows.empty:
        import difflib

        fate = ingest_fate(account_id, *_quarantine_of(ws, account_id))
        if fate:
            raise UserError(fate)
        ids = panel["account_id"].astype(str).unique().tolist()
        close = difflib.get_close_matches(account_id, ids, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UserError(
            f"{ws.path('processed_dir', 'panel.parquet')}: no account '{account_id}'{hint}"
        )
    rows = rows.reset_index(drop=True)
    out = rows[[c for c in (*FRONT, *ATTRIBUTES) if c in rows.columns]].copy()
    if "csm_id" not in out.columns:
        path = ws.path("interim_dir", "csm_assignments.parquet")
        out["csm_id"] = csm_per_row(rows, pd.read_parquet(path) if path.exists() else None)
    lamps = score_lamps_of(ws)
    for lp in lamps.itertuples(index=False):
        if lp.indicator in rows.columns and np.isfinite(lp.threshold):
            values = lag_within_account(rows, lp.indicator, int(lp.lag_weeks))
            out[f"lamp:{lp.id}"] = lamp_on(values, lp.direction, float(lp.threshold)).to_numpy()
    health = ws.path("processed_dir", "health_scores.parquet")
    if health.exists():
        scores = pd.read_parquet(health)
        scores = scores[scores["account_id"].astype(str) == account_id]
        keys = [k for k in ("week_start", "spell") if k in scores.columns and k in out.columns]
        out = out.merge(scores[[*keys, *HEALTH]], on=keys, how="left")
    indicators = [i for i in (ws.meta.get("indicators") or {}) if i in rows.columns]
    for ind in indicators:
        out[ind] = rows[ind].to_numpy()
    out["events"] = _events_per_week(out, _contract_events(ws, account_id))
    labels = display_labels((ws.params or {}).get("vocabulary"))
    if "billing_period" in out.columns and labels.get("billing_period"):
        # the panel holds the meaning (monthly / annual); show the user's own label
        out["billing_period"] = out["billing_period"].map(
            lambda v: labels["billing_period"].get(str(v), v) if pd.notna(v) else v
        )
    out = out[[c for c in FRONT if c in out.columns] + [c for c in out.columns if c not in FRONT]]
    out.attrs["account_id"] = account_id
    out.attrs["lamp_indicators"] = [
        lp.indicator for lp in lamps.itertuples(index=False)
        if f"lamp:{lp.id}" in out.columns and out[f"lamp:{lp.id}"].any()
    ]  # fmt: skip
    return out


def _events_per_week(out: pd.DataFrame, contracts: pd.DataFrame) -> pd.Series:
    """Per row, the week's events joined by "; " ('' for none)."""
    week = pd.to_datetime(out["week_start"])
    text: dict[int, list[str]] = {i: [] for i in range(len(out))}
    pos = {w: i for i, w in enumerate(week)}  # a week appears once per account
    for r in contracts.itertuples(index=False):
        if r.week_start in pos:
            text[pos[r.week_start]].append(r.what)
    csm = out["csm_id"].astype("string")
    changed = csm.ne(csm.shift()) & csm.shift().notna() & csm.notna()
    for i in np.flatnonzero(changed.to_numpy()):
        text[i].append(f"CSM {csm.iloc[i - 1]} -> {csm.iloc[i]}")
    for i in np.flatnonzero(out["event"].to_numpy() == 1):
        text[i].append("churn")
    return pd.Series(["; ".join(v) for v in text.values()], index=out.index, dtype="string")


QUARANTINE_COLUMNS = ["account_id", "_source_file", "_source_row", "_reason", "_column", "_detail"]


def _quarantine_of(ws: Workspace, account_id: str) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """(account rows, contract rows) of data/interim/quarantine whose account_id is
    `account_id` once trimmed (ingest trims ids), and the quarantine folder; empty frames
    where a file is missing."""
    folder = ws.path("interim_dir", "quarantine")
    out = []
    for table in ("accounts", "contracts"):
        path = folder / f"{table}.parquet"
        if not path.exists():
            out.append(pd.DataFrame(columns=QUARANTINE_COLUMNS))
            continue
        import pyarrow.parquet as pq

        names = set(pq.read_schema(path).names)
        q = pd.read_parquet(path, columns=[c for c in QUARANTINE_COLUMNS if c in names])
        mine = q["account_id"].astype("string").str.strip() == account_id if len(q) else []
        out.append(q[mine].reindex(columns=QUARANTINE_COLUMNS) if len(q) else q)
    return out[0], out[1], folder


def _where(row: pd.Series) -> str:
    """'unparseable_date in signup_date (data/raw/accounts.csv row 3)' for a quarantine row."""
    column = row.get("_column")
    reason = str(row["_reason"]) + (f" in {column}" if pd.notna(column) and column else "")
    return f"{reason} ({row['_source_file']} row {row['_source_row']})"


def ingest_fate(
    account_id: str, accounts_q: pd.DataFrame, contracts_q: pd.DataFrame, folder: Path
) -> str | None:
    """Why an account with no panel rows is missing, when ingest rejected it: one line naming
    the quarantine reason, column, source file and row, or None when the quarantine does not
    hold it (then the id is simply not in the data).

    `accounts_q` / `contracts_q`: the account's rows in the accounts / contracts quarantine
    (columns `_source_file`, `_source_row`, `_reason`, optional `_column`). An account row
    quarantined as a copy (`duplicate`, `duplicate_key`) does not reject the account (its
    first row was kept), so only the other reasons count there; the first row by file and
    row is named. An account whose contract rows were all quarantined has no weeks as a
    customer: the first of them is named, with how many there are.
    """
    own = accounts_q[~accounts_q["_reason"].astype(str).isin(["duplicate", "duplicate_key"])]
    if len(own):
        first = own.assign(_n=pd.to_numeric(own["_source_row"])).sort_values(
            ["_source_file", "_n"], kind="stable"
        ).iloc[0]  # fmt: skip
        return (
            f"{folder / 'accounts.parquet'}: account '{account_id}' was rejected at ingest - "
            f"its row was quarantined: {_where(first)}; fix that row of the export and rerun "
            "`dvc repro`"
        )
    if len(contracts_q):
        rows = contracts_q.assign(_n=pd.to_numeric(contracts_q["_source_row"]))
        first = rows.sort_values(["_source_file", "_n"], kind="stable").iloc[0]
        more = f" and {len(rows) - 1} more" if len(rows) > 1 else ""
        return (
            f"{folder / 'contracts.parquet'}: account '{account_id}' has no weeks as a "
            f"customer - its contract rows were rejected at ingest: {_where(first)}{more}; "
            "fix them in the export and rerun `dvc repro`"
        )
    return None
