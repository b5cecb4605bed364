"""Contract histories as real billing exports hold them: mid-term upgrades, reactivations, and
the export's shape (`simulate.midterm_upgrade_share`, `reactivation_share`, `shape`).

All of it happens after the churn draw, on the block's contract rows (day indices, as
`contracts.contract_rows` returns them), with draws from the block's own history seed stream:
the latent world, the churn and every activity table are the same with or without it.

The simulator's truth is kept apart from the rows it writes:
    pieces  acct, spell, start_day, end_day (-1 = open), seats, mrr: the account's contract in
            force, non-overlapping by construction (an upgrade splits the piece it lands in)
    spells  acct, spell (1-based), start_day, end_day (-1 = running), churned (bool)
`monthly_record` is computed from these, never from the written rows.

Mechanisms:
- Mid-term upgrade (a share of accounts with a contract row long enough, one each): on a day u
  at least MARGIN_DAYS inside a row (and before its cancellation notice), a NEW row starts at
  u with 20-50% more seats (MRR at the plan's price) and the row's own end and notice; the
  old row keeps its original end (the rows overlap, as billing exports write them; the later
  row supersedes from its start). Every later row of the account carries the added seats.
- Reactivation (a share of churned accounts whose return day falls in the window): 2-6
  calendar months (+ 0-14 days) after the churn date the account signs a new contract (same
  billing period and plan, the seats it left with): monthly one open row, annual 12-month
  terms. A reactivated account stays a customer to the end of the window. Its activity tables
  end at the first churn (the returning spell has no users' activity) — a stated limit.
- Shapes: `history` (today's rows plus the above); `log_ends_mid_term` (monthly accounts: one
  row per COMPLETED monthly term, so a running account's last row ends in the export's last
  month with no successor and no notice; a running account with no completed term yet keeps
  its first term, which ends after the export; annual rows as in `history`);
  `snapshot` (one row per account: its latest spell from its start, current seats/MRR; end =
  the export day if it churned (no notice date, the reason kept), open if running).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.simulate.contracts import row_mrr
from churnlab.simulate.timegrid import Grid, add_months

MARGIN_DAYS = 14  # an upgrade lands at least this many days inside its row
UPGRADE_GROWTH = (0.2, 0.5)  # seats added, as a share of the row's seats
REACTIVATION_MONTHS = (2, 6)  # calendar months between churn and return (inclusive)
REACTIVATION_JITTER_DAYS = 15  # plus 0..14 days
MAX_DAYS = 100_000  # > any day index, to build (account, day) search keys
ROW_COLUMNS = [
    "acct",
    "term",
    "start_day",
    "end_day",
    "seats",
    "mrr",
    "cancelled_day",
    "cancel_reason",
]


@dataclass
class History:
    rows: pd.DataFrame  # the contract rows to write (ROW_COLUMNS, day indices)
    pieces: pd.DataFrame
    spells: pd.DataFrame
    upgrades: pd.DataFrame  # acct, day, add, row_start_day
    upgrade_eligible: int  # accounts with a row long enough for an upgrade
    reactivation_eligible: int  # churned accounts whose return day falls in the window


@dataclass
class Draws:
    """Uniforms per account, drawn whatever the shares (so a larger share adds accounts)."""

    up: np.ndarray
    up_row: np.ndarray
    up_day: np.ndarray
    up_add: np.ndarray
    re: np.ndarray
    re_gap: np.ndarray
    re_jitter: np.ndarray


def draw(rng: np.random.Generator, n: int) -> Draws:
    u = rng.random((7, n))
    return Draws(*u)


def _eff_end(grid: Grid, rows: pd.DataFrame) -> np.ndarray:
    """A row's last day + 1 as far as the window sees it (open rows run past end_day)."""
    end = rows["end_day"].to_numpy()
    return np.where(end < 0, grid.end_day + 1, np.minimum(end, grid.end_day + 1))


