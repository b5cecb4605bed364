"""Contract histories as spells: accepted contract rows -> non-overlapping terms and spells.

A spell is one unbroken stretch of being a customer. Rules (CONTRACTS.md §2):
- On any day the row in force is the latest-started accepted row whose [start_date,
  end_date) covers that day (ties: the larger contract_id). A later row supersedes an earlier
  one from its start (a mid-term upgrade); if it ends first, the earlier row resumes.
- A gap of at most `reactivation_gap_days` between two terms is bridged: the term before it
  is extended to the next start. A longer gap ends the spell (a churn at its end) and the
  next start opens the next spell (a reactivation).
- Rows starting after `as_of` are not known yet and are left out.
- A spell whose end is on or before as_of is churned, except the account's last spell when
  its renewal cannot be observed yet: no cancellation notice (on or before as_of), no later
  spell, `as_of - renewal_grace_days < end <= as_of`, and the data are not a snapshot (in a
  snapshot the end dates are the churn records).

Dates are datetime64[ns] at midnight; end dates are exclusive (the first day without
service); a null end is an open-ended term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.ingest.schemas import STRING_DTYPE

_OPEN = np.iinfo(np.int64).max  # day number of an open end


@dataclass(frozen=True)
class HistoryRules:
    """The values the spell rules depend on."""

    as_of: pd.Timestamp  # the last day known (inclusive)
    reactivation_gap_days: int = 30
    renewal_grace_days: int = 35
    snapshot: bool = False  # no activity table: end dates are the churn records


TERM_COLUMNS = [
    "account_id",
    "spell",
    "contract_id",
    "start_date",
    "end_date",
    "contract_start",
    "billing_period",
    "plan",
    "mrr",
    "seats",
]
SPELL_COLUMNS = [
    "account_id",
    "spell",
    "start_date",
    "end_date",
    "churned",
    "cancelled_at",
    "censored_reason",
]


def _days(s: pd.Series) -> np.ndarray:
    """Day numbers since 1970-01-01 (int64), null -> _OPEN."""
    days = s.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    out = days.astype(np.int64)
    out[np.isnat(days)] = _OPEN
    return out


def _pieces(start: list[int], end: list[int], cap: int) -> tuple[list[list[int]], set[int], int]:
    """One account's rows (sorted by start, then contract_id) -> pieces [row, start, end].

    Also returns the rows that overlap another row, and the row-days on or before `cap`
    (exclusive) during which a covering row was not in force.
    """
    bounds = sorted(set(start) | {e for e in end if e != _OPEN})
    pieces: list[list[int]] = []
    overlapping: set[int] = set()
    superseded = 0
    active: list[int] = []  # covering rows in row order: the last one is in force
    nxt = 0
    for k, b in enumerate(bounds):
        while nxt < len(start) and start[nxt] == b:
            active.append(nxt)
            nxt += 1
        active = [r for r in active if end[r] > b]
        if not active:
            continue  # nothing covers [b, next bound): a gap
        after = bounds[k + 1] if k + 1 < len(bounds) else _OPEN
        top = active[-1]
        if len(active) > 1:
            overlapping.update(active)
            superseded += (len(active) - 1) * max(0, min(after, cap) - b)
        if pieces and pieces[-1][0] == top and pieces[-1][2] == b:
            pieces[-1][2] = after
        else:
            pieces.append([top, b, after])
    return pieces, overlapping, superseded


def contract_history(
    contracts: pd.DataFrame, rules: HistoryRules
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Accepted contract rows -> (terms, spells, counts).

    `contracts`: ingest's accepted rows (account_id, contract_id, start_date, end_date,
    billing_period, plan, mrr, seats, cancelled_at). Returns
    - terms: TERM_COLUMNS, one row per piece of a row in force, sorted account_id,
      start_date; end_date null = open;
    - spells: SPELL_COLUMNS sorted account_id, spell; end_date null = running at as_of;
      censored_reason null (churned) | "running" | "renewal_not_observable";
    - counts for tables.json `contract_history`: rows_used, rows_starting_after_as_of,
      overlapping_rows, superseded_days (row-days on or before as_of on which a covering
      row was not in force), gaps_bridged, spells, churned_spells, reactivations (spells
      after an account's first), spells_running, spells_censored_at_end,
      accounts_without_spell (accepted rows, but all start after as_of or last 0 days).
    """
    as_of_day = int(np.datetime64(rules.as_of.date(), "D").astype(np.int64))
    known = contracts[contracts["start_date"] <= rules.as_of]
    known = known.sort_values(["account_id", "start_date", "contract_id"], kind="stable")
    known = known.reset_index(drop=True)
    start, end = _days(known["start_date"]), _days(known["end_date"])
    notice = _days(known["cancelled_at"])
    accounts = known["account_id"].to_numpy(dtype=object)

    term_rows: list[tuple[int, int, int, int]] = []  # (row, spell, start day, end day)
    spells: list[tuple] = []
    counts = dict.fromkeys(
        [
            "overlapping_rows",
            "superseded_days",
            "gaps_bridged",
            "spells",
            "churned_spells",
            "reactivations",
            "spells_running",
            "spells_censored_at_end",
        ],
        0,
    )
    cuts = np.flatnonzero(accounts[1:] != accounts[:-1]) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(known)], strict=True):
        if lo == hi:
            continue
        s, e = start[lo:hi].tolist(), end[lo:hi].tolist()
        pieces, overlapping, superseded = _pieces(s, e, as_of_day + 1)
        counts["overlapping_rows"] += len(overlapping)
        counts["superseded_days"] += superseded
        by_spell: list[list[list[int]]] = []
        for piece in pieces:
            gap = piece[1] - by_spell[-1][-1][2] if by_spell else None
            if gap is None or gap > rules.reactivation_gap_days:
                by_spell.append([piece])
                continue
            if gap > 0:  # bridged: the term before the gap runs on to the next start
                by_spell[-1][-1][2] = piece[1]
                counts["gaps_bridged"] += 1
            by_spell[-1].append(piece)
        for k, spell_pieces in enumerate(by_spell, start=1):
            for row, a, b in spell_pieces:
                term_rows.append((lo + row, k, a, b))
            last_row = lo + spell_pieces[-1][0]
            first_day, last_day = spell_pieces[0][1], spell_pieces[-1][2]
            told = notice[last_row] if notice[last_row] <= as_of_day else _OPEN
            if last_day > as_of_day:
                churned, reason, last_day = False, "running", _OPEN
            elif (
                k == len(by_spell)
                and not rules.snapshot
                and told == _OPEN
                and last_day > as_of_day - rules.renewal_grace_days
            ):
                churned, reason = False, "renewal_not_observable"
            else:
                churned, reason = True, None
            spells.append((accounts[lo], k, first_day, last_day, churned, told, reason))
        counts["spells"] += len(by_spell)
        counts["reactivations"] += len(by_spell) - 1
    counts["churned_spells"] = sum(1 for sp in spells if sp[4])
    counts["spells_running"] = sum(1 for sp in spells if sp[6] == "running")
    counts["spells_censored_at_end"] = sum(1 for sp in spells if sp[6] == "renewal_not_observable")
    counts["rows_used"] = len(known)
    counts["rows_starting_after_as_of"] = len(contracts) - len(known)
    # Accounts with accepted rows but no spell: every row starts after as_of or lasts 0 days.
    with_spell = {sp[0] for sp in spells}
    counts["accounts_without_spell"] = len(set(contracts["account_id"]) - with_spell)
    return _terms_frame(known, term_rows), _spells_frame(spells), counts


