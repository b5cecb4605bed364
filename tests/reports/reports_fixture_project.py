"""A tiny hand-made project (CONTRACTS.md §2–§4 files, data contract v2) whose numbers can be
checked by hand. Labels are the company's own words, not churnlab's.

Six accounts start in the week of 2025-01-06 (one spell each):
  a1 smb/done_for_me churns after 10 weeks          a2 smb/learn_myself active 10 weeks
  a3 Public sector/done_for_me churns after 6       a4 公共部門/learn_myself active 10
  a5 smb/done_for_me churns after 4                 a6 Public sector/EVIL_GOAL active 10
Overall KM retention: 5/6 after week 4, 4/6 after week 6, 1/2 after week 10.
a1 churns in the last panel week (2025-03-10): it is scored red that week but is no longer a
customer, so "red now" counts a2 only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import yaml

from churnlab.io import write_json, write_parquet

EVIL_NAME = '<script>alert("x")</script> & Sons'
JA_NAME = "株式会社テスト"
PUBLIC = "Public sector"
JA_SEGMENT = "公共部門"
EVIL_GOAL = "a/b <script>x</script>"
START = pd.Timestamp("2025-01-06")  # a Monday

ACCOUNTS = [
    ("a1", "smb", "done_for_me", 10, 1),
    ("a2", "smb", "learn_myself", 10, 0),
    ("a3", PUBLIC, "done_for_me", 6, 1),
    ("a4", JA_SEGMENT, "learn_myself", 10, 0),
    ("a5", "smb", "done_for_me", 4, 1),
    ("a6", PUBLIC, EVIL_GOAL, 10, 0),
]

HYPOTHESES = [
    {
        "id": "H1",
        "statement": "License activation under 40% leads churn",
        "stage": "onboarding",
        "indicator": "license_activation_rate",
        "direction": "low",
        "kind": "risk",
        "action": "Run an activation workshop with the admin",
        "verdict": "leads churn",
        "verdict_reason": "HR > 1 at lags up to 8 weeks (q < 0.05)",
        "best_lag_weeks": 8,
        "hazard_ratio": 2.5,
        "ci_low": 1.8,
        "ci_high": 3.47,
        "p_value": 0.0001,
        "q_value": 0.0004,
        "lead_profile": [
            {
                "lag_weeks": lag,
                "hazard_ratio": hr,
                "ci_low": hr / 1.4,
                "ci_high": hr * 1.4,
                "p_value": 0.001,
                "q_value": 0.004,
            }
            for lag, hr in [(0, 2.9), (1, 2.8), (2, 2.7), (4, 2.6), (8, 2.5), (12, 1.4)]
        ],
        "headline_lag_weeks": 8,
        # GLM HR at lag 8 = exp(0.875) = 2.40; CI exp(0.875 -/+ 1.96 * 0.17) = 1.72-3.35
        "glm_check": {
            "per_lag": [{"lag_weeks": 8, "coef": 0.875, "se": 0.17, "disagreement": None}],
            "agrees_at_best_lag": True,
            "n_disagreements": 0,
        },
        "ph_check": {"lag_weeks": 8, "p_value": 0.51, "proportional": True},
        "threshold": 0.4,
        "threshold_source": "suggested",
        "threshold_rule": "sharpest split (largest chi-square) of churn-within-horizon weeks",
        "threshold_ci": [0.35, 0.45],
        "threshold_tuning": {
            "tuning_accounts": 3,
            "tuning_events": 2,
            "test_accounts": 3,
            "test_events": 1,
        },  # fmt: skip
        "lift": 2.1,
        "precision": 0.3,
        "recall": 0.55,
        "median_warning_weeks": 7.0,
        "n_accounts": 6,
        "n_events": 3,
    },
    {
        "id": "H2",
        "statement": "No login for 3+ weeks",
        "stage": "adoption",
        "indicator": "weeks_since_last_login",
        "direction": "high",
        "kind": "risk",
        "action": "Call the key person",
        "verdict": "too late to act on",
        "verdict_reason": "informative only at lag 0-1",
        "best_lag_weeks": 0,
        "hazard_ratio": 3.1,
        "ci_low": 2.0,
        "ci_high": 4.8,
        "p_value": 0.001,
        "q_value": 0.002,
        "lead_profile": [
            {"lag_weeks": 0, "hazard_ratio": 3.1, "ci_low": 2.0, "ci_high": 4.8},
            {"lag_weeks": 4, "hazard_ratio": 1.0, "ci_low": 0.7, "ci_high": 1.4},
        ],
        "headline_lag_weeks": 0,
        "glm_check": {
            "per_lag": [
                {"lag_weeks": 0, "coef": 0.18, "se": 0.2, "disagreement": "significant in Cox only"}
            ],
            "agrees_at_best_lag": False,
        },
        "ph_check": {"lag_weeks": 0, "p_value": 0.01, "proportional": False},
        "threshold": 3,
        "threshold_source": "configured",
        "lift": 1.5,
        "precision": 0.2,
        "recall": 0.4,
        "median_warning_weeks": 1.0,
        "n_accounts": 6,
        "n_events": 3,
    },
    {
        "id": "H3",
        "statement": "NPS survey unanswered",
        "stage": "renewal",
        "indicator": "nps_unanswered",
        "direction": "high",
        "kind": "risk",
        "action": "Ask for feedback in the QBR",
        "verdict": "no evidence",
        "verdict_reason": "CI includes 1 at every lag",
        "best_lag_weeks": None,
        "headline_lag_weeks": 0,
        "hazard_ratio": 1.05,
        "ci_low": 0.8,
        "ci_high": 1.4,
        "q_value": 0.8,
        "lead_profile": [{"lag_weeks": 0, "hazard_ratio": 1.05, "ci_low": 0.8, "ci_high": 1.4}],
        "glm_check": {},
        "n_accounts": 6,
        "n_events": 3,
    },
    {
        "id": "H4",
        "statement": "CSM changed recently",
        "stage": "renewal",
        "indicator": "csm_changed_recently",
        "direction": "high",
        "kind": "risk",
        "action": "Introduce the new CSM in person",
        "verdict": "not testable",
        "verdict_reason": "table csm_assignments is missing",
        "lead_profile": [],
    },
]


def panel() -> pd.DataFrame:
    rows = []
    for acc, seg, goal, weeks, churned in ACCOUNTS:
        for w in range(weeks):
            rows.append(
                {
                    "account_id": acc,
                    "spell": 1,
                    "week_start": START + pd.Timedelta(weeks=w),
                    "start": w,
                    "stop": w + 1,
                    "event": int(churned and w == weeks - 1),
                    "segment": seg,
                    "customer_goal": goal,
                    "plan": "pro",
                    "billing_period": "monthly",
                    "seats": 5,
                    "mrr": 100.0,
                    "tenure_weeks": w,
                    "license_activation_rate": 0.5,
                }
            )
    return pd.DataFrame(rows)


def health_scores() -> pd.DataFrame:
    """As the health stage writes it: `event` = 1 in the account's churn week (a1, week 9)."""
    w1, w2 = START + pd.Timedelta(weeks=8), START + pd.Timedelta(weeks=9)
    rows = [
        ("a1", w1, 0.9, "red", 0),
        ("a2", w1, 0.5, "amber", 0),
        ("a4", w1, 0.1, "green", 0),
        ("a6", w1, 0.1, "green", 0),
        ("a1", w2, 0.95, "red", 1),
        ("a2", w2, 0.8, "red", 0),
        ("a4", w2, 0.1, "green", 0),
        ("a6", w2, 0.4, "amber", 0),
    ]
    return pd.DataFrame(rows, columns=["account_id", "week_start", "score", "band", "event"])


