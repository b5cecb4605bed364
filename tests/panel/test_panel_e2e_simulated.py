"""The panel of a small simulated company, checked against independent pandas counts.

simulate -> ingest -> panel in a temp dir, then a handful of indicators are recomputed from
the interim tables with plain pandas (a different route than the SQL) and must agree on
every row; churn events must match the simulator's own record.
"""

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def built(scratch_project):
    project = scratch_project(
        "panel_e2e", simulate={"n_accounts": 200}, panel={"indicators_file": "indicators.yaml"}
    )
    (project.root / "indicators.yaml").write_text(USER_INDICATORS)
    project.run("simulate", "ingest", "panel")
    tmp = project.root
    interim = tmp / "data/interim"
    return {
        "panel": pd.read_parquet(tmp / "data/processed/panel.parquet"),
        "meta": json.loads((tmp / "data/processed/panel_meta.json").read_text()),
        "truth": json.loads((tmp / "data/raw/ground_truth.json").read_text()),
        **{
            t: pd.read_parquet(interim / f"{t}.parquet")
            for t in ("events", "users", "contracts", "csm_assignments", "spells")
        },
    }


# User definitions that restate catalog indicators: the two SQL routes must agree.
USER_INDICATORS = """
indicators:
  - {id: u_exports, from: events, where: {event_type: [Data_Export]}, measure: count,
     window_weeks: 1}
  - {id: u_wau, from: events, measure: distinct_users, window_weeks: 1}
  - {id: u_active_days, from: events, measure: active_days, window_weeks: 1}
  - {id: u_mau, from: events, measure: distinct_users, window_weeks: 4}
  - {id: u_wau_mau, ratio_of: [u_wau, u_mau]}
  - {id: u_since_login, from: events, where: {event_type: [login]}, measure: weeks_since_last}
  - {id: u_tickets, from: tickets, measure: count, window_weeks: 4}
"""
SAME_AS = {
    "u_exports": "data_exports",
    "u_wau": "weekly_active_users",
    "u_active_days": "active_days",
    "u_wau_mau": "wau_mau_ratio",
    "u_since_login": "weeks_since_last_login",
    "u_tickets": "tickets_opened",
}


def test_user_indicators_restating_the_catalog_agree_with_it(built):
    p, meta = built["panel"], built["meta"]
    for user_id, builtin in SAME_AS.items():
        np.testing.assert_allclose(p[user_id], p[builtin], rtol=1e-12, err_msg=user_id)
        assert meta["indicators"][user_id]["source"] == "user"
    assert p["u_exports"].sum() > 0 and p["u_tickets"].sum() > 0


def monday(ts: pd.Series) -> pd.Series:
    """Monday 00:00 (naive UTC) of each timestamp's week."""
    naive = ts.dt.tz_convert("UTC").dt.tz_localize(None) if ts.dt.tz is not None else ts
    day = naive.dt.normalize()
    return day - pd.to_timedelta(day.dt.weekday, unit="D")


def test_every_indicator_is_testable_and_rows_are_complete(built):
    p, meta = built["panel"], built["meta"]
    assert all(v["testable"] for v in meta["indicators"].values())
    assert meta["n_rows"] == len(p) and meta["n_events"] == p["event"].sum()
    # contiguous weeks per spell, start = 0..n-1, at most one event, on the spell's last row
    g = p.groupby(["account_id", "spell"])
    assert (g["start"].transform("min") == 0).all()
    assert (g["start"].transform("count") == g["start"].transform("max") + 1).all()
    assert (g["event"].sum() <= 1).all()
    last = p[g["week_start"].transform("max") == p["week_start"]]
    assert p["event"].sum() == last["event"].sum()


def test_spells_and_churns_match_ingest(built):
    p, spells = built["panel"], built["spells"]
    assert p[["account_id", "spell"]].drop_duplicates().shape[0] == len(spells)
    assert p["event"].sum() == spells["churned"].sum()
    assert built["meta"]["n_spells"] == len(spells)


def test_churn_events_match_simulator(built):
    churned = built["truth"]["churn"].get("churned_accounts")
    if isinstance(churned, dict):
        churned = sum(churned.values())
    assert built["panel"]["event"].sum() == churned


def test_wau_and_exports_match_pandas(built):
    p, ev = built["panel"], built["events"]
    ev = ev.assign(week_start=monday(ev["occurred_at"]) + pd.Timedelta(days=7))
    agg = ev.groupby(["account_id", "week_start"]).agg(
        wau=("user_id", "nunique"),
        exports=("event_type", lambda s: int((s == "data_export").sum())),
    )
    m = p.merge(agg, left_on=["account_id", "week_start"], right_index=True, how="left").fillna(
        {"wau": 0, "exports": 0}
    )
    np.testing.assert_array_equal(m["weekly_active_users"], m["wau"])
    np.testing.assert_array_equal(m["data_exports"], m["exports"])


