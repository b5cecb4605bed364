"""The built-in indicators read labels through params `vocabulary`: a company that writes
its roles, event types, touchpoint kinds, milestones and ticket categories in its own words
gets the same indicator values as the default-words company once the words are mapped."""

import pandas as pd
import pytest
from panel_world import build, three_accounts

from churnlab.errors import ConfigError
from churnlab.indicators.vocabulary import sql_in, vocabulary_from_params

AS_OF = "2025-03-31"

# default label -> the foreign company's label(s); lists alternate over the rows.
RENAME = {
    "users": ("role", {"key_person": ["Champion"], "admin": ["Owner"], "member": ["Member"]}),
    "events": (
        "event_type",
        {
            "login": ["app_open", "Sign in"],
            "report_view": ["Report Viewed"],
            "data_export": ["csv export"],
            "dashboard": ["Dashboard"],
            "automation": ["自動化"],
        },
    ),
    "touchpoints": (
        "kind",
        {
            "meeting": ["Call"],
            "decision_maker_meeting": ["Exec's sync"],
            "event_attendance": ["Webinar"],
        },
    ),
    "milestones": (
        "milestone",
        {
            "first_login": ["First sign-in"],
            "onboarding_complete": ["Kickoff done"],
            "training_complete": ["Academy"],
        },
    ),
    "tickets": ("category", {"feature_request": ["Idea"], "bug": ["Bug"]}),
}
VOCABULARY = {
    "billing_period": {"monthly": ["monthly"], "annual": ["annual"]},  # ingest's, ignored here
    "role": {"key_person": ["champion "], "admin": "Owner"},
    "event_type": {
        "login": ["APP_OPEN", "sign in"],
        "report_view": ["report viewed"],
        "data_export": ["CSV Export"],
    },
    "touchpoint_kind": {
        "meeting": ["Call"],
        "decision_maker_meeting": ["exec's sync"],
        "event_attendance": ["Webinar"],
        "qbr": [],
    },
    "milestone": {
        "first_login": ["First sign-in"],
        "onboarding_complete": ["Kickoff done"],
        "training_complete": ["academy"],
        "goal_achieved": ["Win"],
    },
    "ticket_category": {"feature_request": ["Idea"]},
}


def foreign_tables():
    t = three_accounts()
    for table, (column, mapping) in RENAME.items():
        df = t[table].copy()
        values = df[column].astype(object).tolist()
        seen: dict[str, int] = {}
        for i, v in enumerate(values):
            if v in mapping:
                k = seen.get(v, 0)
                values[i] = mapping[v][k % len(mapping[v])]
                seen[v] = k + 1
        df[column] = pd.Series(values, index=df.index, dtype="string")
        t[table] = df
    return t


def test_foreign_words_give_the_same_indicators_as_default_words():
    foreign = foreign_tables()
    assert "Sign in" in set(foreign["events"]["event_type"])  # both login labels are used
    default = build(three_accounts(), as_of=AS_OF)
    mapped = build(foreign, as_of=AS_OF, vocabulary=vocabulary_from_params(VOCABULARY))
    assert len(default) > 100
    pd.testing.assert_frame_equal(mapped, default)


def test_unmapped_foreign_words_change_the_indicators():
    """Guard against a vacuous equality: without the map the words mean nothing."""
    default = build(three_accounts(), as_of=AS_OF)
    unmapped = build(foreign_tables(), as_of=AS_OF)
    for col in (
        "weeks_since_last_login",
        "key_person_active",
        "data_exports",
        "report_feature_used",
        "weeks_since_meeting",
        "event_participation",
        "onboarding_complete",
        "feature_feedback_tickets",
    ):
        assert not default[col].equals(unmapped[col]), col


def test_defaults_are_churnlab_names():
    v = vocabulary_from_params(None)
    assert v.of("event_type", "login", "data_export") == ("login", "data_export")
    assert v.of("touchpoint_kind", "meeting", "qbr") == ("meeting", "qbr")
    assert vocabulary_from_params({"role": {"admin": ["Owner"]}}).of("role", "key_person") == (
        "key_person",
    )


def test_sql_literals_are_lower_cased_trimmed_and_quote_escaped():
    assert sql_in("kind", [" Exec's Sync", "CALL", "call"]) == (
        "LOWER(TRIM(kind)) IN ('call', 'exec''s sync')"
    )
    assert sql_in("kind", []) == "(1 = 0)"


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ({"event_types": {}}, r"vocabulary\.event_types is not a known kind"),
        ({"event_type": {"logon": ["x"]}}, r"vocabulary\.event_type\.logon is not a meaning"),
        ({"event_type": {"login": [""]}}, r"vocabulary\.event_type\.login must be a list"),
        ({"event_type": {"login": [1]}}, r"vocabulary\.event_type\.login must be a list"),
        ({"role": ["admin"]}, r"vocabulary\.role must map meanings"),
        (["x"], r"vocabulary must be a mapping"),
    ],
)
def test_bad_vocabulary_is_a_config_error_naming_the_key(section, match):
    with pytest.raises(ConfigError, match=match):
        vocabulary_from_params(section)
