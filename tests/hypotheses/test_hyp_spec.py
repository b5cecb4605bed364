"""The hypotheses file: the shipped default is valid, and each mistake names id and field."""

import pytest

from churnlab.errors import ConfigError
from churnlab.hypotheses.spec import CATALOG, load_hypotheses, parse_hypotheses

GOOD = {
    "id": "kp_drop",
    "statement": "Key person goes quiet",
    "stage": "adoption",
    "indicator": "key_person_activity_change",
    "direction": "low",
    "threshold": "suggest",
    "expected_lead_weeks": 8,
    "action": "Call them",
    "kind": "risk",
}


def test_default_file_is_valid_and_covers_the_classic_hypotheses():
    hyps = load_hypotheses("hypotheses.yaml")
    indicators = {h.indicator for h in hyps}
    assert {
        "key_person_activity_change", "license_activation_rate", "days_to_onboarding",
        "nps_unanswered", "csm_changed_recently", "weeks_since_dm_meeting", "feature_breadth",
        "tickets_opened", "first_response_hours", "mrr_change", "data_exports",
        "event_participation",
    } <= indicators  # fmt: skip
    assert indicators <= CATALOG
    assert any(h.kind == "opportunity" for h in hyps)
    assert len({h.id for h in hyps}) == len(hyps)


def test_parse_good_entry_and_suggest_means_none():
    (h,) = parse_hypotheses([GOOD])
    assert h.threshold is None and h.expected_sign == 1
    (o,) = parse_hypotheses([{**GOOD, "threshold": 3, "kind": "opportunity"}])
    assert o.threshold == 3.0 and o.expected_sign == -1


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"indicator": "happiness_index"}, "indicator", "unknown indicator id 'happiness_index'"),
        ({"direction": "down"}, "direction", "'down' is not one of low, high"),
        ({"stage": "churned"}, "stage", "is not one of trial"),
        ({"kind": "maybe"}, "kind", "is not one of risk, opportunity"),
        ({"threshold": "ten"}, "threshold", "not a number or 'suggest'"),
        ({"expected_lead_weeks": -2}, "expected_lead_weeks", "not a whole number"),
        ({"action": ""}, "action", "missing"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_each_mistake_names_hypothesis_and_field(change, field, reason):
    with pytest.raises(ConfigError) as err:
        parse_hypotheses([{**GOOD, **change}], source="my.yaml")
    msg = str(err.value)
    assert "my.yaml" in msg and "'kp_drop'" in msg and f"field '{field}'" in msg and reason in msg


def test_duplicate_ids_and_missing_id_are_rejected():
    with pytest.raises(ConfigError, match="'kp_drop', field 'id': duplicate id"):
        parse_hypotheses([GOOD, GOOD])
    with pytest.raises(ConfigError, match="hypothesis '#2', field 'id': missing"):
        parse_hypotheses([GOOD, {k: v for k, v in GOOD.items() if k != "id"}])


def test_indicator_known_from_the_panel_meta_is_accepted():
    (h,) = parse_hypotheses(
        [{**GOOD, "indicator": "custom_score"}], known_indicators=["custom_score"]
    )
    assert h.indicator == "custom_score"


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_hypotheses(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("hypotheses: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_hypotheses(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("hypotheses: []\n")
    with pytest.raises(ConfigError, match="non-empty list"):
        load_hypotheses(empty)
