"""One account's weekly history: the question every CSM asks about a red account ("why?").

Built from the project's outputs, read-only: the panel (indicators, contract attributes,
churn), the score's lamps (models/health_score.json `lamps_used`; without a health score, the
hypotheses that lead churn in models/hypotheses.json, chosen by the health stage's rule), the
health score and band (data/processed/health_scores.parquet) when the health_score stage has
run, the CSM in charge each week and the contract events (data/interim).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.errors import UserError
from churnlab.explore.workspace import Workspace, open_workspace
from churnlab.health.lamps import lag_within_account, lamp_on, lamp_table, score_lamps
from churnlab.hypotheses.lamp_alerts import csm_per_row
from churnlab.io import read_json
from churnlab.project import require_input

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
    the health score exists), the account's attributes, one `lamp:<hypothesis id>` column
    per score lamp (`score_lamps_of`; 1 = on that week, read at the lamp's lag, as the score
    reads it; 0 = off or unknown), then every indicator of panel_meta.json.
    `attrs["lamp_indicators"]`: the indicators of the lamps that were on at some point (what
    `plot_account_history` draws by default).

    Raises:
        UserError: the account is not in the panel (with the closest ids).
        MissingInputError: no models/hypotheses.json (the lamps need it).
    """
    ws = ws if ws is not None else open_workspace()
    account_id = str(account_id)
    panel = ws.panel
    rows = panel[panel["account_id"].astype(str) == account_id]
    if rows.empty:
        import difflib

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
