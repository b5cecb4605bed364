"""Customer state on any day, from ingest's contract terms and spells (CONTRACTS v2).

Inputs (written by ingest, data/interim/):
- contract_terms: non-overlapping pieces `account_id, spell, contract_id, start_date,
  end_date (exclusive; NaT = open), billing_period, plan, mrr`; within a spell the pieces are
  contiguous (ingest bridges short gaps), between spells there is a gap (churn, then a
  reactivation).
- spells: `account_id, spell, start_date, end_date, churned, censored_reason`; a churned
  spell's end_date (<= as_of) is its churn date, the first day without service.

An account is *active on day d* when one of its pieces has `start_date <= d < end_date`; its MRR
that day is that piece's MRR (exactly one piece: overlaps are refused, so a mid-term upgrade is
never counted twice). A spell that is not churned (censored: "running" or
"renewal_not_observable") is running at as_of by definition, so its last piece is taken as open:
a term that ended just before as_of without notice keeps its MRR until its renewal can be seen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.errors import UserError

TERMS_FILE = "contract_terms.parquet"
SPELLS_FILE = "spells.parquet"
STATE_COLUMNS = ["account_id", "date", "spell", "mrr", "billing_period", "plan"]


def check_terms(terms: pd.DataFrame, spells: pd.DataFrame) -> None:
    """Refuse inputs that would double-count MRR or disagree on churn dates.

    Errors (UserError, one line): two pieces of one account overlap; a churned spell's
    end_date differs from the end of its last piece in contract_terms."""
    t = terms.sort_values(["account_id", "start_date"], kind="stable")
    same = t["account_id"].eq(t["account_id"].shift(-1))
    end = t["end_date"].fillna(pd.Timestamp.max)
    overlap = same & (end > t["start_date"].shift(-1))
    if overlap.any():
        i = np.flatnonzero(overlap.to_numpy())[0]
        a, b = t.iloc[i], t.iloc[i + 1]
        raise UserError(
            f"{TERMS_FILE}: account {a['account_id']}: pieces {a['contract_id']} "
            f"({a['start_date'].date()}..{_day(a['end_date'])}) and {b['contract_id']} (from "
            f"{b['start_date'].date()}) overlap; ingest writes non-overlapping pieces "
            "(re-run `churnlab ingest`)"
        )
    last_end = (
        terms.assign(end=end)
        .groupby(["account_id", "spell"], sort=False)["end"]
        .max()
        .rename("last_end")
        .reset_index()
    )
    churned = spells[spells["churned"]].merge(last_end, on=["account_id", "spell"], how="left")
    bad = churned["last_end"] != churned["end_date"]
    if bad.any():
        r = churned[bad].iloc[0]
        raise UserError(
            f"{SPELLS_FILE}: account {r['account_id']} spell {r['spell']}: churned with "
            f"end_date {_day(r['end_date'])} but its last piece in {TERMS_FILE} ends "
            f"{_day(r['last_end'])}; the two files must come from one ingest run"
        )


def _day(ts) -> str:
    return "open" if pd.isna(ts) or ts == pd.Timestamp.max else str(pd.Timestamp(ts).date())


def terms_in_force(terms: pd.DataFrame, spells: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The pieces known at as_of, with the last piece of every non-churned spell left open.

    Returns terms' columns (plan added as null when absent), sorted account_id, start_date."""
    t = terms[terms["start_date"] <= as_of].copy()
    if "plan" not in t.columns:
        t["plan"] = None
    t = t.sort_values(["account_id", "start_date"], kind="stable").reset_index(drop=True)
    running = spells.loc[~spells["churned"].astype(bool), ["account_id", "spell"]]
    last = t.groupby(["account_id", "spell"], sort=False)["start_date"].idxmax()
    last = last[last.index.isin(pd.MultiIndex.from_frame(running))]
    t.loc[last.to_numpy(), "end_date"] = pd.NaT
    return t


def state_at(terms: pd.DataFrame, dates) -> pd.DataFrame:
    """One row per (account, date) with a piece in force: STATE_COLUMNS, in the order of
    `terms` (for sorted terms: by account, then date).

    `terms` must be non-overlapping (check_terms), so each pair has exactly one piece. Each
    piece is expanded to the sorted dates it covers (start_date <= date < end_date) with two
    binary searches, so the work is proportional to the rows returned."""
    days = pd.DatetimeIndex(pd.unique(pd.DatetimeIndex(dates))).sort_values()
    if terms.empty or len(days) == 0:
        return pd.DataFrame(columns=STATE_COLUMNS)
    lo = days.searchsorted(terms["start_date"].to_numpy(), side="left")
    ends = terms["end_date"].fillna(pd.Timestamp.max).to_numpy()
    hi = days.searchsorted(ends, side="left")
    n = np.clip(hi - lo, 0, None)
    piece = np.repeat(np.arange(len(terms)), n)
    offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    src = terms.iloc[piece]
    out = pd.DataFrame(
        {
            "account_id": src["account_id"].to_numpy(),
            "date": days[np.repeat(lo, n) + offset],
            "spell": src["spell"].to_numpy(dtype="int64"),
            "mrr": src["mrr"].to_numpy(dtype=float),
            "billing_period": src["billing_period"].to_numpy(),
            "plan": src["plan"].to_numpy(),
        }
    )
    return out  # in terms' order (account, start), each piece's dates ascending


def spell_subjects(terms: pd.DataFrame, spells: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per spell started by as_of: account_id, spell, start_date, exit_date (churn
    date, else as_of: censored), churned, billing_period and plan of the spell's first piece
    (the plan at the spell's time zero, so grouping never looks into the future)."""
    s = spells[spells["start_date"] <= as_of].copy()
    first = (
        terms.sort_values(["account_id", "start_date"], kind="stable")
        .groupby(["account_id", "spell"], sort=False)[["billing_period", "plan"]]
        .first()
        .reset_index()
    )
    s = s.merge(first, on=["account_id", "spell"], how="left")
    s["churned"] = s["churned"].astype(bool)
    s["exit_date"] = s["end_date"].where(s["churned"], as_of)
    cols = ["account_id", "spell", "start_date", "exit_date", "churned", "billing_period", "plan"]
    return s.sort_values(["account_id", "spell"]).reset_index(drop=True)[cols]
