"""Monthly churn / MRR bridge against an independent day-by-day count on random histories."""

import numpy as np
import pandas as pd
import pytest
from kpis_history import derive

from churnlab.kpis.monthly import account_months, complete_months, monthly_series
from churnlab.kpis.spells import terms_in_force

AS_OF = pd.Timestamp("2025-06-20")


def random_history(seed: int, n: int = 40) -> pd.DataFrame:
    """Consecutive terms: annual (12 months) or monthly (open-ended unless it ends)."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(n):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 300)))
        mrr = float(rng.integers(1, 20) * 10)
        for k in range(6):
            annual = rng.random() < 0.5
            if annual:
                end = start + pd.DateOffset(years=1)
            else:
                end = start + pd.DateOffset(months=int(rng.integers(1, 9)))
            last = rng.random() < 0.35
            if last and not annual and rng.random() < 0.5:
                end = pd.NaT  # still running monthly plan
            rows.append(
                (f"c{a}_{k}", f"acc{a:03d}", start, end, "annual" if annual else "monthly", mrr)
            )
            if pd.isna(end) or last or end > AS_OF:
                break
            start = end
            mrr = max(0.0, mrr + float(rng.choice([-20, 0, 0, 30])))
    return pd.DataFrame(
        rows,
        columns=["contract_id", "account_id", "start_date", "end_date", "billing_period", "mrr"],
    )


def independent_month_counts(contracts: pd.DataFrame, month: pd.Timestamp):
    """Count by walking each account's served days (no shared code with the stage)."""
    eve = month - pd.Timedelta(days=1)
    last_day = month + pd.offsets.MonthEnd(0)
    active = churned = 0
    mrr_start = lost = 0.0
    for _, c in contracts.groupby("account_id"):

        def mrr_on(day, c=c):
            ok = (c["start_date"] <= day) & (c["end_date"].isna() | (c["end_date"] > day))
            return float(c.loc[ok, "mrr"].sum()), bool(ok.any())

        s, on_eve = mrr_on(eve)
        e, on_last = mrr_on(last_day)
        if not on_eve:
            continue
        active += 1
        mrr_start += s
        lost += max(0.0, s - e) if on_last else s
        open_ended = c["end_date"].isna().any()
        final_end = c["end_date"].max()
        if not open_ended and month <= final_end <= min(last_day, AS_OF):
            churned += 1
    return active, churned, mrr_start, lost


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_monthly_churn_matches_independent_count(seed):
    contracts = random_history(seed)
    terms, spells = derive(contracts, AS_OF, gap_days=0)  # consecutive: one spell per account
    assert spells["spell"].max() == 1
    terms = terms_in_force(terms, spells, AS_OF)
    months = complete_months(contracts["start_date"].min(), AS_OF)
    series = monthly_series(account_months(terms, months), months).set_index("month")
    assert months[-1] == pd.Timestamp("2025-05-01")
    checked_churn = 0
    for month in months:
        active, churned, mrr_start, lost = independent_month_counts(contracts, month)
        row = series.loc[month]
        assert row["active_accounts"] == active, month
        assert row["churned_accounts"] == churned, month
        assert row["mrr_start"] == pytest.approx(mrr_start)
        assert row["contraction_mrr"] + row["churned_mrr"] == pytest.approx(lost)
        if active:
            assert row["grr"] <= 1.0 + 1e-12
            assert row["nrr"] >= row["grr"] - 1e-12
            assert row["nrr"] == pytest.approx(row["grr"] + row["expansion_mrr"] / mrr_start)
        checked_churn += churned
    assert checked_churn > 0  # the random histories do contain churn


def random_gappy_history(seed: int, n: int = 40) -> pd.DataFrame:
    """Terms separated by no gap, a short gap (bridged) or a long one (churn + reactivation)."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(n):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 200)))
        for k in range(5):
            end = start + pd.Timedelta(days=int(rng.integers(20, 150)))
            rows.append((f"g{a}_{k}", f"acc{a:03d}", start, end, "monthly", 10.0 * (k + 1 + a % 3)))
            if end > AS_OF or rng.random() < 0.15:
                break
            start = end + pd.Timedelta(days=int(rng.choice([0, 10, 60, 90])))
            if start > AS_OF:
                break
    return pd.DataFrame(
        rows,
        columns=["contract_id", "account_id", "start_date", "end_date", "billing_period", "mrr"],
    )


def day_state(rows: pd.DataFrame, day: pd.Timestamp, gap_days: int):
    """(spell, mrr) of one account's raw rows on `day`, or None: a day in a gap of at most
    gap_days keeps the previous row's MRR; spells are counted by the longer gaps before."""
    rows = rows.sort_values("start_date").reset_index(drop=True)
    if day < rows["start_date"].iloc[0] or day > AS_OF:
        return None
    spell = 1
    for i, r in rows.iterrows():
        if i > 0 and (r["start_date"] - rows["end_date"].iloc[i - 1]).days > gap_days:
            if r["start_date"] <= day:
                spell += 1
        if r["start_date"] <= day < r["end_date"]:
            return spell, float(r["mrr"])
        nxt = rows["start_date"].iloc[i + 1] if i + 1 < len(rows) else None
        if r["end_date"] <= day and nxt is not None and day < nxt:
            if (nxt - r["end_date"]).days <= gap_days:
                return spell, float(r["mrr"])
            return None
    return None


@pytest.mark.parametrize("seed", [4, 5])
def test_reactivations_match_day_by_day_walk(seed):
    contracts = random_gappy_history(seed)
    terms, spells = derive(contracts, AS_OF, gap_days=30)
    assert spells["spell"].max() > 1  # the histories do contain reactivations
    terms = terms_in_force(terms, spells, AS_OF)
    months = complete_months(contracts["start_date"].min(), AS_OF)
    series = monthly_series(account_months(terms, months), months).set_index("month")
    totals = {"churned": 0, "reactivated": 0}
    for month in months:
        eve = month - pd.Timedelta(days=1)
        last_day = month + pd.offsets.MonthEnd(0)
        want = dict.fromkeys(["active", "churned", "new", "reactivated"], 0)
        lost = back = 0.0
        for _, rows in contracts.groupby("account_id"):
            s, e = day_state(rows, eve, 30), day_state(rows, last_day, 30)
            if s is not None:
                want["active"] += 1
                if e is None or e[0] != s[0]:
                    want["churned"] += 1
                    lost += s[1]
            if e is not None and (s is None or e[0] != s[0]):
                want["new" if e[0] == 1 else "reactivated"] += 1
                back += e[1] if e[0] > 1 else 0.0
        row = series.loc[month]
        got = [row[f"{k}_accounts"] for k in want]
        assert got == list(want.values()), month
        assert row["churned_mrr"] == pytest.approx(lost)
        assert row["reactivated_mrr"] == pytest.approx(back)
        # the bridge closes: end = start + new + reactivated + expansion - contraction - churn
        flows = row["new_mrr"] + row["reactivated_mrr"] + row["expansion_mrr"]
        flows -= row["contraction_mrr"] + row["churned_mrr"]
        assert row["mrr_end"] == pytest.approx(row["mrr_start"] + flows)
        totals["churned"] += want["churned"]
        totals["reactivated"] += want["reactivated"]
    assert totals["churned"] > 0 and totals["reactivated"] > 0