def choose_upgrades(
    grid: Grid, acc: pd.DataFrame, renew_day: np.ndarray, rows: pd.DataFrame, d: Draws, share: float
) -> tuple[pd.DataFrame, int]:
    """One upgrade per chosen account: row (index into `rows`), day, seats added; and the
    number of accounts with an eligible row.

    Eligible rows: [start + MARGIN, min(end, window end, notice) - MARGIN) not empty. The day
    never falls on a monthly account's billing anniversary (a row starting that day would tie
    with the month's own term in the `log_ends_mid_term` shape).
    """
    start = rows["start_day"].to_numpy()
    stop = _eff_end(grid, rows)
    notice = rows["cancelled_day"].to_numpy()
    stop = np.where(notice >= 0, np.minimum(stop, notice), stop)
    lo, hi = start + MARGIN_DAYS, stop - MARGIN_DAYS
    ok = hi > lo
    acct = rows["acct"].to_numpy()
    n = len(acc)
    count = np.bincount(acct[ok], minlength=n)
    chosen = (count > 0) & (d.up < share)
    pick = np.floor(d.up_row * count).astype(np.int64)  # which eligible row of the account
    rank = pd.Series(ok.astype(np.int64)).groupby(acct).cumsum().to_numpy() - 1
    sel = ok & chosen[acct] & (rank == pick[acct])
    idx = np.nonzero(sel)[0]
    a = acct[idx]
    day = lo[idx] + np.floor(d.up_day[a] * (hi[idx] - lo[idx])).astype(np.int64)
    monthly = ~acc["annual"].to_numpy()[a]
    anniversary = (renew_day[a] == day[:, None]).any(axis=1) | (
        acc["signup_day"].to_numpy()[a] == day
    )
    day = np.where(monthly & anniversary, day + 1, day)
    seats = rows["seats"].to_numpy()[idx]
    growth = UPGRADE_GROWTH[0] + (UPGRADE_GROWTH[1] - UPGRADE_GROWTH[0]) * d.up_add[a]
    add = np.ceil(seats * growth).astype(np.int64)
    return pd.DataFrame(
        {"row": idx, "acct": a, "day": day, "add": add, "row_start_day": start[idx]}
    ), int((count > 0).sum())


