"""The action / opportunity lists speak the company's own labels (params `vocabulary`,
DESIGN §9): billing_period as the user's label, and why / rule_in_words with the user's
role, event, ... labels. Tiny hand-made lamps; expected strings written by hand."""

import pandas as pd

from churnlab.health.actions import OPPORTUNITY_COLUMNS, lamp_rows, to_csv_text
from churnlab.health.stage import weekly_lists
from churnlab.health.worklist import indicator_wording, weekly_worklist
from churnlab.reports.loaders import display_labels

# a company whose exports say "Month-to-month" / "yearly", "Champion", "Sign in", ...
FOREIGN = {
    "billing_period": {"monthly": ["Month-to-month"], "annual": ["yearly"]},
    "role": {"key_person": ["Champion"], "decision_maker": ["Economic buyer"]},
    "event_type": {"login": ["Sign in"]},
    "touchpoint_kind": {"decision_maker_meeting": ["Exec sync"]},
}
# the simulator's own vocabulary: every label equals its meaning
DEFAULT = {
    "billing_period": {"monthly": ["monthly"], "annual": ["annual"]},
    "role": {"key_person": ["key_person"], "decision_maker": ["decision_maker"]},
    "event_type": {"login": ["login"]},
}
KP, LOGIN, DM = "key_person_activity_change", "weeks_since_last_login", "weeks_since_dm_meeting"
WORDING = {i: indicator_wording(i, trailing_weeks=4) for i in (KP, LOGIN, DM)}


def _lit():
    rows = [
        # account, hypothesis, indicator, value, direction, threshold, weeks lit, hazard ratio
        ("a1", "kp_drop", KP, -0.533333, "low", -0.4, 1, 3.0),
        ("a1", "no_login", LOGIN, 3.0, "high", 2.5, 5, 2.0),
        ("a2", "no_dm", DM, 9.0, "high", 8.5, 1, 1.5),
    ]
    return pd.DataFrame(
        [
            {
                "account_id": a,
                "hypothesis_id": h,
                "indicator": i,
                "indicator_value": v,
                "direction": d,
                "threshold": t,
                "run_start": pd.Timestamp("2025-06-30") - pd.Timedelta(weeks=w - 1),
                "weeks_lit": w,
                "left_censored": False,
                "action": f"do {h}",
                "hazard_ratio": hr,
            }  # fmt: skip
            for a, h, i, v, d, t, w, hr in rows
        ]
    )


def _context():
    return pd.DataFrame(
        {
            "account_id": ["a1", "a2"],
            "week_start": pd.to_datetime(["2025-06-30"] * 2),
            "segment": ["smb", "enterprise"],
            "billing_period": ["monthly", "annual"],
            "maturity": ["adopting", "mature"],
            "band": ["red", "amber"],
            "health_score": [40.0, 70.0],
            "churn_probability": [0.5, 0.2],
            "mrr": [100.0, 1000.0],
            "account_name": ["A1", "A2"],
            "renewal_date": pd.to_datetime(["2025-07-15", "2026-01-01"]),
            "csm_id": ["c1", "c1"],
            "mrr_at_risk": [50.0, 200.0],
        }
    )


def _lamps():
    return pd.DataFrame({"id": ["kp_drop", "no_login", "no_dm"], "verdict": ["leads churn"] * 3})


def test_display_labels_of_the_foreign_vocabulary():
    # what the lists are given (the reports helper's mapping, read here to pin the inputs)
    assert display_labels(FOREIGN) == {
        "billing_period": {"monthly": "Month-to-month", "annual": "yearly"},
        "role": {"key_person": "Champion", "decision_maker": "Economic buyer"},
        "event_type": {"login": "Sign in"},
        "touchpoint_kind": {"decision_maker_meeting": "Exec sync"},
    }
    assert display_labels(DEFAULT) == {}


