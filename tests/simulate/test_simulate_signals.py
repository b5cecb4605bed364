"""The recorded truth is visible in the raw tables: leaders lead by their lead, decoys don't.

Computed from the raw files only (no panel code), on the shared 750-account company.
Week w's value uses data strictly before w (as the panel does); churn week c = week of the
churn date; "at lag k" = the value at week c - k.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from simulate_test_world import read_raw, world

ORIGIN = pd.Timestamp("2022-12-26")  # a Monday before all data


def week(ts: pd.Series) -> np.ndarray:
    ts = pd.to_datetime(ts)
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert(None)
    return ((ts - ORIGIN).dt.days // 7).to_numpy()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    raw, truth = world(str(tmp_path_factory.getbasetemp() / "sim_world"))
    t = read_raw(raw)
    c = t["contracts"].assign(
        start=pd.to_datetime(t["contracts"]["start_date"]),
        end=pd.to_datetime(t["contracts"]["end_date"]),
    )
    last = (
        c.sort_values(["account_id", "start"]).groupby("account_id").tail(1).set_index("account_id")
    )
    churned = last["end"].notna() & (last["end"] <= pd.Timestamp("2025-12-31"))
    acc = t["accounts"].set_index("account_id")
    acc["first_wk"] = week(c.groupby("account_id")["start"].min().reindex(acc.index))
    acc["churn_wk"] = pd.Series(week(last["end"].where(churned)), index=last.index).reindex(
        acc.index
    )
    acc["last_wk"] = (
        acc["churn_wk"].fillna(week(pd.Series([pd.Timestamp("2025-12-29")]))[0]).astype(int)
    )
    return truth, t, acc


def weekly_matrix(acc: pd.DataFrame, account_id: pd.Series, wk: np.ndarray, n_weeks: int = 160):
    """(accounts x weeks) counts of rows per account and week."""
    row = acc.index.get_indexer(account_id)
    m = np.zeros((len(acc), n_weeks))
    ok = (row >= 0) & (wk >= 0) & (wk < n_weeks)
    np.add.at(m, (row[ok], wk[ok]), 1)
    return m


def lamp_at_lags(acc, lamp: np.ndarray, lags):
    """Share of churners with the lamp on at week churn - k, and the base rate over all live weeks."""
    ch = acc["churn_wk"].notna().to_numpy()
    cw = acc["churn_wk"].to_numpy()[ch].astype(int)
    rows = np.nonzero(ch)[0]
    at = {
        k: lamp[rows, cw - k][(cw - k) >= acc["first_wk"].to_numpy()[ch] + 6].mean() for k in lags
    }
    wk = np.arange(lamp.shape[1])[None, :]
    live = (wk >= acc["first_wk"].to_numpy()[:, None] + 6) & (
        wk <= acc["last_wk"].to_numpy()[:, None]
    )
    return at, lamp[live].mean()


def test_key_person_drop_precedes_churn_by_its_lead(sim):
    truth, t, acc = sim
    lead = truth["indicators"]["key_person_activity_change"]["lead_weeks"]
    kp = t["users"].query("role == 'key_person'")[["user_id"]]
    ev = t["events"].merge(kp, on="user_id")
    m = weekly_matrix(acc, ev["account_id"], week(ev["occurred_at"]))
    # lamp at week w: key person's events in w-1 vs mean of w-5..w-2 fell by more than 80%
    prev = np.roll(m, 1, axis=1)
    trail = sum(np.roll(m, k, axis=1) for k in range(2, 6)) / 4
    lamp = (trail > 0) & (prev < 0.2 * trail)
    at, base = lamp_at_lags(acc, lamp, [0, 2, 4, lead, 12, 16])
    assert at[lead] > 2 * base
    assert at[lead] > 1.6 * max(at[0], at[2], at[4], at[12], at[16])


def test_unanswered_nps_precedes_churn_by_its_lead(sim):
    truth, t, acc = sim
    lead = truth["indicators"]["nps_unanswered"]["lead_weeks"]
    s = t["surveys"]
    visible = week(pd.to_datetime(s["sent_at"]) + pd.Timedelta(days=14)) + 1
    s, visible = s[visible < 160], visible[visible < 160]
    # at week w the lamp shows the latest survey visible by w: forward-fill per account
    row = acc.index.get_indexer(s["account_id"])
    state = np.full((len(acc), 160), np.nan)
    state[row, visible] = s["answered_at"].isna().to_numpy().astype(float)
    lamp = pd.DataFrame(state).T.ffill().T.fillna(0).to_numpy() > 0
    at, base = lamp_at_lags(acc, lamp, [0, lead, 16, 26])
    # The lamp stays on until the next survey (13 weeks), so lags 0..lead all see it; the
    # raised risk ends 13 weeks after it starts, so long lags do not.
    assert at[lead] > 1.3 * base
    assert at[lead] > 1.3 * max(at[16], at[26])


def test_csm_change_precedes_churn_by_its_lead(sim):
    truth, t, acc = sim
    lead = truth["indicators"]["csm_changed_recently"]["lead_weeks"]
    cs = t["csm_assignments"].sort_values(["account_id", "start_date"])
    changes = cs[cs.groupby("account_id").cumcount() > 0]
    m = weekly_matrix(acc, changes["account_id"], week(changes["start_date"]))
    # lamp at week w: a change in the 8 weeks before w
    lamp = sum(np.roll(m, k, axis=1) for k in range(1, 9)) > 0
    at, base = lamp_at_lags(acc, lamp, [0, 4, lead, 24])
    assert at[lead] > 2 * base
    assert at[lead] > 1.8 * max(at[0], at[4], at[24])


def test_data_exports_burst_only_right_before_churn(sim):
    _, t, acc = sim
    ex = t["events"].query("event_type == 'data_export'")
    m = weekly_matrix(acc, ex["account_id"], week(ex["occurred_at"]))
    lamp = np.roll(m, 1, axis=1) >= 2  # 2+ exports in the previous week
    at, base = lamp_at_lags(acc, lamp, [0, 1, 2, 4, 8])
    assert at[0] > 0.6 and at[1] > 0.6
    assert max(at[2], at[4], at[8]) < 3 * base + 0.03


def test_decoys_do_not_differ_between_churners_and_stayers_within_segment(sim):
    _, t, acc = sim
    tp = t["touchpoints"].query("kind == 'event_attendance'")
    fr = t["tickets"].query("category == 'feature_request'")
    live_weeks = (acc["last_wk"] - acc["first_wk"] + 1).clip(lower=1)
    churner = acc["churn_wk"].notna()
    for rows in (tp, fr):
        per_week = rows.groupby("account_id").size().reindex(acc.index, fill_value=0) / live_weeks
        for seg in ("smb", "mid_market"):
            sel = acc["segment"] == seg
            ratio = per_week[sel & churner].mean() / per_week[sel & ~churner].mean()
            assert 0.6 < ratio < 1.6, (seg, ratio)
    # ... while event attendance does differ between segments (the confounding a decoy needs)
    att = tp.groupby("account_id").size().reindex(acc.index, fill_value=0) / live_weeks
    by_seg = att.groupby(acc["segment"]).mean()
    assert by_seg["enterprise"] > 3 * by_seg["smb"]