def _dates(days: list[int] | np.ndarray) -> np.ndarray:
    """Day numbers -> datetime64[ns], _OPEN -> NaT."""
    d = np.asarray(days, dtype=np.int64)
    out = d.astype("datetime64[D]").astype("datetime64[ns]")
    out[d == _OPEN] = np.datetime64("NaT")
    return out


def _terms_frame(known: pd.DataFrame, term_rows: list[tuple[int, int, int, int]]) -> pd.DataFrame:
    rows = np.array([t[0] for t in term_rows], dtype=np.int64)
    src = known.iloc[rows].reset_index(drop=True)
    return pd.DataFrame(
        {
            "account_id": src["account_id"].astype(STRING_DTYPE),
            "spell": np.array([t[1] for t in term_rows], dtype=np.int64),
            "contract_id": src["contract_id"].astype(STRING_DTYPE),
            "start_date": _dates([t[2] for t in term_rows]),
            "end_date": _dates([t[3] for t in term_rows]),
            "contract_start": src["start_date"].astype("datetime64[ns]").to_numpy(),
            "billing_period": src["billing_period"].astype(STRING_DTYPE),
            "plan": src["plan"].astype(STRING_DTYPE),
            "mrr": src["mrr"].astype("float64"),
            "seats": src["seats"].astype("float64"),
        },
        columns=TERM_COLUMNS,
    )


def _spells_frame(spells: list[tuple]) -> pd.DataFrame:
    cols = list(zip(*spells, strict=True)) if spells else [[]] * len(SPELL_COLUMNS)
    return pd.DataFrame(
        {
            "account_id": pd.array(list(cols[0]), dtype=STRING_DTYPE),
            "spell": np.array(cols[1], dtype=np.int64),
            "start_date": _dates(cols[2]),
            "end_date": _dates(cols[3]),
            "churned": np.array(cols[4], dtype=bool),
            "cancelled_at": _dates(cols[5]),
            "censored_reason": pd.array(list(cols[6]), dtype=STRING_DTYPE),
        },
        columns=SPELL_COLUMNS,
    )