def apply_upgrades(
    acc: pd.DataFrame, rows: pd.DataFrame, up: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows with the overlapping upgrade rows added, true non-overlapping pieces)."""
    rows = rows.reset_index(drop=True).copy()
    acct = rows["acct"].to_numpy()
    add_from = np.full(len(acc), MAX_DAYS, dtype=np.int64)  # later rows start at/after the end
    add = np.zeros(len(acc), dtype=np.int64)
    up_end = rows["end_day"].to_numpy()[up["row"].to_numpy()]
    add_from[up["acct"].to_numpy()] = np.where(up_end < 0, MAX_DAYS, up_end)
    add[up["acct"].to_numpy()] = up["add"].to_numpy()
    later = rows["start_day"].to_numpy() >= add_from[acct]
    seats = rows["seats"].to_numpy() + np.where(later, add[acct], 0)
    rows["seats"] = seats
    rows["mrr"] = np.where(later, row_mrr(acc, acct, seats), rows["mrr"].to_numpy())
    base = rows.loc[up["row"].to_numpy()]
    new = base.copy()
    new["start_day"] = up["day"].to_numpy()
    new["seats"] = base["seats"].to_numpy() + up["add"].to_numpy()
    new["mrr"] = row_mrr(acc, base["acct"].to_numpy(), new["seats"].to_numpy())
    pieces = rows.copy()
    pieces.loc[up["row"].to_numpy(), "end_day"] = up["day"].to_numpy()
    pieces = pd.concat([pieces, new], ignore_index=True)
    out = pd.concat([rows, new], ignore_index=True)
    return _sorted(out), _sorted(pieces)


def _sorted(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.sort_values(["acct", "start_day"], kind="stable", ignore_index=True)
    out["term"] = out.groupby("acct").cumcount().to_numpy()
    return out


def reactivation_rows(
    grid: Grid,
    acc: pd.DataFrame,
    pieces: pd.DataFrame,
    churn_day: np.ndarray,
    d: Draws,
    share: float,
) -> tuple[pd.DataFrame, int]:
    """Rows of the returning spells (cancel columns empty) and the number of eligible churns."""
    lo, hi = REACTIVATION_MONTHS
    gap = lo + np.floor(d.re_gap * (hi - lo + 1)).astype(np.int64)
    back = add_months(grid, np.maximum(churn_day, 0), gap)
    back = back + np.floor(d.re_jitter * REACTIVATION_JITTER_DAYS).astype(np.int64)
    eligible = (churn_day >= 0) & (back <= grid.end_day)
    chosen = np.nonzero(eligible & (d.re < share))[0]
    last = pieces.groupby("acct").tail(1).set_index("acct")  # the piece the account left with
    seats = last["seats"].reindex(chosen).to_numpy().astype(np.int64)
    annual = acc["annual"].to_numpy()[chosen]
    # annual: 12-month terms until the one covering end_day; monthly: one open row
    n_terms = np.where(annual, 1 + (grid.end_day - back[chosen]) // 365 + 1, 1)
    a = np.repeat(chosen, n_terms)
    j = np.arange(n_terms.sum()) - np.repeat(np.cumsum(n_terms) - n_terms, n_terms)
    first = np.repeat(back[chosen], n_terms)
    start = add_months(grid, first, 12 * j)
    end = np.where(acc["annual"].to_numpy()[a], add_months(grid, first, 12 * (j + 1)), -1)
    keep = start <= grid.end_day
    a, start, end = a[keep], start[keep], end[keep]
    s = np.repeat(seats, n_terms)[keep]
    out = pd.DataFrame(
        {
            "acct": a,
            "term": 0,
            "start_day": start.astype(np.int64),
            "end_day": end.astype(np.int64),
            "seats": s,
            "mrr": row_mrr(acc, a, s),
            "cancelled_day": -1,
            "cancel_reason": None,
        }
    )
    return out, int(eligible.sum())


def true_spells(grid: Grid, acc: pd.DataFrame, churn_day: np.ndarray, back: pd.DataFrame):
    """spells: the first from signup (churned or running), a second from each return day."""
    first = pd.DataFrame(
        {
            "acct": np.arange(len(acc)),
            "spell": 1,
            "start_day": acc["signup_day"].to_numpy(),
            "end_day": churn_day,
            "churned": churn_day >= 0,
        }
    )
    ret = back.groupby("acct")["start_day"].min()
    second = pd.DataFrame(
        {
            "acct": ret.index.to_numpy(),
            "spell": 2,
            "start_day": ret.to_numpy(),
            "end_day": -1,
            "churned": False,
        }
    )
    out = pd.concat([first, second], ignore_index=True)
    return out.sort_values(["acct", "spell"], kind="stable", ignore_index=True)


def _in_force(pieces: pd.DataFrame, acct: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Row of `pieces` (sorted acct, start_day) in force on `day` for each (acct, day)."""
    keys = pieces["acct"].to_numpy() * MAX_DAYS + pieces["start_day"].to_numpy()
    return np.searchsorted(keys, acct * MAX_DAYS + day, side="right") - 1


def _notices(rows: pd.DataFrame) -> pd.DataFrame:
    """Per account (index acct): cancelled_day and cancel_reason of its churn (one at most)."""
    cancelled = rows[rows["cancelled_day"].to_numpy() >= 0]
    return cancelled.groupby("acct")[["cancelled_day", "cancel_reason"]].last()


