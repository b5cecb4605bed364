"""The indicator catalog: every leading indicator churnlab can test, defined once.

Each entry names its canonical id (CONTRACTS §3), what it means, its unit, its group, the
interim tables it needs and its definition: one SQL expression (DuckDB dialect) over the
spine-aligned base measures of one or more blocks (see `blocks.py`). The panel stage turns
the expressions into one query, runs it on DuckDB or transpiles it to Spark SQL.

Every base measure for week w is computed from data strictly before w's Monday 00:00 UTC,
so every expression here is leakage-free by construction (tests/panel proves it).

Names in the meanings below (login, data_export, key_person, first_login, meeting, ...) are
meanings, not labels: params `vocabulary:` says which of the user's labels plays each
(`vocabulary.py`). Users add their own indicators without Python in the file named by
`panel.indicators_file` (`user.py`); those are listed beside these with source "user".

Adding an indicator:
1. If the measure it needs exists in a block, add an `Indicator(...)` below with an SQL
   expression over `<block>.<column>`; otherwise first add the column to that block's SQL.
2. Add its id to CONTRACTS §3 and a hand-computed test in tests/indicators/.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from churnlab.indicators.blocks import Block

# The panel's columns that are not indicators (CONTRACTS §3), in file order; `wk` is the
# engines' integer week index, turned into week_start when the panel is written. The one
# list of them: the panel writes them, user indicator ids may not take their names.
ID_COLUMNS = ("account_id", "week_start", "spell", "start", "stop", "event")
STATIC_COLUMNS = ("segment", "customer_goal", "region", "plan", "billing_period", "seats", "mrr")
PANEL_COLUMNS = (*ID_COLUMNS, *STATIC_COLUMNS, "tenure_weeks")
RESERVED_COLUMNS = frozenset({*PANEL_COLUMNS, "wk"})


@dataclass(frozen=True)
class Indicator:
    id: str
    label: str
    meaning: str
    unit: str
    group: str
    tables: tuple[str, ...]
    blocks: tuple[str, ...]
    sql: str  # DuckDB SQL expression over the block columns; must evaluate to a number
    source: str = "builtin"  # "builtin" (this catalog) or "user" (panel.indicators_file)
    # Blocks defined with the indicator (user indicators; dependencies first), beside BLOCKS.
    own_blocks: tuple[Block, ...] = ()


def ratio_sql(num: str, den: str) -> str:
    """num / den as a float, 0 when the denominator is 0 (no baseline = no change)."""
    return f"CASE WHEN {den} > 0 THEN CAST({num} AS DOUBLE) / ({den}) ELSE 0.0 END"


def change_sql(now: str, base: str) -> str:
    """Relative change now / base - 1, 0 when there is no baseline (base null or 0)."""
    return f"CASE WHEN {base} > 0 THEN CAST({now} AS DOUBLE) / ({base}) - 1.0 ELSE 0.0 END"


EV = ("events",)

CATALOG: tuple[Indicator, ...] = (
    # ---- onboarding -------------------------------------------------------------------
    Indicator(
        "first_login_done",
        "First login done",
        "1 once the first_login milestone was reached before the week, else 0",
        "flag",
        "onboarding",
        ("milestones",),
        ("ms",),
        "ms.first_login",
    ),
    Indicator(
        "days_to_onboarding",
        "Days to onboarding",
        "days from the first contract start to onboarding_complete; while not yet complete, "
        "the days elapsed so far (grows until onboarding happens)",
        "days",
        "onboarding",
        ("milestones",),
        ("ms",),
        "CAST(CASE WHEN ms.onboarding_dn IS NOT NULL "
        "THEN GREATEST(ms.onboarding_dn - spine.first_dn, 0) "
        "ELSE GREATEST(7 * spine.wk - spine.first_dn, 0) END AS DOUBLE)",
    ),
    Indicator(
        "onboarding_complete",
        "Onboarding complete",
        "1 once the onboarding_complete milestone was reached before the week, else 0",
        "flag",
        "onboarding",
        ("milestones",),
        ("ms",),
        "ms.onboarding_done",
    ),
    Indicator(
        "training_completed",
        "Training completed",
        "1 once the training_complete milestone was reached before the week, else 0",
        "flag",
        "onboarding",
        ("milestones",),
        ("ms",),
        "ms.training_done",
    ),
    Indicator(
        "license_activation_rate",
        "License activation rate",
        "users activated before the week / seats of the current contract (can exceed 1)",
        "fraction",
        "onboarding",
        ("users", "contracts"),
        ("usr", "ctr"),
        ratio_sql("usr.activated_users", "ctr.seats"),
    ),
    # ---- usage ------------------------------------------------------------------------
    Indicator(
        "weekly_active_users",
        "Weekly active users",
        "distinct users with any event in the previous week",
        "users",
        "usage",
        EV,
        ("ev",),
        "ev.wau",
    ),
    Indicator(
        "active_days",
        "Active days",
        "distinct UTC days with any event in the previous week (0-7)",
        "days",
        "usage",
        EV,
        ("ev",),
        "ev.active_days",
    ),
    Indicator(
        "dau_wau_ratio",
        "DAU/WAU",
        "mean daily active users over the previous week's 7 days / its weekly active users "
        "(0 with no active user)",
        "fraction",
        "usage",
        EV,
        ("ev",),
        ratio_sql("ev.user_days", "7.0 * ev.wau"),
    ),
    Indicator(
        "wau_mau_ratio",
        "WAU/MAU",
        "weekly active users of the previous week / distinct users active in the previous "
        "`mau_weeks` weeks (0 with no active user)",
        "fraction",
        "usage",
        EV,
        ("ev",),
        ratio_sql("ev.wau", "ev.mau"),
    ),
    Indicator(
        "feature_breadth",
        "Feature breadth",
        "distinct features (event types other than login and data_export) the account used "
        "in the previous week / features any account had used before the week",
        "fraction",
        "usage",
        EV,
        ("ev",),
        ratio_sql("ev.features_used", "ev.features_available"),
    ),
    Indicator(
        "report_feature_used",
        "Report feature used",
        "1 if anyone used report_view in the previous `window_weeks` weeks, else 0",
        "flag",
        "usage",
        EV,
        ("ev",),
        "CASE WHEN ev.report_views_window > 0 THEN 1.0 ELSE 0.0 END",
    ),
    Indicator(
        "key_person_active",
        "Key person active",
        "1 if a user with role key_person had any event in the previous week, else 0",
        "flag",
        "usage",
        ("events", "users"),
        ("kp",),
        "CASE WHEN kp.kp_events > 0 THEN 1.0 ELSE 0.0 END",
    ),
    Indicator(
        "key_person_activity_change",
        "Key-person activity change",
        "key persons' events in the previous week / their mean over the `trailing_weeks` "
        "weeks before it, minus 1 (0 with no history); -1 = key person went silent",
        "fraction",
        "usage",
        ("events", "users"),
        ("kp",),
        change_sql("kp.kp_events", "kp.kp_trailing_mean"),
    ),
    Indicator(
        "usage_wow_change",
        "Usage week-over-week change",
        "events in the previous week / events the week before, minus 1 (0 with no baseline)",
        "fraction",
        "usage",
        EV,
        ("ev",),
        change_sql("ev.events", "ev.events_before"),
    ),
    Indicator(
        "usage_vs_trailing",
        "Usage vs trailing mean",
        "events in the previous week / mean weekly events over the `trailing_weeks` weeks "
        "before it, minus 1 (0 with no history)",
        "fraction",
        "usage",
        EV,
        ("ev",),
        change_sql("ev.events", "ev.events_trailing_mean"),
    ),
    Indicator(
        "weeks_since_last_login",
        "Weeks since last login",
        "weeks from the last login event to the week start; with no login yet, weeks since "
        "the first contract start",
        "weeks",
        "usage",
        EV,
        ("ev",),
        "CAST(GREATEST(7 * spine.wk - COALESCE(ev.last_login_dn, spine.first_dn), 0) AS DOUBLE)"
        " / 7.0",
    ),
    Indicator(
        "data_exports",
        "Data exports",
        "data_export events in the previous week (a classic sign of leaving)",
        "events",
        "usage",
        EV,
        ("ev",),
        "ev.exports",
    ),
    # ---- relationship -----------------------------------------------------------------
    Indicator(
        "tickets_opened",
        "Tickets opened",
        "support tickets opened in the previous `window_weeks` weeks",
        "tickets",
        "relationship",
        ("tickets",),
        ("tk",),
        "tk.opened",
    ),
    Indicator(
        "first_response_hours",
        "First-response time",
        "mean hours to first response of tickets first answered in the previous "
        "`window_weeks` weeks (null when none was answered)",
        "hours",
        "relationship",
        ("tickets",),
        ("tk",),
        "CASE WHEN tk.responded > 0 THEN tk.response_hours / tk.responded END",
    ),
    Indicator(
        "feature_feedback_tickets",
        "Feature-feedback tickets",
        "feature_request tickets opened in the previous `window_weeks` weeks",
        "tickets",
        "relationship",
        ("tickets",),
        ("tk",),
        "tk.feature_requests",
    ),
    Indicator(
        "event_participation",
        "Event participation",
        "event_attendance touchpoints in the previous `window_weeks` weeks",
        "events",
        "relationship",
        ("touchpoints",),
        ("tp",),
        "tp.event_attendance",
    ),
    Indicator(
        "weeks_since_meeting",
        "Weeks since last meeting",
        "weeks since the last meeting, decision-maker meeting or QBR; with none yet, weeks "
        "since the first contract start",
        "weeks",
        "relationship",
        ("touchpoints",),
        ("tp",),
        "CAST(GREATEST(7 * spine.wk - COALESCE(tp.last_meeting_dn, spine.first_dn), 0) AS DOUBLE)"
        " / 7.0",
    ),
    Indicator(
        "weeks_since_dm_meeting",
        "Weeks since decision-maker meeting",
        "weeks since the last decision_maker_meeting; with none yet, weeks since the first "
        "contract start",
        "weeks",
        "relationship",
        ("touchpoints",),
        ("tp",),
        "CAST(GREATEST(7 * spine.wk - COALESCE(tp.last_dm_dn, spine.first_dn), 0) AS DOUBLE) / 7.0",
    ),
    Indicator(
        "nps_unanswered",
        "NPS survey unanswered",
        "1 if the latest survey sent more than `nps_answer_days` days before the week was "
        "not answered before the week, else 0 (0 with no such survey)",
        "flag",
        "relationship",
        ("surveys",),
        ("nps",),
        "COALESCE(nps.unanswered, 0.0)",
    ),
    Indicator(
        "nps_last_score",
        "Last NPS score",
        "score (0-10) of the latest survey answered before the week (null before the first)",
        "score",
        "relationship",
        ("surveys",),
        ("nps",),
        "nps.last_score",
    ),
    # ---- people & contract ------------------------------------------------------------
    Indicator(
        "csm_changed_recently",
        "CSM changed recently",
        "1 if the CSM in charge changed (a new assignment with a different csm_id) within "
        "the previous `csm_change_weeks` weeks, else 0",
        "flag",
        "people_contract",
        ("csm_assignments",),
        ("csm",),
        "CASE WHEN csm.changes > 0 THEN 1.0 ELSE 0.0 END",
    ),
    Indicator(
        "weeks_to_renewal",
        "Weeks to renewal",
        "weeks from the week start to the next term end of the current contract (monthly: "
        "next monthly anniversary of its start; annual: next 12-month anniversary)",
        "weeks",
        "people_contract",
        ("contracts",),
        ("ctr",),
        "CAST(ctr.renewal_dn - 7 * spine.wk AS DOUBLE) / 7.0",
    ),
    Indicator(
        "mrr_change",
        "MRR change",
        "current MRR / MRR `trailing_weeks` weeks earlier (or at the first week) minus 1; "
        "<0 downgrade, >0 expansion",
        "fraction",
        "people_contract",
        ("contracts",),
        ("ctr",),
        change_sql("ctr.mrr", "ctr.mrr_before"),
    ),
    Indicator(
        "seat_utilisation",
        "Seat utilisation",
        "weekly active users of the previous week / seats of the current contract",
        "fraction",
        "people_contract",
        ("events", "contracts"),
        ("ev", "ctr"),
        ratio_sql("ev.wau", "ctr.seats"),
    ),
    # ---- outcome ----------------------------------------------------------------------
    Indicator(
        "goal_achieved",
        "Customer goal achieved",
        "1 once the goal_achieved milestone was reached before the week, else 0",
        "flag",
        "outcome",
        ("milestones",),
        ("ms",),
        "ms.goal_done",
    ),
)

BY_ID: dict[str, Indicator] = {ind.id: ind for ind in CATALOG}


def testability(
    present_tables: set[str] | list[str], indicators: Iterable[Indicator] = CATALOG
) -> dict[str, str | None]:
    """For each indicator id, None if testable, else the reason (which tables are missing)."""
    present = set(present_tables)
    out: dict[str, str | None] = {}
    for ind in indicators:
        missing = sorted(set(ind.tables) - present)
        out[ind.id] = f"missing table(s): {', '.join(missing)}" if missing else None
    return out