def _month(month, churn, grr, nrr, active, mrr_start, expansion, reactivated, contraction):
    churned = 100.0  # one account of MRR 100 churns in each month (a5, a3, a1)
    end = mrr_start + expansion + reactivated - contraction - churned
    return {
        "month": month, "logo_churn_rate": churn, "grr": grr, "nrr": nrr,
        "active_accounts": active, "mrr_start": mrr_start, "new_mrr": 0.0,
        "expansion_mrr": expansion, "reactivated_mrr": reactivated,
        "contraction_mrr": contraction, "churned_mrr": churned, "mrr_end": end,
    }  # fmt: skip


def kpis() -> dict:
    """models/kpis.json v2. MRR bridge over the 3 months: 600 + 20 expansion + 50 reactivated
    - 10 contraction - 300 churned = 360 at the end. The pooled monthly NRR (99.2%) is pooled
    over 3 observed months; there is no 12-month figure (too short a history)."""
    return {
        "as_of": "2025-03-16",
        "monthly": [
            _month("2025-01", 0.02, 0.97, 1.02, 6, 600.0, 20.0, 0.0, 0.0),
            _month("2025-02", 0.025, 0.96, 1.01, 5, 520.0, 0.0, 0.0, 0.0),
            _month("2025-03", 0.04, 0.95, 0.987, 4, 420.0, 0.0, 50.0, 10.0),
        ],
        "headline": {
            "as_of": "2025-03-16",
            "window_months": ["2025-01-01", "2025-03-01"],
            "months_pooled": 3,
            "monthly_logo_churn": 0.0284,
            "monthly_grr": 0.96,
            "monthly_nrr": 0.992,
            "grr_12m": None,
            "nrr_12m": None,
            "active_accounts_now": 3,
        },
        "definitions": {},
    }


