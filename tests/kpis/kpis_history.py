"""Test helper: ingest's v2 contract_terms / spells for simple consecutive histories.

Only for hand-made histories whose rows of one account do not overlap (mid-term upgrades are
written as the pieces ingest would produce). A gap of at most `gap_days` between one row's end
and the next row's start is bridged (the earlier piece is extended, as ingest does); a longer
gap ends the spell (churn) and the next row opens spell k + 1. A spell whose end is on or
before as_of is churned; otherwise it is censored "running". Grace-period censoring is not
modelled: set `censored_reason` / `churned` by hand where a test needs it.
"""

from __future__ import annotations

import pandas as pd


def derive(
    contracts: pd.DataFrame, as_of: pd.Timestamp, gap_days: int = 30
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """contracts (contract_id, account_id, start_date, end_date, billing_period, mrr[, plan,
    seats, cancelled_at]) -> (contract_terms, spells) in the CONTRACTS v2 layout."""
    c = contracts[contracts["start_date"] <= as_of].sort_values(["account_id", "start_date"])
    terms, spells = [], []
    for account, rows in c.groupby("account_id", sort=True):
        rows = rows.reset_index(drop=True)
        spell = 1
        pieces = []
        for i, r in rows.iterrows():
            if i > 0:
                prev_end = pieces[-1]["end_date"]
                assert pd.notna(prev_end) and prev_end <= r["start_date"], "rows overlap"
                if (r["start_date"] - prev_end).days > gap_days:
                    spell += 1
                else:
                    pieces[-1]["end_date"] = r["start_date"]  # bridge a short gap
            pieces.append(
                {
                    "account_id": account,
                    "spell": spell,
                    "contract_id": r["contract_id"],
                    "start_date": r["start_date"],
                    "end_date": r["end_date"],
                    "contract_start": r["start_date"],
                    "billing_period": r["billing_period"],
                    "plan": r.get("plan"),
                    "mrr": float(r["mrr"]),
                    "seats": float(r.get("seats", 1) or 1),
                    "cancelled_at": r.get("cancelled_at"),
                }
            )
        terms.extend(pieces)
        for k in range(1, spell + 1):
            own = [p for p in pieces if p["spell"] == k]
            end = own[-1]["end_date"]
            churned = bool(pd.notna(end) and end <= as_of)
            spells.append(
                {
                    "account_id": account,
                    "spell": k,
                    "start_date": own[0]["start_date"],
                    "end_date": end if churned else pd.NaT,
                    "churned": churned,
                    "cancelled_at": own[-1]["cancelled_at"],
                    "censored_reason": None if churned else "running",
                }
            )
    t = pd.DataFrame(terms).drop(columns="cancelled_at")
    for col in ("start_date", "end_date", "contract_start"):
        t[col] = pd.to_datetime(t[col])
    t["spell"] = t["spell"].astype("int64")
    s = pd.DataFrame(spells)
    for col in ("start_date", "end_date", "cancelled_at"):
        s[col] = pd.to_datetime(s[col])
    s["spell"] = s["spell"].astype("int64")
    return t.reset_index(drop=True), s


def write_interim(
    interim, contracts: pd.DataFrame, accounts: pd.DataFrame, as_of: str, **meta
) -> None:
    """contract_terms / spells / accounts parquet and a tables.json with "as_of" in `interim`."""
    import json

    terms, spells = derive(contracts, pd.Timestamp(as_of))
    interim.mkdir(parents=True, exist_ok=True)
    terms.to_parquet(interim / "contract_terms.parquet")
    spells.to_parquet(interim / "spells.parquet")
    accounts.to_parquet(interim / "accounts.parquet")
    info = {"as_of": as_of, "as_of_source": "base.as_of", "snapshot": False} | meta
    (interim / "tables.json").write_text(json.dumps(info))