def test_action_rows_in_the_users_labels():
    rows = lamp_rows(
        _lit(), _context(), _lamps(), WORDING, "mrr_at_risk", labels=display_labels(FOREIGN)
    ).set_index("hypothesis_id")
    assert rows["billing_period"].to_dict() == {
        "no_dm": "yearly",  # a2 first: more MRR at risk
        "kp_drop": "Month-to-month",
        "no_login": "Month-to-month",
    }
    assert rows.loc["kp_drop", "why"] == "Champion activity 53% below their 4-week average"
    assert rows.loc["no_login", "why"] == "Weeks since last Sign in: 3 weeks"
    # the longer phrase (the meeting kind) wins over the role inside it
    assert rows.loc["no_dm", "why"] == "Weeks since Exec sync: 9 weeks"
    assert rows.loc["kp_drop", "rule_in_words"] == (
        "lights when more than 40% below their 4-week average"
    )
    assert rows.loc["no_dm", "rule_in_words"] == "lights above 8.5 weeks"
    # the machine-readable columns keep churnlab's ids
    assert rows.loc["kp_drop", "indicator"] == KP
    assert rows.loc["kp_drop", "lamp_rule"] == f"{KP} < -0.4"


def test_default_vocabulary_and_no_labels_give_churnlabs_words():
    plain = lamp_rows(_lit(), _context(), _lamps(), WORDING, "mrr_at_risk")
    default = lamp_rows(
        _lit(), _context(), _lamps(), WORDING, "mrr_at_risk", labels=display_labels(DEFAULT)
    )
    assert to_csv_text(default) == to_csv_text(plain)
    got = plain.set_index("hypothesis_id")
    assert got.loc["kp_drop", "billing_period"] == "monthly"
    assert got.loc["kp_drop", "why"] == "Key-person activity 53% below their 4-week average"
    assert got.loc["no_dm", "why"] == "Weeks since decision-maker meeting: 9 weeks"


def test_a_meaning_with_several_labels_keeps_the_meaning():
    vocab = {"billing_period": {"monthly": ["Monthly", "Month-to-month"], "annual": ["yearly"]}}
    rows = lamp_rows(
        _lit(), _context(), _lamps(), WORDING, "mrr", labels=display_labels(vocab)
    ).set_index("hypothesis_id")
    assert rows.loc["kp_drop", "billing_period"] == "monthly"
    assert rows.loc["no_dm", "billing_period"] == "yearly"


def test_worklist_items_in_the_users_labels():
    wl = weekly_worklist(
        _lit(), _context(), capacity=5, wording=WORDING, labels=display_labels(FOREIGN)
    )
    items = wl.items.set_index("account_id")
    # a1's only new lamp (weeks_lit 1 <= 2) is kp_drop; a2's is no_dm
    assert items.loc["a1", "why"] == "Champion activity 53% below their 4-week average"
    assert items.loc["a2", "why"] == "Weeks since Exec sync: 9 weeks"


def test_both_csvs_of_the_stage_lists_in_the_users_labels():
    risk = pd.DataFrame(
        {
            "id": ["kp_drop", "no_login"], "indicator": [KP, LOGIN],
            "direction": ["low", "high"], "threshold": [-0.4, 2.5],
            "action": ["call the champion", "re-onboard"], "hazard_ratio": [3.0, 2.0],
            "verdict": ["leads churn"] * 2,
        }
    )  # fmt: skip
    opp = pd.DataFrame(
        {
            "id": ["no_dm"], "indicator": [DM], "direction": ["high"], "threshold": [8.5],
            "action": ["book an exec sync"], "hazard_ratio": [1.5], "verdict": ["leads churn"],
        }
    )  # fmt: skip
    # a panel of one week: a1 beyond both risk thresholds, a2 beyond the opportunity's
    panel = pd.DataFrame(
        {
            "account_id": ["a1", "a2"],
            "week_start": pd.to_datetime(["2025-06-30"] * 2),
            "event": [0, 0],
            KP: [-0.533333, 0.0],
            LOGIN: [3.0, 0.0],
            DM: [0.0, 9.0],
        }
    )
    actions, opportunities, _ = weekly_lists(
        panel, risk, opp, _context(), WORDING, 5, 2, 12, display_labels(FOREIGN)
    )
    assert list(opportunities.columns) == OPPORTUNITY_COLUMNS
    text = to_csv_text(actions)
    assert ",Month-to-month," in text and ",monthly," not in text
    assert "Champion activity 53% below their 4-week average" in text
    assert "Weeks since last Sign in: 3 weeks" in text
    opp_text = to_csv_text(opportunities)
    assert ",yearly," in opp_text and ",annual," not in opp_text
    assert "Weeks since Exec sync: 9 weeks" in opp_text