PILE_UP_MESSAGE = "March 2025 churn (9) is 4.5x the median of the previous 12 months (2)."


def tables_json() -> dict:
    return {
        "as_of": "2025-03-16",
        "as_of_source": "latest date in the data (events.occurred_at)",
        "snapshot": False,
        "warnings": [{"code": "churn_pile_up_at_end", "message": PILE_UP_MESSAGE}],
        "contract_history": {
            "overlapping_rows": 1,
            "superseded_days": 45,
            "gaps_bridged": 2,
            "reactivations": 1,
            "spells_censored_at_end": 1,
            "accounts_without_contract": 1,
            "accounts_without_contract_ids": ["a9"],
            "events_of_accounts_without_contract": 12,
        },
        "present": ["accounts", "contracts", "events", "users"],
        "missing_optional": ["surveys", "touchpoints"],
        "rows": {
            "accounts": {"read": 7, "accepted": 6, "quarantined": 1, "by_reason": {"duplicate": 1}},
            "contracts": {
                "read": 10,
                "accepted": 9,
                "quarantined": 1,
                "by_reason": {"negative_mrr": 1},
            },
            "events": {
                "read": 1000,
                "accepted": 995,
                "quarantined": 5,
                "by_reason": {"unknown_account": 3, "unparseable_date": 2},
            },
            "users": {"read": 12, "accepted": 12, "quarantined": 0, "by_reason": {}},
        },
        "date_coverage": {
            "contracts": ["2025-01-06", "2025-03-16"],
            "events": ["2025-01-06", "2025-03-16"],
        },
    }


def health_json() -> dict:
    """models/health_score.json's validation and band blocks (CONTRACTS.md §4)."""
    return {
        "as_of": "2025-03-16",
        "score_source": "lamps + baseline",
        "message": "1 lamp(s) from hypotheses that lead churn enter the score",
        "validation": {
            "split_week": "2025-02-24",
            "n_accounts": 6,
            "n_events": 3,
            "concordance": {
                "score": {"estimate": 0.74, "ci_low": 0.6, "ci_high": 0.85},
                "baseline": {"estimate": 0.61, "ci_low": 0.5, "ci_high": 0.7},
            },
            "auc": {"score": {"estimate": 0.78}, "baseline": {"estimate": 0.65}},
            "top_decile_lift": {"score": 3.2, "baseline": 2.0},
        },
        "bands": {
            "validation": [
                {
                    "band": "green",
                    "accounts": 4,
                    "rows": 20,
                    "mean_predicted": 0.04,
                    "observed": 0.05,
                },
                {"band": "red", "accounts": 2, "rows": 6, "mean_predicted": 0.4, "observed": 0.5},
            ]
        },
    }


