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
