"""The health score on a synthetic panel whose truth we know, and the stage end to end.

World: weekly churn hazard h = 1 - exp(-exp(a + log(HR) * lamp_{t-4} + c * annual)) where the
lamp is `x < 0.5` four weeks earlier (true HR 6). `z` is pure noise; `y` high marks accounts
that never get in trouble (an opportunity lamp).
"""

import json

import numpy as np
import pandas as pd
import pytest

from churnlab.health.lamps import lamp_table
from churnlab.health.model import fit_hazard, make_design, raw_features
from churnlab.health.stage import compute_health, run

TRUE_HR = 6.0
LEAD = 4


def synthetic_world(n_accounts=1500, n_weeks=60, seed=7):
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2024-01-01", periods=n_weeks, freq="W-MON")
    rows = []
    for i in range(n_accounts):
        start = int(rng.integers(0, 20))
        annual = rng.random() < 0.4
        steady = rng.random() < 0.3  # steady accounts never have trouble
        trouble_at = n_weeks + 1 if steady else int(rng.integers(start, n_weeks + 10))
        trouble_len = int(rng.integers(6, 20))
        xs = []
        for t in range(start, n_weeks):
            in_trouble = trouble_at <= t < trouble_at + trouble_len
            x = (0.3 if in_trouble else 0.8) + rng.normal(0, 0.08)
            xs.append(x)
            k = t - start
            lamp_lag = k >= LEAD and xs[k - LEAD] < 0.5
            eta = -4.6 + np.log(TRUE_HR) * lamp_lag - 0.7 * annual
            churn = rng.random() < 1 - np.exp(-np.exp(eta))
            rows.append(
                (f"acc{i:04d}", weeks[t], k, k + 1, int(churn), "smb", "learn_myself",
                 "pro", "annual" if annual else "monthly", 5, 100.0 + i % 7 * 50, k, x,
                 rng.random(), 0.9 if steady else 0.2)
            )  # fmt: skip
            if churn:
                break
    cols = [
        "account_id", "week_start", "start", "stop", "event", "segment", "customer_goal",
        "plan", "billing_period", "seats", "mrr", "tenure_weeks", "x", "z", "y",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


TESTED = [
    {"id": "x_low", "indicator": "x", "direction": "low", "threshold": 0.5,
     "best_lag_weeks": LEAD, "verdict": "leads churn", "kind": "risk", "action": "Call them"},
    {"id": "z_high", "indicator": "z", "direction": "high", "threshold": 0.5,
     "best_lag_weeks": 0, "verdict": "no evidence", "kind": "risk", "action": "Ignore"},
    {"id": "y_high", "indicator": "y", "direction": "high", "threshold": 0.5,
     "best_lag_weeks": 0, "verdict": "no evidence", "kind": "opportunity",
     "action": "Propose expansion"},
]  # fmt: skip


def calibrated_world(n_accounts: int, *, bootstrap_reps: int, calibration_weeks: int):
    """(world, result, scored): `compute_health` on a synthetic world of 60 weeks (seed 21)
    with horizon 8 and a 0.6 split, the set-up of the calibration tests."""
    world = synthetic_world(n_accounts=n_accounts, seed=21)
    result, scored = compute_health(
        world, lamp_table(TESTED, None), horizon_weeks=8, train_fraction=0.6, red=0.25,
        amber=0.10, bootstrap_reps=bootstrap_reps, seed=3, calibration_weeks=calibration_weeks,
    )  # fmt: skip
    return world, result, scored


@pytest.fixture(scope="module")
def world():
    return synthetic_world()


def test_glm_recovers_the_true_hazard_ratio(world):
    lamps = lamp_table(TESTED[:1], None)
    raw = raw_features(world, lamps)
    design = make_design(raw, world["event"], use_lamps=True)
    fit = fit_hazard(raw, world["event"], world["account_id"], design)
    w = {r["term"]: r for r in fit.weights()}
    lamp = w["lamp:x_low"]
    assert lamp["ci_low"] < TRUE_HR < lamp["ci_high"]
    assert 4 < lamp["hazard_ratio"] < 9
    annual = w["billing_period=annual"]
    assert abs(annual["coef"] - (-0.7)) < 3 * annual["se"]  # true log-HR of annual plans


@pytest.fixture(scope="module")
def health(world):
    lamps = lamp_table(TESTED, None)
    return compute_health(
        world, lamps, horizon_weeks=8, train_fraction=0.6, red=0.25, amber=0.10,
        bootstrap_reps=50, seed=42,
    )  # fmt: skip


def test_score_beats_baseline_out_of_time(health):
    result, scored = health
    v = result["validation"]
    assert result["score_source"] == "lamps + baseline"
    assert [lamp["id"] for lamp in result["lamps_used"]] == ["x_low"]
    # both are fitted on the weeks before the calibration slice (weeks 0-16 of 60 here, so
    # the baseline sees short tenures only): score 0.70 vs baseline 0.61 on this world
    assert v["auc"]["score"]["estimate"] > v["auc"]["baseline"]["estimate"] + 0.05
    assert v["auc"]["difference"]["ci_low"] > 0
    assert v["concordance"]["difference"]["ci_low"] > 0
    assert v["top_decile_lift"]["score"] > 2
    ci = v["auc"]["score"]
    assert ci["ci_low"] <= ci["estimate"] <= ci["ci_high"]
    assert result["bands"]["red_green_churn_ratio"] > 3
    assert scored["score"].between(0, 100).all()
    assert set(scored["band"]) <= {"green", "amber", "red"}


def test_calibration_is_roughly_right(health):
    cal = pd.DataFrame(health[0]["validation"]["calibration"]["score"])
    assert len(cal) == 10
    # pooled predicted vs observed within a factor of 1.5 (the model is correctly specified)
    ratio = (cal["mean_predicted"] * cal["n"]).sum() / (cal["observed"] * cal["n"]).sum()
    assert 0.67 < ratio < 1.5
    assert cal["observed"].iloc[-1] > 3 * cal["observed"].iloc[0]


def test_no_leading_hypothesis_falls_back_to_baseline(world):
    tested = [dict(TESTED[0], verdict="no evidence")]
    result, scored = compute_health(
        world, lamp_table(tested, None), horizon_weeks=8, train_fraction=0.6, red=0.25,
        amber=0.10, bootstrap_reps=5, seed=1,
    )  # fmt: skip
    assert result["score_source"] == "baseline only"
    assert "No hypothesis" in result["message"]
    assert result["lamps_used"] == []
    assert result["validation"]["auc"]["difference"]["estimate"] == 0.0
    assert scored["score"].notna().all()


def write_project(tmp_path, world, tested):
    (tmp_path / "data/processed").mkdir(parents=True)
    (tmp_path / "data/interim").mkdir(parents=True)
    (tmp_path / "models").mkdir()
    world.to_parquet(tmp_path / "data/processed/panel.parquet")
    last = world["week_start"].max()
    (tmp_path / "data/processed/panel_meta.json").write_text(
        json.dumps({"as_of": (last + pd.Timedelta(days=3)).date().isoformat()})
    )
    (tmp_path / "models/hypotheses.json").write_text(json.dumps({"hypotheses": tested}))
    (tmp_path / "hypotheses.yaml").write_text(
        "hypotheses:\n  - id: x_low\n    statement: Low x leads churn\n    stage: adoption\n"
        "    indicator: x\n    direction: low\n    threshold: 0.5\n"
        "    expected_lead_weeks: 4\n"
        '    action: "Call the key person; ask what changed"\n    kind: risk\n',
        encoding="utf-8",
    )
    ids = sorted(world["account_id"].unique())
    accounts = pd.DataFrame(
        {"account_id": ids, "name": [f"株式会社 {a}" for a in ids], "segment": "smb"}
    )
    accounts.to_parquet(tmp_path / "data/interim/accounts.parquet")
    first = world.groupby("account_id")["week_start"].min()
    contracts = pd.DataFrame(
        {
            "contract_id": [f"c-{a}" for a in first.index],
            "account_id": first.index,
            "start_date": first.to_numpy(),
            "end_date": pd.NaT,
            "billing_period": "monthly",
            "mrr": 100.0,
        }
    )
    contracts.to_parquet(tmp_path / "data/interim/contracts.parquet")
    csm = pd.DataFrame(
        {
            "account_id": ids,
            "csm_id": [f"csm{int(a[3:]) % 3}" for a in ids],
            "start_date": pd.Timestamp("2023-01-01"),
            "end_date": pd.NaT,
        }
    )
    csm.to_parquet(tmp_path / "data/interim/csm_assignments.parquet")
    return {
        "base": {
            "seed": 42, "interim_dir": "data/interim", "processed_dir": "data/processed",
            "models_dir": "models", "reports_dir": "reports",
        },
        "hypotheses": {"file": "hypotheses.yaml"},
        "health_score": {
            "train_fraction": 0.6, "horizon_weeks": 8, "bootstrap_reps": 20,
            "band_probabilities": {"red": 0.25, "amber": 0.10},
        },
    }  # fmt: skip


def test_stage_outputs_action_lists_deterministically(tmp_path, monkeypatch):
    world = synthetic_world(n_accounts=600, seed=3)
    params = write_project(tmp_path, world, TESTED)
    monkeypatch.chdir(tmp_path)
    run(params)
    files = ["models/health_score.json", "data/processed/health_scores.parquet",
             "reports/action_list.csv", "reports/opportunity_list.csv",
             "metrics/health_score.json"]  # fmt: skip
    first = {f: (tmp_path / f).read_bytes() for f in files}
    run(params)
    assert first == {f: (tmp_path / f).read_bytes() for f in files}

    actions = pd.read_csv(tmp_path / "reports/action_list.csv", encoding="utf-8")
    last = world["week_start"].max()
    alive = world[(world["week_start"] == last) & (world["event"] == 0)]
    # every live account whose x is below 0.5 this week, and only those
    expected = sorted(alive.loc[alive["x"] < 0.5, "account_id"])
    assert sorted(actions["account_id"]) == expected
    assert (actions["hypothesis_id"] == "x_low").all()
    assert (actions["action"] == "Call the key person; ask what changed").all()
    assert actions["mrr_at_risk"].is_monotonic_decreasing
    assert actions["account_name"].iloc[0].startswith("株式会社")
    assert (actions["week_start"] == last.date().isoformat()).all()
    assert actions["renewal_date"].str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    assert actions["csm_id"].str.startswith("csm").all()
    # weeks_on counts the current run of x < 0.5 for that account
    acc = actions["account_id"].iloc[0]
    xs = world.loc[world["account_id"] == acc, "x"].to_numpy()[::-1]
    run_len = int(np.argmax(xs >= 0.5)) if (xs >= 0.5).any() else len(xs)
    assert actions["weeks_on"].iloc[0] == run_len

    opp = pd.read_csv(tmp_path / "reports/opportunity_list.csv")
    assert sorted(opp["account_id"]) == sorted(alive.loc[alive["y"] > 0.5, "account_id"])
    metrics = json.loads((tmp_path / "metrics/health_score.json").read_text())
    assert metrics["auc"] > metrics["auc_baseline"]
    scores = pd.read_parquet(tmp_path / "data/processed/health_scores.parquet")
    assert list(scores.columns[:4]) == ["account_id", "week_start", "score", "band"]
    assert len(scores) == len(world)


def test_stage_without_hypotheses_json_names_the_file(tmp_path, monkeypatch):
    from churnlab.errors import UserError

    world = synthetic_world(n_accounts=50, n_weeks=20, seed=5)
    params = write_project(tmp_path, world, TESTED)
    (tmp_path / "models/hypotheses.json").unlink()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="hypotheses.json: not found"):
        run(params)