def km_curves() -> pd.DataFrame:
    """The kpis stage's monthly KM table (by, group, months, survival, ci_low, ci_high)."""
    rows = []
    for by, group, curve in (
        ("overall", "all", [1.0, 0.83, 0.5]),
        ("segment", "smb", [1.0, 0.67, 0.33]),
        ("segment", JA_SEGMENT, [1.0, 1.0, 1.0]),
        ("customer_goal", "done_for_me", [1.0, 0.67, 0.0]),
        ("billing_period", "monthly", [1.0, 0.83, 0.5]),
    ):
        for months, surv in zip([0, 1, 2], curve, strict=True):
            rows.append((by, group, months, surv, max(surv - 0.1, 0), min(surv + 0.1, 1)))
    return pd.DataFrame(rows, columns=["by", "group", "months", "survival", "ci_low", "ci_high"])


def cohort_retention() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cohort_month": pd.to_datetime(["2025-01-01"] * 3),
            "months_since": [0, 1, 2],
            "cohort_size": [6, 6, 6],
            "retained_accounts": [6, 5, 3],
            "retention": [1.0, 5 / 6, 0.5],
        }
    )


def attributes(df: pd.DataFrame) -> dict:
    """panel_meta.json "attributes": sorted distinct labels per attribute column."""
    cols = ("segment", "customer_goal", "plan", "billing_period")
    return {c: sorted(df[c].dropna().astype(str).unique()) for c in cols}


