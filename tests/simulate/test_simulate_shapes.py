"""The same simulated company in other words and other export shapes, and with reactivations
and mid-term upgrades (simulate.vocabulary / shape / reactivation_share /
midterm_upgrade_share), checked against the default company of the same seed and against
the simulator's own record in ground_truth.json."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from simulate_test_world import make_spec, read_raw, world

from churnlab.simulate.stage import simulate_company
from churnlab.simulate.vocabulary import FOREIGN, UNKNOWN_GOAL

END = pd.Timestamp("2025-12-31")  # simulate.end_date of the shared company
ACTIVITY = ("users", "events", "tickets", "surveys", "touchpoints", "csm_assignments", "milestones")


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    raw, truth = world(str(tmp_path_factory.getbasetemp() / "sim_world"))
    return raw, truth, read_raw(raw)


def _run(tmp_path_factory, name: str, **overrides):
    raw = tmp_path_factory.mktemp(name) / "raw"
    truth = simulate_company(make_spec(**overrides), raw)
    return raw, truth


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    raw, truth = _run(tmp_path_factory, "foreign", vocabulary="foreign")
    return raw, truth, read_raw(raw)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return _run(tmp_path_factory, "snapshot", shape="snapshot")


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    raw, truth = _run(tmp_path_factory, "log", shape="log_ends_mid_term")
    return raw, truth, read_raw(raw)


@pytest.fixture(scope="module")
def extras(tmp_path_factory):
    raw, truth = _run(tmp_path_factory, "extras", reactivation_share=0.5, midterm_upgrade_share=0.3)
    return raw, truth, read_raw(raw)


def _contracts(df: pd.DataFrame) -> pd.DataFrame:
    c = df.copy()
    for col in ("start_date", "end_date", "cancelled_at"):
        c[col] = pd.to_datetime(c[col])
    return c.sort_values(["account_id", "start_date", "contract_id"], ignore_index=True)


# --- vocabulary -----------------------------------------------------------------------------


def test_foreign_words_map_back_to_the_default_company_in_every_table(default, foreign):
    _, _, d = default
    _, _, f = foreign
    back = {col: {v: k for k, v in m.items()} for col, m in FOREIGN.items()}
    for name, table in f.items():
        table = table.copy()
        for col in set(back) & set(table.columns):
            if name == "accounts" and col == "customer_goal":
                continue
            assert set(table[col]) <= set(back[col]), (name, col)
            table[col] = table[col].map(back[col])
        if name == "accounts":
            unknown = table["customer_goal"] == UNKNOWN_GOAL
            assert 0.05 < unknown.mean() < 0.15  # ~10% of goals are "unknown"
            known = table.loc[~unknown, "customer_goal"].map(back["customer_goal"])
            assert (known == d["accounts"].loc[~unknown, "customer_goal"]).all()
            table["customer_goal"] = d["accounts"]["customer_goal"]
        pd.testing.assert_frame_equal(table, d[name], obj=name)


def test_foreign_labels_are_the_other_companys_words(foreign):
    raw, truth, f = foreign
    assert set(f["accounts"]["segment"]) == {"Startup", "Scale-up", "Public sector"}
    assert set(f["accounts"]["customer_goal"]) == {
        "Automate reporting",
        "Build in-house skills",
        "unknown",
    }
    assert set(f["users"]["role"]) == {"Owner", "Champion", "Budget holder", "Member"}
    assert set(f["contracts"]["billing_period"]) == {"Monthly", "Yearly"}
    assert {"app_open", "dashboard_view", "csv_download"} <= set(f["events"]["event_type"])
    assert not {"login", "report_view", "data_export"} & set(f["events"]["event_type"])
    assert set(f["touchpoints"]["kind"]) <= {
        "Kickoff call",
        "Exec sync",
        "QBR",
        "Webinar",
        "Product training",
    }
    assert set(f["milestones"]["milestone"]) == {
        "Activated",
        "Go-live",
        "Certified",
        "Outcome reached",
    }
    assert set(f["tickets"]["category"]) == {"Bug", "How-to", "Idea", "Invoice"}
    # the key person's most frequent event type (logins, ~45% of their events), in its new name
    kp = truth["vocabulary"]["key_person_event_type"]
    assert (kp["canonical"], kp["written"]) == ("login", "app_open")
    assert 0.4 < kp["share_of_key_person_events"] < 0.5
    champions = f["users"].loc[f["users"]["role"] == "Champion", "user_id"]
    kp_events = f["events"][f["events"]["user_id"].isin(champions)]["event_type"]
    assert kp_events.value_counts().index[0] == "app_open"


def test_vocabulary_yaml_is_the_params_block_that_maps_the_words_back(foreign):
    raw, truth, _ = foreign
    block = yaml.safe_load((raw / "vocabulary.yaml").read_text(encoding="utf-8"))
    assert block == {
        "vocabulary": {
            "billing_period": {"monthly": ["Monthly"], "annual": ["Yearly"]},
            "role": {
                "admin": ["Owner"],
                "key_person": ["Champion"],
                "decision_maker": ["Budget holder"],
            },
            "touchpoint_kind": {
                "meeting": ["Kickoff call"],
                "decision_maker_meeting": ["Exec sync"],
                "qbr": ["QBR"],
                "event_attendance": ["Webinar"],
                "training": ["Product training"],
            },
            "milestone": {
                "first_login": ["Activated"],
                "onboarding_complete": ["Go-live"],
                "training_complete": ["Certified"],
                "goal_achieved": ["Outcome reached"],
            },
            "ticket_category": {"feature_request": ["Idea"]},
            "event_type": {
                "login": ["app_open"],
                "report_view": ["dashboard_view"],
                "data_export": ["csv_download"],
            },
        }
    }
    assert truth["vocabulary"]["params"] == block["vocabulary"]
    assert truth["vocabulary"]["name"] == "foreign"


def test_foreign_ground_truth_keeps_canonical_indicator_ids(default, foreign):
    _, d, _ = default
    _, f, _ = foreign
    for key in ("indicators", "covariates", "churn", "trajectories", "data_window", "history"):
        assert f[key] == d[key], key
    assert f["params"]["vocabulary"] == "foreign"


# --- defaults ---------------------------------------------------------------------------------


def test_default_params_write_canonical_labels_and_plain_histories(default):
    raw, truth, t = default
    assert not (raw / "vocabulary.yaml").exists()
    assert set(t["accounts"]["segment"]) == {"smb", "mid_market", "enterprise"}
    assert set(t["contracts"]["billing_period"]) == {"monthly", "annual"}
    assert set(t["milestones"]["milestone"]) == set(FOREIGN["milestone"])
    v = truth["vocabulary"]
    assert v["name"] == "default" and v["unknown_goal_accounts"] == 0
    assert all(k == w for m in v["labels"].values() for k, w in m.items())
    h = truth["history"]
    assert h["shape"] == "history"
    assert h["upgrades"]["count"] == 0 and h["reactivations"]["count"] == 0
    # consecutive rows: every next start is the previous end (no overlap, no gap)
    c = _contracts(t["contracts"])
    prev_end = c.groupby("account_id")["end_date"].shift(1)
    inner = c.groupby("account_id").cumcount() > 0
    assert (c.loc[inner, "start_date"] == prev_end[inner]).all()
    assert sum(r["reactivations"] for r in h["monthly_record"]) == 0


# --- snapshot ---------------------------------------------------------------------------------


def test_snapshot_writes_accounts_and_contracts_as_of_the_export_day(default, snapshot):
    raw, truth = snapshot
    _, d_truth, d = default
    assert sorted(p.name for p in raw.iterdir()) == [
        "accounts.parquet",
        "contracts.parquet",
        "ground_truth.json",
    ]
    accounts = pd.read_parquet(raw / "accounts.parquet")
    pd.testing.assert_frame_equal(accounts, d["accounts"])
    s = _contracts(pd.read_parquet(raw / "contracts.parquet")).set_index("account_id")
    assert s.index.is_unique and len(s) == len(accounts)
    full = _contracts(d["contracts"])
    first = full.groupby("account_id")["start_date"].min()
    last = full.groupby("account_id").tail(1).set_index("account_id")
    churned = last["end_date"].notna() & (last["end_date"] <= END)
    # churned: dated the export day, true date in ground truth; running: open
    assert (s.loc[churned[churned].index, "end_date"] == END).all()
    assert s.loc[churned[~churned].index, "end_date"].isna().all()
    true_dates = pd.to_datetime(pd.Series(truth["history"]["churn_dates"]))
    pd.testing.assert_series_equal(
        true_dates.sort_index(), last.loc[churned, "end_date"].sort_index(), check_names=False
    )
    assert s["cancelled_at"].isna().all()
    assert s.loc[churned, "cancel_reason"].notna().all()
    # each row from the account's start (customer since), with its current seats and MRR
    assert (s["start_date"] == first.reindex(s.index)).all()
    assert (s[["seats", "mrr"]] == last[["seats", "mrr"]].reindex(s.index)).all().all()
    assert truth["churn"] == d_truth["churn"]
    assert truth["vocabulary"]["key_person_event_type"] is None


# --- log ends mid-term ----------------------------------------------------------------------


def test_log_shape_writes_monthly_terms_whose_last_ends_in_the_last_month(default, log):
    _, _, d = default
    _, truth, t = log
    for name in ("accounts", *ACTIVITY):
        pd.testing.assert_frame_equal(t[name], d[name], obj=name)
    c = _contracts(t["contracts"])
    m = c[c["billing_period"] == "monthly"]
    # term k runs from the k-th to the (k+1)-th monthly anniversary of the first start
    # (a month later, day of month clipped as billing does: Jan 31 -> Feb 29 -> Mar 31)
    first = m.groupby("account_id")["start_date"].transform("min")
    k = m.groupby("account_id").cumcount()
    expected = [f + pd.DateOffset(months=int(i) + 1) for f, i in zip(first, k, strict=True)]
    assert (m["end_date"].to_numpy() == np.array(expected, dtype="datetime64[ns]")).all()
    assert (m["end_date"] - m["start_date"]).dt.days.between(28, 31).all()
    nxt = m.groupby("account_id")["start_date"].shift(-1)
    inner = nxt.notna()
    assert (m.loc[inner, "end_date"] == nxt[inner]).all()  # back to back, no overlap
    last = m.groupby("account_id").tail(1).set_index("account_id")
    churn = pd.to_datetime(pd.Series(truth["history"]["churn_dates"]))
    gone = last.index.isin(churn.index)
    # true churns: the last term ends on the churn date and carries the notice
    assert (last.loc[gone, "end_date"] == churn.reindex(last.index[gone])).all()
    assert last.loc[gone, "cancelled_at"].notna().all()
    # running: the last completed term ends in the export's last month, with no notice
    running = last[~gone]
    assert running["cancelled_at"].isna().all()
    completed = running["end_date"] <= END
    assert (running.loc[completed, "end_date"] > END - pd.DateOffset(months=1)).all()
    assert completed.mean() > 0.95  # the rest signed up less than a month before the end
    assert (running.loc[~completed, "start_date"] > END - pd.DateOffset(months=1)).all()
    # annual contracts as in the history shape
    pd.testing.assert_frame_equal(
        c[c["billing_period"] == "annual"].reset_index(drop=True),
        _contracts(d["contracts"]).query("billing_period == 'annual'").reset_index(drop=True),
    )


# --- reactivations and mid-term upgrades ------------------------------------------------------


def test_upgrades_overlap_and_reactivations_leave_gaps_at_the_requested_shares(default, extras):
    _, _, d = default
    _, truth, t = extras
    for name in ("accounts", *ACTIVITY):
        pd.testing.assert_frame_equal(t[name], d[name], obj=name)
    c = _contracts(t["contracts"])
    open_end = c["end_date"].fillna(pd.Timestamp.max)
    prev_end = open_end.groupby(c["account_id"]).shift(1)
    prev = c.groupby("account_id").shift(1)
    overlap = c["start_date"] < prev_end
    gap = c["start_date"] > prev_end
    up = truth["history"]["upgrades"]
    re = truth["history"]["reactivations"]
    assert overlap.sum() == up["count"] and gap.sum() == re["count"]
    assert up["share_of_eligible"] == pytest.approx(0.3, abs=0.06)
    assert re["share_of_eligible"] == pytest.approx(0.5, abs=0.12)
    assert up["count"] > 100 and re["count"] > 30
    # an upgrade: more seats and MRR from mid-term, same end as the row it overlaps
    o = c[overlap]
    assert (o["seats"] > prev.loc[overlap, "seats"]).all()
    assert (o["mrr"] > prev.loc[overlap, "mrr"]).all()
    assert (o["end_date"].fillna(END) == prev.loc[overlap, "end_date"].fillna(END)).all()
    assert (o["start_date"] >= prev.loc[overlap, "start_date"] + pd.Timedelta(days=14)).all()
    ups = pd.to_datetime(pd.Series(up["dates"]))
    assert (o.set_index("account_id")["start_date"] == ups.reindex(o["account_id"])).all()
    # a reactivation: 2-6 months (+ up to 14 days) after a churn with notice, no notice itself
    g = c[gap]
    days = (g["start_date"] - prev.loc[gap, "end_date"]).dt.days
    assert days.min() >= 59 and days.max() <= 6 * 31 + 14
    assert prev.loc[gap, "cancelled_at"].notna().all() and g["cancelled_at"].isna().all()
    back = pd.to_datetime(pd.Series(re["dates"]))
    assert (g.set_index("account_id")["start_date"] == back.reindex(g["account_id"])).all()


def test_monthly_record_matches_an_independent_reading_of_the_written_rows(extras):
    """Row in force on a day = the latest-started row covering it (the v2 supersede rule)."""
    _, truth, t = extras
    c = _contracts(t["contracts"])
    record = pd.DataFrame(truth["history"]["monthly_record"]).set_index("month")
    months = pd.period_range("2023-01", "2025-12", freq="M")
    assert list(record.index) == [str(p) for p in months]
    start = c["start_date"].to_numpy()
    end = c["end_date"].fillna(pd.Timestamp.max).to_numpy()
    for p in months[::5]:
        day = np.datetime64(p.end_time.normalize().date())
        cover = c[(start <= day) & (end > day)]
        in_force = cover.sort_values("start_date").groupby("account_id").tail(1)
        rec = record.loc[str(p)]
        assert rec["active_accounts_end"] == len(in_force), p
        assert rec["mrr_end"] == pytest.approx(in_force["mrr"].sum(), abs=0.01), p
    churn = pd.to_datetime(pd.Series(truth["history"]["churn_dates"])).dt.to_period("M")
    back = pd.to_datetime(pd.Series(truth["history"]["reactivations"]["dates"])).dt.to_period("M")
    for series, key in ((churn, "churned_accounts"), (back, "reactivations")):
        counts = series.astype(str).value_counts().reindex(record.index, fill_value=0)
        assert (counts == record[key]).all(), key
    assert record["churned_accounts"].sum() == sum(truth["churn"]["churned_accounts"].values())
    assert record["reactivations"].sum() == truth["history"]["reactivations"]["count"]


def test_ground_truth_of_the_extras_run_is_on_disk(extras):
    raw, truth, _ = extras
    on_disk = json.loads((raw / "ground_truth.json").read_text(encoding="utf-8"))
    assert on_disk["params"]["reactivation_share"] == 0.5
    assert on_disk["params"]["midterm_upgrade_share"] == 0.3
    assert (
        on_disk["history"]["reactivations"]["count"] == truth["history"]["reactivations"]["count"]
    )