def test_weeks_before_churn_is_observed_are_left_out(world):
    # Give 200 accounts 30 event-free weeks before the first churn is observed (survivors
    # "before the export starts"): the fit must ignore those rows, so the weights equal those
    # of the original world. Indicators there are unknown, so later lags are unchanged.
    first_event = world.loc[world["event"] == 1, "week_start"].min()
    some = world.groupby("account_id").head(1).head(200)
    pre = []
    for k in range(1, 31):
        rows = some.assign(week_start=first_event - pd.Timedelta(weeks=k), event=0)
        pre.append(rows.assign(x=np.nan, y=np.nan, z=np.nan))
    padded = pd.concat([*pre, world], ignore_index=True)
    kwargs = dict(horizon_weeks=8, train_fraction=0.6, red=0.25, amber=0.10, bootstrap_reps=5,
                  seed=1)  # fmt: skip
    lamps = lamp_table(TESTED, None)
    res_pad, _ = compute_health(padded, lamps, observation_start=first_event, **kwargs)
    res, _ = compute_health(world, lamps, observation_start=first_event, **kwargs)
    assert res_pad["observation_start"] == first_event.date().isoformat()
    assert res_pad["model"]["n_rows_final"] == int((world["week_start"] >= first_event).sum())
    w_pad = [w["coef"] for w in res_pad["model"]["weights_final"]]
    assert w_pad == pytest.approx([w["coef"] for w in res["model"]["weights_final"]])
    # default observation start = the first panel week: the v2 panel starts every spell at
    # its contract start, so no week is truncated (not even before the first churn)
    res_default, _ = compute_health(padded, lamps, **kwargs)
    assert res_default["observation_start"] == padded["week_start"].min().date().isoformat()
    assert res_default["model"]["n_rows_final"] == len(padded)