def log_rows(
    grid: Grid,
    acc: pd.DataFrame,
    rows: pd.DataFrame,
    pieces: pd.DataFrame,
    spells: pd.DataFrame,
    up: pd.DataFrame,
) -> pd.DataFrame:
    """`log_ends_mid_term`: monthly accounts as one row per completed monthly term."""
    annual = acc["annual"].to_numpy()
    keep_annual = rows[annual[rows["acct"].to_numpy()]]
    sp = spells[~annual[spells["acct"].to_numpy()]].reset_index(drop=True)
    n_months = grid.n_weeks * 7 // 28 + 2
    j = np.arange(n_months + 1)
    anchors = add_months(grid, np.repeat(sp["start_day"].to_numpy()[:, None], len(j), 1), j)
    churned = sp["churned"].to_numpy()
    limit = np.where(churned, sp["end_day"].to_numpy(), grid.end_day)
    n_terms = (anchors[:, 1:] <= limit[:, None]).sum(axis=1)
    n_terms = np.where(~churned & (n_terms == 0), 1, n_terms)  # no completed term yet
    s_row = np.repeat(np.arange(len(sp)), n_terms)
    t = np.arange(n_terms.sum()) - np.repeat(np.cumsum(n_terms) - n_terms, n_terms)
    a = sp["acct"].to_numpy()[s_row]
    start, end = anchors[s_row, t], anchors[s_row, t + 1]
    piece = pieces.iloc[_in_force(pieces, a, start)]
    last_term = churned[s_row] & (t == n_terms[s_row] - 1)
    notice = _notices(rows)
    cancelled = np.where(last_term, notice["cancelled_day"].reindex(a).to_numpy(), -1)
    reason = np.where(last_term, notice["cancel_reason"].reindex(a).to_numpy(), None)
    terms = pd.DataFrame(
        {
            "acct": a,
            "term": 0,
            "start_day": start,
            "end_day": end,
            "seats": piece["seats"].to_numpy(),
            "mrr": piece["mrr"].to_numpy(),
            "cancelled_day": cancelled.astype(np.int64),
            "cancel_reason": reason,
        }
    )
    # an upgrade inside a written term: a row from the upgrade day to the term's end
    upm = up[~annual[up["acct"].to_numpy()]]
    found = _in_force(terms, upm["acct"].to_numpy(), upm["day"].to_numpy())
    ok = (found >= 0) & (terms["acct"].to_numpy()[np.maximum(found, 0)] == upm["acct"].to_numpy())
    ok &= upm["day"].to_numpy() < terms["end_day"].to_numpy()[np.maximum(found, 0)]
    extra = terms.iloc[found[ok]].copy()
    extra["start_day"] = upm["day"].to_numpy()[ok]
    new_piece = pieces.iloc[
        _in_force(pieces, extra["acct"].to_numpy(), extra["start_day"].to_numpy())
    ]
    extra["seats"] = new_piece["seats"].to_numpy()
    extra["mrr"] = new_piece["mrr"].to_numpy()
    return _sorted(pd.concat([keep_annual, terms, extra], ignore_index=True)[ROW_COLUMNS])


def snapshot_rows(
    grid: Grid, rows: pd.DataFrame, pieces: pd.DataFrame, spells: pd.DataFrame
) -> pd.DataFrame:
    """`snapshot`: one row per account, its latest spell as of the export day."""
    sp = spells.groupby("acct").tail(1).reset_index(drop=True)
    a = sp["acct"].to_numpy()
    churned = sp["churned"].to_numpy()
    last_day = np.where(churned, sp["end_day"].to_numpy() - 1, grid.end_day)
    piece = pieces.iloc[_in_force(pieces, a, last_day)]
    reason = _notices(rows)["cancel_reason"].reindex(a)
    return pd.DataFrame(
        {
            "acct": a,
            "term": sp["spell"].to_numpy() - 1,  # ids C<account>-<spell>
            "start_day": sp["start_day"].to_numpy(),
            "end_day": np.where(churned, grid.end_day, -1).astype(np.int64),
            "seats": piece["seats"].to_numpy(),
            "mrr": piece["mrr"].to_numpy(),
            "cancelled_day": -1,
            "cancel_reason": np.where(churned, reason.to_numpy(), None),
        }
    )


def build_history(
    grid: Grid,
    acc: pd.DataFrame,
    renew_day: np.ndarray,
    rows: pd.DataFrame,
    churn_day: np.ndarray,
    d: Draws,
    shape: str,
    upgrade_share: float,
    reactivation_share: float,
) -> History:
    """The rows to write in `shape`, and the simulator's own pieces and spells."""
    up, up_eligible = choose_upgrades(grid, acc, renew_day, rows, d, upgrade_share)
    with_up, pieces = apply_upgrades(acc, rows, up)
    back, re_eligible = reactivation_rows(grid, acc, pieces, churn_day, d, reactivation_share)
    spells = true_spells(grid, acc, churn_day, back)
    pieces = _sorted(pd.concat([pieces, back], ignore_index=True))
    first_back = spells.loc[spells["spell"] == 2].set_index("acct")["start_day"]
    back_from = first_back.reindex(pieces["acct"]).fillna(MAX_DAYS).to_numpy()
    pieces["spell"] = np.where(pieces["start_day"].to_numpy() >= back_from, 2, 1)
    history_rows = _sorted(pd.concat([with_up, back], ignore_index=True)[ROW_COLUMNS])
    if shape == "log_ends_mid_term":
        written = log_rows(grid, acc, history_rows, pieces, spells, up)
    elif shape == "snapshot":
        written = snapshot_rows(grid, history_rows, pieces, spells)
    else:
        written = history_rows
    return History(
        rows=written,
        pieces=pieces[["acct", "spell", "start_day", "end_day", "seats", "mrr"]],
        spells=spells,
        upgrades=up[["acct", "day", "add", "row_start_day"]],
        upgrade_eligible=up_eligible,
        reactivation_eligible=re_eligible,
    )


