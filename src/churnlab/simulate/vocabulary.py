"""`simulate.vocabulary: foreign`: the same company written in another company's words.

The simulation itself is untouched (same seed => same accounts, contracts, events, churn); only
the labels in the written tables change, through a 1:1 rename per column, so mapping them back
gives the default company exactly. One exception, on purpose: a share of accounts (drawn from
their own seed stream, so nothing else moves) have the goal `unknown`, as free-text goal fields
in real CRMs do; those cannot be mapped back and carry no meaning churnlab needs.

`vocabulary_params()` is the `vocabulary:` params block (meaning -> [labels], the data
contract v2 format) that tells churnlab which foreign label plays each part it must understand;
the stage writes it to `data/raw/vocabulary.yaml` so a user (or a test) can paste it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnlab.simulate.observe import EVENT_TYPES, TICKET_CATEGORIES, TOUCH_KINDS
from churnlab.simulate.spec import GOALS, SEGMENTS
from churnlab.simulate.world import PLANS, ROLES

# Share of accounts whose goal the foreign CRM holds as "unknown".
UNKNOWN_GOAL_SHARE = 0.1
UNKNOWN_GOAL = "unknown"
MILESTONES = ("first_login", "onboarding_complete", "training_complete", "goal_achieved")

# canonical label -> foreign label, per column of the raw contract (every value the simulator
# writes has an entry, so the rename is 1:1 and complete).
FOREIGN: dict[str, dict[str, str]] = {
    "segment": {"smb": "Startup", "mid_market": "Scale-up", "enterprise": "Public sector"},
    "customer_goal": {"done_for_me": "Automate reporting", "learn_myself": "Build in-house skills"},
    "plan": {"starter": "Basic", "professional": "Team", "enterprise": "Organisation"},
    "billing_period": {"monthly": "Monthly", "annual": "Yearly"},
    "role": {
        "admin": "Owner",
        "key_person": "Champion",
        "decision_maker": "Budget holder",
        "member": "Member",
    },
    # A product's own event names. The canonical `dashboard_view` feature is renamed too, so
    # that `report_view` can become `dashboard_view` and the rename stays 1:1.
    "event_type": {
        "login": "app_open",
        "dashboard_view": "board_open",
        "report_view": "dashboard_view",
        "search": "quick_find",
        "record_edit": "item_update",
        "workflow_run": "automation_trigger",
        "comment": "comment_added",
        "integration_sync": "connector_refresh",
        "alert_create": "watch_set",
        "template_use": "blueprint_apply",
        "api_call": "api_request",
        "data_export": "csv_download",
    },
    "kind": {
        "meeting": "Kickoff call",
        "decision_maker_meeting": "Exec sync",
        "qbr": "QBR",
        "event_attendance": "Webinar",
        "training": "Product training",
    },
    "milestone": {
        "first_login": "Activated",
        "onboarding_complete": "Go-live",
        "training_complete": "Certified",
        "goal_achieved": "Outcome reached",
    },
    "category": {
        "bug": "Bug",
        "question": "How-to",
        "feature_request": "Idea",
        "billing": "Invoice",
    },
}
# Which table carries each renamed column.
COLUMNS_BY_TABLE: dict[str, tuple[str, ...]] = {
    "accounts": ("segment", "customer_goal"),
    "contracts": ("billing_period", "plan"),
    "users": ("role",),
    "events": ("event_type",),
    "touchpoints": ("kind",),
    "milestones": ("milestone",),
    "tickets": ("category",),
}
# The meanings churnlab must understand (data contract v2 `vocabulary:`), by params key.
MEANINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "billing_period": ("billing_period", ("monthly", "annual")),
    "role": ("role", ("admin", "key_person", "decision_maker")),
    "touchpoint_kind": (
        "kind",
        ("meeting", "decision_maker_meeting", "qbr", "event_attendance", "training"),
    ),
    "milestone": ("milestone", MILESTONES),
    "ticket_category": ("category", ("feature_request",)),
    "event_type": ("event_type", ("login", "report_view", "data_export")),
}

# Every canonical value the simulator can write, per column (checks FOREIGN is complete).
CANONICAL: dict[str, tuple[str, ...]] = {
    "segment": SEGMENTS,
    "customer_goal": GOALS,
    "plan": PLANS,
    "billing_period": ("monthly", "annual"),
    "role": ROLES,
    "event_type": EVENT_TYPES,
    "kind": TOUCH_KINDS,
    "milestone": MILESTONES,
    "category": TICKET_CATEGORIES,
}


def labels(vocabulary: str) -> dict[str, dict[str, str]]:
    """canonical -> written label per column (identity maps for the default vocabulary)."""
    if vocabulary == "foreign":
        return {col: dict(FOREIGN[col]) for col in CANONICAL}
    return {col: {v: v for v in values} for col, values in CANONICAL.items()}


def vocabulary_params(vocabulary: str) -> dict[str, Any]:
    """The `vocabulary:` params block (meaning -> [labels]) for the written labels."""
    names = labels(vocabulary)
    return {
        "vocabulary": {
            key: {meaning: [names[col][meaning]] for meaning in meanings}
            for key, (col, meanings) in MEANINGS.items()
        }
    }


def relabel_table(table: str, df: pd.DataFrame, unknown_goal: np.ndarray | None) -> pd.DataFrame:
    """`df` (a block's table with canonical labels) with foreign labels.

    unknown_goal: accounts table only, bool per row: goal written as `unknown`.
    Raises KeyError for a canonical value FOREIGN lacks (a simulator bug, not a user error).
    """
    out = df.copy()
    for col in COLUMNS_BY_TABLE.get(table, ()):
        values = out[col].to_numpy(dtype=object)
        out[col] = np.array([FOREIGN[col][v] for v in values], dtype=object)
    if table == "accounts" and unknown_goal is not None:
        out["customer_goal"] = np.where(unknown_goal, UNKNOWN_GOAL, out["customer_goal"])
    return out


def relabel_events(events: pa.Table) -> pa.Table:
    """The events Arrow table with foreign event type names (same rows, same order)."""
    mapping = FOREIGN["event_type"]
    keys = pa.array(list(mapping))
    pos = pc.index_in(events["event_type"], value_set=keys)
    if pos.null_count:
        raise KeyError("event type without a foreign name")
    renamed = pa.array(list(mapping.values())).take(pos)
    return events.set_column(events.schema.get_field_index("event_type"), "event_type", renamed)