def test_stage_runs_and_says_so_when_nothing_leads(tmp_path, monkeypatch):
    world = synthetic_world(n_accounts=300, seed=11)
    tested = [dict(h, verdict="no evidence") for h in TESTED]
    params = write_project(tmp_path, world, tested)
    monkeypatch.chdir(tmp_path)
    run(params)
    result = json.loads((tmp_path / "models/health_score.json").read_text())
    assert result["score_source"] == "baseline only"
    header = (tmp_path / "reports/action_list.csv").read_text(encoding="utf-8").splitlines()
    assert len(header) == 1 and header[0].startswith("rank,week_start,account_id")
    # opportunity lamps do not depend on the churn verdict (only `opposite direction` is out)
    assert len(pd.read_csv(tmp_path / "reports/opportunity_list.csv")) > 0


# --- v2: snapshots, causes named, spells ---------------------------------------------------


def snapshot_world(n_accounts=400, n_weeks=104, seed=5):
    """A snapshot export: starts spread over two years, every churn dated the export week.

    Monthly accounts churn with probability 0.5, annual ones 0.2 (known only at the end)."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2023-01-02", periods=n_weeks, freq="W-MON")
    rows = []
    for i in range(n_accounts):
        start = int(rng.integers(0, n_weeks - 1))
        annual = rng.random() < 0.4
        churns = rng.random() < (0.2 if annual else 0.5)
        for k, t in enumerate(range(start, n_weeks)):
            rows.append(
                (f"s{i:04d}", 1, weeks[t], k, k + 1, int(churns and t == n_weeks - 1), "Startup",
                 "unknown", None, "annual" if annual else "monthly", 1.0, 50.0, k)
            )  # fmt: skip
    cols = ["account_id", "spell", "week_start", "start", "stop", "event", "segment",
            "customer_goal", "plan", "billing_period", "seats", "mrr", "tenure_weeks"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def test_snapshot_gets_a_baseline_score_and_says_what_it_can_and_cannot_do():
    world = snapshot_world()
    n_churn = int(world["event"].sum())
    last = world["week_start"].max().date()
    leading = [dict(TESTED[0], indicator="x")]  # a leader from hypotheses.json: cannot be read
    result, scored = compute_health(
        world, lamp_table(leading, None), horizon_weeks=8, train_fraction=0.6, red=0.25,
        amber=0.10, bootstrap_reps=5, seed=1, snapshot=True,
    )  # fmt: skip
    assert result["score_source"] == "baseline only" and result["snapshot"] is True
    assert result["validated"] is False and result["validation"]["split_week"] is None
    assert result["lamps_used"] == []
    assert result["lamps_skipped"] == [{"id": "x_low", "reason": "snapshot export: no usage data"}]
    problem = result["validation"]["problem"]
    assert problem.startswith(f"all {n_churn} churn events fall in the week of {last}")
    msg = result["message"]
    assert msg.startswith("Snapshot export (accounts and contracts only, no usage data)")
    assert "ranks accounts by the churn risk of their tenure, billing period and plan" in msg
    assert "cannot warn of a change" in msg and "not validated out of time" in msg
    assert result["model"]["n_rows_final"] == len(world)  # fitted on every week
    assert scored["score"].between(0, 100).all()
    # annual accounts churn less in this world: the baseline says so
    w = {x["term"]: x for x in result["model"]["weights_final"]}
    assert w["billing_period=annual"]["hazard_ratio"] < 1


def test_snapshot_stage_run_writes_every_output(tmp_path, monkeypatch):
    world = snapshot_world(n_accounts=150)
    params = write_project(tmp_path, world, TESTED)
    meta = tmp_path / "data/processed/panel_meta.json"
    # a snapshot's meta still lists the indicators (not testable), so the file validates
    x_meta = {"source": "user", "testable": False}
    meta.write_text(
        json.dumps({"as_of": "2024-12-29", "snapshot": True, "indicators": {"x": x_meta}})
    )
    (tmp_path / "data/interim/csm_assignments.parquet").unlink()
    monkeypatch.chdir(tmp_path)
    run(params)
    result = json.loads((tmp_path / "models/health_score.json").read_text())
    assert result["score_source"] == "baseline only" and result["validated"] is False
    assert "Snapshot export" in result["message"]
    scores = pd.read_parquet(tmp_path / "data/processed/health_scores.parquet")
    assert {"event", "spell"} <= set(scores.columns)
    assert scores["event"].sum() == world["event"].sum()
    # "red now" = red accounts still customers in the latest week <= active accounts
    last = scores[scores["week_start"] == scores["week_start"].max()]
    active = last[last["event"] == 0]
    assert result["latest_week"]["accounts"] == len(active)
    assert sum(result["latest_week"]["by_band"].values()) == len(active)


def test_horizon_that_does_not_fit_is_named_as_the_cause():
    world = synthetic_world(n_accounts=400, n_weeks=24, seed=2)
    result, _ = compute_health(
        world, lamp_table(TESTED, None), horizon_weeks=12, train_fraction=0.6, red=0.25,
        amber=0.10, bootstrap_reps=5, seed=1,
    )  # fmt: skip
    # 24 weeks: the first 14 train, the last 10 validate; a 12-week horizon never fits
    problem = result["validation"]["problem"]
    assert problem == (
        "the horizon of 12 weeks does not fit between the split week 2024-04-08 and the last "
        "panel week 2024-06-10 (10 validation weeks): no validation week has its whole horizon "
        "observed; lower health_score.horizon_weeks or health_score.train_fraction"
    )
    assert "no churn events before" not in result["message"]
    assert result["validation"]["split_week"] == "2024-04-08" and result["validated"] is False
    assert result["message"].endswith(" It is not validated out of time: " + problem + ".")


def test_no_churn_in_the_training_weeks_names_the_first_churn():
    world = synthetic_world(n_accounts=400, n_weeks=40, seed=4)
    first = pd.Timestamp("2024-07-01")  # week 26 of 40: churn only from here on
    world = world[~((world["event"] == 1) & (world["week_start"] < first))]
    result, _ = compute_health(
        world, lamp_table(TESTED, None), horizon_weeks=4, train_fraction=0.5, red=0.25,
        amber=0.10, bootstrap_reps=5, seed=1,
    )  # fmt: skip
    problem = result["validation"]["problem"]
    assert problem.startswith("no churn event in the training weeks 2024-01-01 to 2024-05-13")
    # week 26 is the 27th of 40 observed weeks: train_fraction must exceed 27/40
    assert "the first churn is in the week of 2024-07-01: raise health_score.train_fraction " \
        "above 0.68" in problem  # fmt: skip
    assert "fitted on all observed weeks" in result["message"]


def test_no_churn_at_all_is_a_user_error_naming_the_weeks():
    from churnlab.errors import UserError

    world = synthetic_world(n_accounts=50, n_weeks=20, seed=5).assign(event=0)
    with pytest.raises(UserError, match=r"no churn event in the observed weeks 2024-01-01 to"):
        compute_health(
            world, lamp_table(TESTED, None), horizon_weeks=4, train_fraction=0.6, red=0.25,
            amber=0.10, bootstrap_reps=5, seed=1,
        )  # fmt: skip


def test_stage_reads_the_hypotheses_file_with_the_projects_loader(tmp_path, monkeypatch):
    """The stage validates hypotheses.yaml as the hypotheses stage does (hypotheses.spec):
    one line naming file, hypothesis and field, not a YAML parse of its own."""
    from churnlab.errors import ConfigError

    world = synthetic_world(n_accounts=60, n_weeks=20, seed=5)
    params = write_project(tmp_path, world, TESTED)
    hyp = tmp_path / "hypotheses.yaml"
    hyp.write_text(hyp.read_text().replace("direction: low", "direction: lower"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ConfigError, match=r"hypotheses.yaml: hypothesis 'x_low', field 'direction'"
    ):
        run(params)