def month_ends(grid: Grid) -> tuple[np.ndarray, list[str]]:
    """Day index of each month's last day (the last month: end_day) and YYYY-MM labels,
    from the grid origin's month to end_day's month."""
    origin = np.datetime64(grid.origin.date(), "D")
    first = origin.astype("datetime64[M]")
    last = (origin + np.timedelta64(grid.end_day, "D")).astype("datetime64[M]")
    months = np.arange(first, last + 1)
    ends = ((months + 1).astype("datetime64[D]") - 1 - origin).astype(np.int64)
    return np.minimum(ends, grid.end_day), [str(m) for m in months]


MONTH_FIELDS = (
    "active_accounts_end",
    "mrr_end",
    "new_accounts",
    "new_mrr",
    "churned_accounts",
    "churned_mrr",
    "reactivations",
    "reactivated_mrr",
)


def monthly_counts(grid: Grid, pieces: pd.DataFrame, spells: pd.DataFrame) -> dict:
    """Per month (arrays over `month_ends`): accounts and MRR in force on the month's last day,
    spells started (new = spell 1, reactivations = spell > 1, with the MRR they started at),
    churns (a churned spell's end in the month; MRR = the piece in force the day before)."""
    ends, _ = month_ends(grid)
    m = len(ends)
    start = pieces["start_day"].to_numpy()
    stop = np.where(pieces["end_day"].to_numpy() < 0, MAX_DAYS, pieces["end_day"].to_numpy())
    lo = np.searchsorted(ends, start, side="left")  # first month end on/after the start
    hi = np.searchsorted(ends, stop, side="left")  # first month end on/after the end: excluded
    active = np.zeros(m + 1)
    mrr = np.zeros(m + 1)
    np.add.at(active, lo, 1)
    np.add.at(active, hi, -1)
    np.add.at(mrr, lo, pieces["mrr"].to_numpy())
    np.add.at(mrr, hi, -pieces["mrr"].to_numpy())
    out = {"active_accounts_end": np.cumsum(active)[:m], "mrr_end": np.cumsum(mrr)[:m]}
    s_start = spells["start_day"].to_numpy()
    first_piece = _in_force(pieces, spells["acct"].to_numpy(), s_start)
    start_mrr = pieces["mrr"].to_numpy()[first_piece]
    month_of_start = np.searchsorted(ends, s_start, side="left")
    is_new = spells["spell"].to_numpy() == 1
    for key, sel in (("new", is_new), ("reactivat", ~is_new)):
        count = np.bincount(month_of_start[sel], minlength=m)[:m]
        value = np.bincount(month_of_start[sel], weights=start_mrr[sel], minlength=m)[:m]
        if key == "new":
            out["new_accounts"], out["new_mrr"] = count, value
        else:
            out["reactivations"], out["reactivated_mrr"] = count, value
    ch = spells[spells["churned"].to_numpy()]
    c_day = ch["end_day"].to_numpy()
    last_piece = _in_force(pieces, ch["acct"].to_numpy(), c_day - 1)
    c_month = np.searchsorted(ends, c_day, side="left")
    out["churned_accounts"] = np.bincount(c_month, minlength=m)[:m]
    out["churned_mrr"] = np.bincount(
        c_month, weights=pieces["mrr"].to_numpy()[last_piece], minlength=m
    )[:m]
    return {k: np.asarray(out[k], dtype=np.float64) for k in MONTH_FIELDS}


def monthly_record(grid: Grid, totals: dict[str, np.ndarray]) -> list[dict]:
    """The summed per-month arrays as JSON records, oldest month first."""
    _, labels = month_ends(grid)
    out = []
    for i, month in enumerate(labels):
        rec: dict = {"month": month}
        for key in MONTH_FIELDS:
            v = totals[key][i]
            rec[key] = round(float(v), 2) if key.endswith("mrr") or key == "mrr_end" else int(v)
        out.append(rec)
    return out
