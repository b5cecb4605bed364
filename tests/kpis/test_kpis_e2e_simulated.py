"""KPIs on small simulated companies (real simulate -> ingest -> kpis): every month's counts
and MRR match the simulator's own record (kept from its pieces and spells, not the written
rows), with reactivations and mid-term upgrades in the history, and in a snapshot export."""

import json
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

SHARES = {"reactivation_share": 0.4, "midterm_upgrade_share": 0.3}


def outputs(project):
    root = Path(project.root)
    truth = json.loads((root / "data/raw/ground_truth.json").read_text())
    result = json.loads((root / "models/kpis.json").read_text())
    return truth, result


def compare_months(truth, result, last_checked: pd.Timestamp) -> int:
    """Checks every month of the kpis series whose last day is <= last_checked against the
    simulator's monthly record; returns how many churns were checked."""
    record = {r["month"]: r for r in truth["history"]["monthly_record"]}
    series = result["monthly"]
    checked = 0
    for i, row in enumerate(series):
        first = pd.Timestamp(row["month"])
        if first + pd.offsets.MonthEnd(0) > last_checked:
            break
        sim = record[first.strftime("%Y-%m")]
        assert row["churned_accounts"] == sim["churned_accounts"], row["month"]
        assert row["churned_mrr"] == pytest.approx(sim["churned_mrr"], abs=0.01), row["month"]
        assert row["new_accounts"] == sim["new_accounts"], row["month"]
        assert row["reactivated_accounts"] == sim["reactivations"], row["month"]
        assert row["reactivated_mrr"] == pytest.approx(sim["reactivated_mrr"], abs=0.01)
        assert row["mrr_end"] == pytest.approx(sim["mrr_end"], abs=0.01), row["month"]
        if i + 1 < len(series):  # the next month opens with this month's closing accounts
            assert series[i + 1]["active_accounts"] == sim["active_accounts_end"], row["month"]
        checked += row["churned_accounts"]
    return checked


def test_history_with_reactivations_matches_the_simulators_record(scratch_project):
    project = scratch_project("kpis_e2e", simulate={"n_accounts": 400, **SHARES})
    params = project.run("simulate", "ingest", "kpis")
    truth, result = outputs(project)
    h = result["headline"]
    assert h["reactivations"] == truth["history"]["reactivations"]["count"] > 0
    # the last grace period's terms may be censored (renewal not observable): not compared
    grace = int(params["ingest"]["renewal_grace_days"])
    as_of = pd.Timestamp(h["as_of"])
    assert compare_months(truth, result, as_of - pd.Timedelta(days=grace)) > 0
    assert h["months_pooled"] == min(12, len(result["monthly"]))
    assert all(r["grr"] <= 1.0 for r in result["monthly"] if r["grr"] is not None)


def test_snapshot_export_counts_every_churn_on_the_export_day(scratch_project):
    """A snapshot holds one row per account (its latest spell, churn dated the export day), so
    the simulator's full monthly record is not knowable from it; the right values are: every
    churn in the export month, none before, and annual customers churning in the KM curves."""
    project = scratch_project(
        "kpis_e2e_snapshot",
        simulate={"n_accounts": 400, "shape": "snapshot", **SHARES},
        ingest={"required_tables": ["accounts", "contracts"]},
    )
    project.run("simulate", "ingest", "kpis")
    truth, result = outputs(project)
    assert result["snapshot"] is True
    h = result["headline"]
    raw = pd.read_parquet(Path(project.root) / "data/raw/contracts.parquet")
    churned = int(raw["end_date"].notna().sum())
    assert churned > 0 and {str(d) for d in raw["end_date"].dropna()} == {h["as_of"]}
    series = pd.DataFrame(result["monthly"])
    assert series["month"].iloc[-1][:7] == h["as_of"][:7]
    assert series["churned_accounts"].iloc[-1] == churned == h["accounts_churned"]
    assert (series["churned_accounts"].iloc[:-1] == 0).all()
    assert h["accounts_ever"] == len(raw) and h["active_accounts_now"] == len(raw) - churned
    # observation starts at the earliest known start, not on the single churn date
    assert h["observation_start"] == str(raw["start_date"].min())
    km = pd.read_parquet(Path(project.root) / "data/processed/kpi_tables/km_curves.parquet")
    annual = km[(km["by"] == "billing_period") & (km["group"] == "annual")]
    assert annual["events"].sum() > 0 and annual["survival"].min() < 1.0
    # headline = the export month alone: its churn over the accounts active at its start
    last = series.iloc[-1]
    assert h["months_pooled"] == 1
    assert h["monthly_logo_churn"] == pytest.approx(
        last["churned_accounts"] / last["active_accounts"]
    )
    assert h["grr_12m"] is None and h["nrr_12m"] is None


def test_log_ending_mid_term_shows_no_end_of_data_churn_spike(scratch_project):
    """Monthly terms paid up into the export's last month, no notice: ingest censors them
    (renewal not observable), so the last month's logo churn is no spike."""
    project = scratch_project(
        "kpis_e2e_log", simulate={"n_accounts": 400, "shape": "log_ends_mid_term", **SHARES}
    )
    params = project.run("simulate", "ingest", "kpis")
    truth, result = outputs(project)
    h = result["headline"]
    grace = int(params["ingest"]["renewal_grace_days"])
    compare_months(truth, result, pd.Timestamp(h["as_of"]) - pd.Timedelta(days=grace))
    rates = pd.DataFrame(result["monthly"])["logo_churn_rate"].dropna()
    assert rates.iloc[-1] <= 3 * rates.iloc[-13:-1].median()
