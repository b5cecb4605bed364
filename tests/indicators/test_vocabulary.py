"""The built-in indicators read labels through params `vocabulary`: a company that writes
its roles, event types, touchpoint kinds, milestones and ticket categories in its own words
gets the same indicator values as the default-words company once the words are mapped."""

import pandas as pd
import pytest
from panel_world import FOREIGN_VOCABULARY, build, foreign_tables, three_accounts

from churnlab.errors import ConfigError
from churnlab.indicators.vocabulary import sql_in, vocabulary_from_params

AS_OF = "2025-03-31"


def test_foreign_words_give_the_same_indicators_as_default_words():
    foreign = foreign_tables()
    assert "Sign in" in set(foreign["events"]["event_type"])  # both login labels are used
    default = build(three_accounts(), as_of=AS_OF)
    mapped = build(foreign, as_of=AS_OF, vocabulary=vocabulary_from_params(FOREIGN_VOCABULARY))
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