def test_license_activation_matches_pandas(built):
    p, users = built["panel"], built["users"]
    act = users.dropna(subset=["activated_at"]).assign(
        t=lambda d: d["activated_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    )
    expected = np.zeros(len(p))
    for account, idx in p.groupby("account_id").indices.items():
        times = np.sort(act.loc[act["account_id"] == account, "t"].to_numpy())
        weeks = p["week_start"].to_numpy()[idx]
        expected[idx] = np.searchsorted(times, weeks, side="left")  # activated strictly before
    np.testing.assert_allclose(p["license_activation_rate"], expected / p["seats"], rtol=1e-12)


def test_csm_changed_recently_matches_pandas(built):
    p, cs = (
        built["panel"],
        built["csm_assignments"].sort_values(["account_id", "start_date", "csm_id"]),
    )
    cs = cs.assign(prev=cs.groupby("account_id")["csm_id"].shift())
    changes = cs[cs["prev"].notna() & (cs["prev"] != cs["csm_id"])]
    expected = np.zeros(len(p))
    for account, idx in p.groupby("account_id").indices.items():
        days = np.sort(changes.loc[changes["account_id"] == account, "start_date"].to_numpy())
        weeks = p["week_start"].to_numpy()[idx]
        lo = np.searchsorted(days, weeks - np.timedelta64(56, "D"), side="left")
        hi = np.searchsorted(days, weeks, side="left")  # strictly before week start
        expected[idx] = (hi > lo).astype(float)
    np.testing.assert_array_equal(p["csm_changed_recently"], expected)
    assert expected.sum() > 0


def _panel_of(project):
    root = project.root
    return (
        pd.read_parquet(root / "data/processed/panel.parquet"),
        json.loads((root / "data/processed/panel_meta.json").read_text()),
    )


def test_foreign_words_company_gives_the_default_panel(scratch_project, built):
    """simulate.vocabulary: foreign writes the same company in other words; with the value
    map it writes (data/raw/vocabulary.yaml) as params `vocabulary`, every indicator equals
    the default-words panel (issue 12: the words changed, the company did not)."""
    import yaml

    project = scratch_project(
        "panel_foreign", simulate={"n_accounts": 200, "vocabulary": "foreign"}
    )
    project.run("simulate")
    mapping = yaml.safe_load((project.root / "data/raw/vocabulary.yaml").read_text())
    params = yaml.safe_load((project.root / "params.yaml").read_text())
    params["vocabulary"] = mapping.get("vocabulary", mapping)
    (project.root / "params.yaml").write_text(yaml.safe_dump(params))
    project.run("ingest", "panel")
    foreign, meta = _panel_of(project)
    default = built["panel"]
    indicators = [c for c in default.columns if c in built["meta"]["indicators"]]
    indicators = [c for c in indicators if built["meta"]["indicators"][c]["source"] == "builtin"]
    assert len(indicators) == 30 and set(indicators) <= set(foreign.columns)
    same = ["account_id", "week_start", "spell", "start", "event", "mrr", "seats"]
    pd.testing.assert_frame_equal(foreign[same + indicators], default[same + indicators])
    assert "Startup" in meta["attributes"]["segment"]


@pytest.mark.parametrize("shape", ["snapshot", "history"])
def test_reactivations_and_snapshots_run_through_ingest_and_panel(scratch_project, shape):
    project = scratch_project(
        f"panel_{shape}",
        simulate={"n_accounts": 200, "shape": shape, "reactivation_share": 0.5},
        ingest={"required_tables": ["accounts", "contracts"]},
    )
    project.run("simulate", "ingest", "panel")
    p, meta = _panel_of(project)
    spells = pd.read_parquet(project.root / "data/interim/spells.parquet")
    assert meta["snapshot"] is (shape == "snapshot")
    assert p[["account_id", "spell"]].drop_duplicates().shape[0] == len(spells)
    assert p["event"].sum() == spells["churned"].sum() > 0
    testable = {k for k, v in meta["indicators"].items() if v["testable"]}
    if shape == "snapshot":
        assert testable == {"weeks_to_renewal", "mrr_change"}
    else:
        assert (spells["spell"] > 1).any()  # reactivations
        assert "weekly_active_users" in testable
