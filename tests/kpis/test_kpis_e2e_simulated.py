"""KPIs on a small simulated company: churn counts match the simulator's own record."""

import json
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(scratch_project):
    return scratch_project("kpis_e2e", simulate={"n_accounts": 400})


def test_monthly_churn_matches_simulator_and_independent_count(project, monkeypatch):
    project.run("simulate", "ingest", "kpis")
    monkeypatch.chdir(project.root)
    truth = json.loads(Path("data/raw/ground_truth.json").read_text())["churn"]
    result = json.loads(Path("models/kpis.json").read_text())
    h = result["headline"]
    assert h["accounts_churned"] == sum(truth["churned_accounts"].values())

    # independent count from the raw contracts: last end date, no open contract
    raw = (
        pd.read_parquet("data/raw/contracts.parquet")
        if Path("data/raw/contracts.parquet").exists()
        else pd.read_csv("data/raw/contracts.csv")
    )
    raw["start_date"] = pd.to_datetime(raw["start_date"])
    raw["end_date"] = pd.to_datetime(raw["end_date"])
    as_of = pd.Timestamp(h["as_of"])
    per_acc = raw.groupby("account_id").agg(
        last_end=("end_date", "max"), open=("end_date", lambda s: s.isna().any())
    )
    churned = per_acc[~per_acc["open"] & (per_acc["last_end"] <= as_of)]
    by_month = churned["last_end"].dt.to_period("M").value_counts()
    series = pd.DataFrame(result["monthly"])
    for rec in series.itertuples():
        assert rec.churned_accounts == by_month.get(pd.Period(rec.month, "M"), 0), rec.month
    # pooled monthly rate is close to the simulator's (which uses fractional months at risk)
    pooled = series["churned_accounts"].sum() / series["active_accounts"].sum()
    assert pooled == pytest.approx(truth["monthly_logo_churn"], rel=0.15)
    assert all(r["grr"] <= 1.0 for r in result["monthly"] if r["grr"] is not None)
