"""The simulated company against its own parameters and the raw data contract (CONTRACTS §1)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from simulate_test_world import make_spec, read_raw, world

from churnlab.ingest.schemas import TABLES
from churnlab.simulate.company import latent_block
from churnlab.simulate.spec import CHUNK
from churnlab.simulate.timegrid import make_grid

# the simulator writes exactly the columns, in order, that ingest's data contract declares
COLUMNS = {name: list(spec.columns) for name, spec in TABLES.items()}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    raw, truth = world(str(tmp_path_factory.getbasetemp() / "sim_world"))
    return raw, truth, read_raw(raw)


def churn_facts(contracts: pd.DataFrame, end: str = "2025-12-31") -> pd.DataFrame:
    """Per account from the raw contracts alone: billing, first start, churn date (NaT = none)."""
    c = contracts.copy()
    c["start"] = pd.to_datetime(c["start_date"])
    c["end"] = pd.to_datetime(c["end_date"])
    last = (
        c.sort_values(["account_id", "start"]).groupby("account_id").tail(1).set_index("account_id")
    )
    first = c.groupby("account_id")["start"].min()
    churned = last["end"].notna() & (last["end"] <= pd.Timestamp(end))
    return pd.DataFrame(
        {"billing": last["billing_period"], "first": first, "churn": last["end"].where(churned)}
    )


def test_every_table_has_the_contract_columns_and_unique_keys(sim):
    raw, _, t = sim
    for name, cols in COLUMNS.items():
        assert list(t[name].columns) == cols, name
    assert t["accounts"]["account_id"].is_unique
    assert t["contracts"]["contract_id"].is_unique
    assert t["users"]["user_id"].is_unique
    assert len(t["accounts"]) == 750
    assert set(t["events"]["event_type"]) >= {"login", "report_view", "data_export"}
    assert set(t["users"]["role"]) == {"admin", "key_person", "decision_maker", "member"}
    # exactly one key person per account
    assert (t["users"].query("role == 'key_person'").groupby("account_id").size() == 1).all()
    assert t["events"]["occurred_at"].dt.tz is not None
    assert sorted(p.name for p in (raw / "events").iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    assert t["accounts"]["name"].str.startswith("株式会社").any()


def test_events_belong_to_activated_users_of_live_accounts(sim):
    _, _, t = sim
    ev = t["events"].merge(t["users"], on="user_id", suffixes=("", "_u"))
    assert len(ev) == len(t["events"])
    assert (ev["account_id"] == ev["account_id_u"]).all()
    assert (ev["occurred_at"] >= ev["activated_at"]).all()
    facts = churn_facts(t["contracts"])
    ev = ev.join(facts, on="account_id")
    churn = ev["churn"].dt.tz_localize("UTC")
    assert (churn.isna() | (ev["occurred_at"] < churn)).all()
    assert (ev["occurred_at"] >= ev["first"].dt.tz_localize("UTC")).all()
    assert ev["occurred_at"].max() < pd.Timestamp("2026-01-01", tz="UTC")


def test_contract_terms_are_consecutive_and_annual_ends_only_at_term_end(sim):
    _, _, t = sim
    c = t["contracts"].copy()
    c["start"] = pd.to_datetime(c["start_date"])
    c["end"] = pd.to_datetime(c["end_date"])
    c = c.sort_values(["account_id", "start"])
    nxt = c.groupby("account_id")["start"].shift(-1)
    inner = nxt.notna()
    assert (c.loc[inner, "end"] == nxt[inner]).all()  # next term starts the day the last ends
    assert (c["end"].isna() | (c["end"] > c["start"])).all()
    # an open end only for a running monthly plan, and only on the last row
    assert (c.loc[c["end"].isna(), "billing_period"] == "monthly").all()
    assert c.loc[c["end"].isna()].index.isin(c.groupby("account_id").tail(1).index).all()
    annual = c[c["billing_period"] == "annual"]
    assert len(annual) > 100
    assert (annual["end"] == annual["start"] + pd.DateOffset(months=12)).all()
    # a monthly row ends on a monthly anniversary of the account's first start
    first = c.groupby("account_id")["start"].transform("min")
    m = c[(c["billing_period"] == "monthly") & c["end"].notna()]
    months = (
        (m["end"].dt.year - first[m.index].dt.year) * 12
        + m["end"].dt.month
        - first[m.index].dt.month
    )
    expected = [
        f + pd.DateOffset(months=int(k)) for f, k in zip(first[m.index], months, strict=True)
    ]
    assert (m["end"].to_numpy() == np.array(expected, dtype="datetime64[ns]")).all()
    # notice only on churned last rows, never after the end
    cancelled = c[c["cancelled_at"].notna()]
    assert (pd.to_datetime(cancelled["cancelled_at"]) <= cancelled["end"]).all()
    assert cancelled["cancel_reason"].notna().all()
    assert cancelled.index.isin(c.groupby("account_id").tail(1).index).all()
    assert (c["seats"] >= 1).all() and (c["mrr"] > 0).all()


def test_churn_rate_by_billing_period_matches_ground_truth_and_target(sim):
    _, truth, t = sim
    facts = churn_facts(t["contracts"])
    end = pd.Timestamp("2026-01-01")
    leave = facts["churn"].fillna(end)
    months = (leave - facts["first"]).dt.days / (365.25 / 12)
    rates = {}
    for period in ("monthly", "annual"):
        sel = facts["billing"] == period
        rates[period] = facts.loc[sel, "churn"].notna().sum() / months[sel].sum()
        assert rates[period] == pytest.approx(truth["churn"]["by_billing_period"][period], rel=1e-9)
    overall = facts["churn"].notna().sum() / months.sum()
    assert overall == pytest.approx(truth["churn"]["monthly_logo_churn"], rel=1e-9)
    assert 0.015 < overall < 0.026  # target 0.02; ~250 churns at this size
    # annual customers churn less per month: half the hazard (annual_relative_churn = 0.5), more
    # enterprises, and no churn possible between renewals (part-terms at the window end count)
    assert 0.15 < rates["annual"] / rates["monthly"] < 0.6
    # churn only at renewals: annual churn dates are 12-month anniversaries of the first start
    annual_churn = facts[(facts["billing"] == "annual") & facts["churn"].notna()]
    k = ((annual_churn["churn"] - annual_churn["first"]).dt.days / 365.25).round()
    assert (
        annual_churn["churn"]
        == [f + pd.DateOffset(years=int(y)) for f, y in zip(annual_churn["first"], k, strict=True)]
    ).all()


def test_trajectory_shares_follow_params(sim):
    _, truth, _ = sim
    spec = make_spec()
    grid = make_grid(spec)
    counts = pd.concat(
        [latent_block(spec, grid, 0, b)[0].accounts["trajectory"] for b in range(3)]
    ).value_counts(normalize=True)
    for name, share in spec.trajectory_mix.items():
        assert counts[name] == pytest.approx(share, abs=0.05)
        assert truth["trajectories"][name] == pytest.approx(share, abs=0.05)


def test_ground_truth_schema(sim):
    raw, truth, _ = sim
    on_disk = json.loads((raw / "ground_truth.json").read_text(encoding="utf-8"))
    assert on_disk["schema_version"] == 1 and on_disk["seed"] == 7
    ind = on_disk["indicators"]
    roles = {k: v["role"] for k, v in ind.items()}
    assert (
        roles["key_person_activity_change"] == "leading"
        and ind["key_person_activity_change"]["lead_weeks"] == 8
    )
    assert roles["data_exports"] == "coincident" and ind["data_exports"]["lead_weeks"] == 1
    assert {k for k, r in roles.items() if r == "decoy"} >= {
        "event_participation",
        "feature_feedback_tickets",
    }
    for v in ind.values():
        assert v["direction"] in ("low", "high")
        if v["role"] == "decoy":
            assert v["hazard_ratio"] == 1.0 and v["lead_weeks"] is None
        if v["role"] == "leading":
            assert 4 <= v["lead_weeks"] <= 12 and v["hazard_ratio"] > 1
    assert ind["license_activation_rate"]["persistent"] is True
    assert ind["license_activation_rate"]["threshold"] == 0.5


def test_same_seed_gives_byte_identical_files_and_partitioning_does_not_change_data(tmp_path):
    from churnlab.simulate.stage import simulate_company

    spec = make_spec(n_accounts=300, events_partition_accounts=250)
    simulate_company(spec, tmp_path / "a")
    simulate_company(spec, tmp_path / "b")
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert len(files) == 11  # 8 tables + 2 event parts + ground_truth.json
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    simulate_company(make_spec(n_accounts=300, events_partition_accounts=500), tmp_path / "c")
    assert len(list((tmp_path / "c" / "events").iterdir())) == 1
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a" / "events"), pd.read_parquet(tmp_path / "c" / "events")
    )
    assert (tmp_path / "a" / "accounts.parquet").read_bytes() == (
        tmp_path / "c" / "accounts.parquet"
    ).read_bytes()
    simulate_company(
        make_spec(n_accounts=300, events_partition_accounts=250, seed=8), tmp_path / "d"
    )
    assert (tmp_path / "a" / "accounts.parquet").read_bytes() != (
        tmp_path / "d" / "accounts.parquet"
    ).read_bytes()


def test_block_size_constant_matches_partition_rule():
    assert 2000 % CHUNK == 0
