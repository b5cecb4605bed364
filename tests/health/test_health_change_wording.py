"""A user-defined `change_of` indicator reads as a percent change with its direction, like
the built-in key-person change (by kind, unit or meaning, never by id)."""

from churnlab.health.worklist import (
    describe_rule,
    describe_value,
    indicator_wording,
    is_relative_change,
)

CHAMPION_META = {
    "group": "user",
    "label": "Champion's events vs their recent average",
    "meaning": "champion_events_4w / its mean over the 4 weeks before, minus 1 (0 with no "
    "baseline)",
    "source": "user",
    "unit": "fraction",
}


def _why(words, value, direction, threshold):
    return (
        describe_value(words["label"], words["unit"], value, words["versus"])
        + " | "
        + describe_rule(words["unit"], direction, threshold, words["versus"])
    )


def test_user_change_of_keeps_its_sign_and_direction():
    words = indicator_wording("champion_events_change", 4, CHAMPION_META)
    assert words["unit"] == "percent change"
    why = _why(words, -0.32, "low", -0.25)
    assert why == (
        "Champion's events 32% below their recent average | lights when more than 25% below "
        "their recent average"
    )


def test_user_change_of_without_vs_in_its_label_names_the_trailing_average():
    meta = dict(CHAMPION_META, label="Uploads change", meaning="uploads_4w / its mean over "
                "the 6 weeks before, minus 1 (0 with no baseline)")  # fmt: skip
    words = indicator_wording("uploads_change", 4, meta)
    assert _why(words, 0.5, "high", 0.2) == (
        "Uploads 50% above its 6-week average | lights when more than 20% above its 6-week average"
    )


def test_kind_and_unit_make_a_relative_change_and_a_plain_fraction_stays_a_share():
    assert is_relative_change("fraction", "", kind="change_of")
    assert is_relative_change("relative change")
    assert is_relative_change("fraction", "x / y, minus 1")
    share = indicator_wording("seat_share", 4, {"label": "Seat share", "unit": "fraction",
                                                "meaning": "active seats / seats"})  # fmt: skip
    assert share["unit"] == "fraction" and share["versus"] is None
    assert describe_value(share["label"], share["unit"], 0.4) == "Seat share 40%"


def test_built_in_key_person_wording_is_unchanged():
    words = indicator_wording("key_person_activity_change", 4, None)
    assert describe_value(words["label"], words["unit"], -0.67, words["versus"]) == (
        "Key-person activity 67% below their 4-week average"
    )