def write_project(
    root: Path,
    language: str = "en",
    segments=("smb", JA_SEGMENT),
    goals=("done_for_me",),
    with_kpi_tables: bool = True,
) -> Path:
    """Write every report input under `root` plus params.yaml, dvc.yaml and the notebooks.

    segments / goals: `reports.segments` / `reports.customer_goals` (None = every label in
    the data; a sequence restricts and orders)."""
    root.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load(Path("params.yaml").read_text(encoding="utf-8"))
    params["reports"].update(
        language=language,
        segments=None if segments is None else list(segments),
        customer_goals=None if goals is None else list(goals),
        workers=2,
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    # the project root marker (with params.yaml) that notebooks look for from notebooks/
    shutil.copy("dvc.yaml", root / "dvc.yaml")
    shutil.copytree(
        "notebooks",
        root / "notebooks",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints"),
    )
    proc, models, interim = root / "data/processed", root / "models", root / "data/interim"
    write_parquet(panel(), proc / "panel.parquet")
    write_json(
        proc / "panel_meta.json",
        {
            "as_of": "2025-03-16",
            "snapshot": False,
            "attributes": attributes(panel()),
            "n_accounts": 6,
            "n_rows": len(panel()),
            "n_events": 3,
            "indicators": {
                "license_activation_rate": {
                    "label": "License activation rate",
                    "unit": "share of seats",
                    "testable": True,
                },
                "weeks_since_last_login": {
                    "label": "Weeks since last login",
                    "unit": "weeks",
                    "testable": True,
                },
                "nps_unanswered": {"label": "NPS unanswered", "unit": "0/1", "testable": True},
                "csm_changed_recently": {
                    "label": "CSM changed",
                    "unit": "0/1",
                    "testable": False,
                    "reason": "no csm_assignments",
                },
            },
        },
    )
    write_parquet(health_scores(), proc / "health_scores.parquet")
    write_json(models / "kpis.json", kpis())
    write_json(
        models / "hypotheses.json", {"hypotheses": HYPOTHESES, "combined_model": {}, "settings": {}}
    )
    write_json(models / "health_score.json", health_json())
    # hypothesis tables as the hypotheses stage writes them (CONTRACTS.md §4)
    km = pd.DataFrame(
        [
            ("H1", 13, lamp, w, n, s)
            for lamp, n, curve in (("off", 5, [1, 0.98, 0.97]), ("on", 2, [1, 0.9, 0.8]))
            for w, s in zip([0, 4, 8], curve, strict=True)
        ]
        + [("H1", 26, "off", 0, 4, 1.0), ("H1", 26, "on", 0, 1, 1.0)],
        columns=["id", "landmark_week", "lamp", "weeks_since_landmark", "at_risk", "survival"],
    )
    write_parquet(km, proc / "hypothesis_tables/landmark_km.parquet")
    thr = pd.DataFrame(
        {
            "id": "H1",
            "threshold": [0.2, 0.3, 0.4, 0.5],
            "precision": [0.5, 0.4, 0.3, 0.2],
            "recall": [0.2, 0.4, 0.55, 0.7],
            "lift": [3.0, 2.5, 2.1, 1.4],
            "chosen": [False, False, True, False],
        }
    )
    write_parquet(thr, proc / "hypothesis_tables/threshold_curves.parquet")
    if with_kpi_tables:
        write_parquet(km_curves(), proc / "kpi_tables/km_curves.parquet")
        write_parquet(cohort_retention(), proc / "kpi_tables/cohort_retention.parquet")
    else:
        (proc / "kpi_tables").mkdir(parents=True, exist_ok=True)
    write_json(interim / "tables.json", tables_json())
    write_json(root / "metrics/ingest.json", {"rows": tables_json()["rows"]})
    quarantine = pd.DataFrame(
        {
            "account_id": ["a1"],
            "name": ['<img src="x" onerror="alert(1)">'],
            "_source_file": ["accounts.csv"],
            "_source_row": ["7"],
            "_reason": ["duplicate"],
        }
    )
    write_parquet(quarantine, interim / "quarantine/accounts.parquet")
    reports = root / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    cols = ["rank", "week_start", "account_id", "account_name", "csm_id", "segment", "band", "health_score",
            "churn_probability", "mrr", "mrr_at_risk", "renewal_date", "hypothesis_id", "indicator",
            "indicator_value", "lamp_rule", "weeks_on", "action", "verdict"]  # fmt: skip
    pd.DataFrame(
        [
            (
                1,
                "2025-03-10",
                "a2",
                EVIL_NAME,
                "csm_1",
                "smb",
                "red",
                20.0,
                0.8,
                100.0,
                80.0,
                "2025-04-06",
                "H1",
                "license_activation_rate",
                0.3,
                "license_activation_rate < 0.4",
                3,
                "Run an activation workshop",
                "leads churn",
            ),
            (
                2,
                "2025-03-10",
                "a6",
                JA_NAME,
                "csm_2",
                PUBLIC,
                "amber",
                60.0,
                0.4,
                100.0,
                40.0,
                "2025-04-06",
                "H1",
                "license_activation_rate",
                0.35,
                "license_activation_rate < 0.4",
                1,
                "Run an activation workshop",
                "leads churn",
            ),
        ],
        columns=cols,
    ).to_csv(reports / "action_list.csv", index=False)
    pd.DataFrame(
        [
            (
                1,
                "2025-03-10",
                "a4",
                "Acme",
                "csm_1",
                JA_SEGMENT,
                "green",
                90.0,
                0.1,
                300.0,
                30.0,
                "2025-04-06",
                "H5",
                "goal_achieved",
                1.0,
                "goal_achieved > 0.5",
                2,
                "Propose the upgrade",
                "no evidence",
            )
        ],
        columns=cols,
    ).to_csv(reports / "opportunity_list.csv", index=False)
    return root
