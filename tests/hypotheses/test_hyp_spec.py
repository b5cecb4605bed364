"""The hypotheses file: the shipped default is valid, and each mistake names id and field."""

import warnings

import pytest

from churnlab.errors import ConfigError, ConfigWarning
from churnlab.hypotheses.spec import KnownIndicators, load_hypotheses, parse_hypotheses
from churnlab.indicators.catalog import CATALOG

BUILTIN = {ind.id for ind in CATALOG}

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
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)  # no warning either
        hyps = load_hypotheses("hypotheses.yaml")
    indicators = {h.indicator for h in hyps}
    assert {
        "key_person_activity_change", "license_activation_rate", "days_to_onboarding",
        "nps_unanswered", "csm_changed_recently", "weeks_since_dm_meeting", "feature_breadth",
        "tickets_opened", "first_response_hours", "mrr_change", "data_exports",
        "event_participation",
    } <= indicators  # fmt: skip
    attributes = {h.attribute for h in hyps if h.attribute}
    assert indicators - {None} <= BUILTIN  # attribute hypotheses have no indicator
    assert attributes <= {"segment", "customer_goal", "plan", "billing_period", "region"}
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
        ({"values": ["x"]}, "values", "only used with 'attribute'"),
        ({"indicator": None}, "indicator", "missing (or give 'attribute' and 'values' instead)"),
        ({"direction": "down"}, "direction", "'down' is not one of low, high"),
        ({"stage": "churned"}, "stage", "is not one of trial"),
        ({"kind": "maybe"}, "kind", "is not one of risk, opportunity"),
        ({"threshold": "ten"}, "threshold", "not a number or 'suggest'"),
        ({"expected_lead_weeks": -2}, "expected_lead_weeks", "not a whole number"),
        ({"action": ""}, "action", "missing"),
        ({"threshold": float("nan")}, "threshold", ".nan is not a finite number"),
        ({"threshold": float("inf")}, "threshold", "inf is not a finite number"),
        ({"threshold": True}, "threshold", "'True' is not a number or 'suggest'"),
        ({"expected_lead_weeks": True}, "expected_lead_weeks", "not a whole number"),
        ({"statement": ["a", "b"]}, "statement", "['a', 'b'] is not text"),
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


META = {
    "indicators": {
        "active_days": {"source": "builtin", "testable": True},
        "tickets_opened": {"source": "builtin", "testable": False},
        "blocks_4w": {"source": "user", "testable": True},
        "comments_per_upload": {"source": "user", "testable": True},
    },
    "indicators_file": "my_indicators.yaml",
}


def test_valid_ids_come_from_the_panel_meta_grouped_by_source():
    known = KnownIndicators.from_meta(META)
    assert known.builtin == ("active_days", "tickets_opened")
    assert known.user == ("blocks_4w", "comments_per_upload")
    (h,) = parse_hypotheses([{**GOOD, "indicator": "blocks_4w"}], known_indicators=known)
    assert h.indicator == "blocks_4w"
    # a built-in id the panel meta does not list (e.g. a catalog change) is not valid here
    with pytest.raises(ConfigError, match="unknown indicator id 'feature_breadth'"):
        parse_hypotheses([{**GOOD, "indicator": "feature_breadth"}], known_indicators=known)


def test_unknown_indicator_is_one_line_listing_both_groups_and_both_files():
    known = KnownIndicators.from_meta(META)
    with pytest.raises(ConfigError) as err:
        parse_hypotheses([{**GOOD, "indicator": "block_user"}], "hypotheses.yaml", known)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(
        "hypotheses.yaml: hypothesis 'kp_drop', field 'indicator': unknown indicator id "
        "'block_user' (did you mean 'blocks_4w'?); valid ids - built-in: active_days, "
        "tickets_opened; "
        "user-defined: blocks_4w, comments_per_upload"
    )
    assert "src/churnlab/indicators/catalog.py" in msg and "my_indicators.yaml" in msg
    # nothing close: no guess
    assert known.suggestion("happiness_index") == ""
    # a v1 meta (no source, no file): everything built-in; the file comes from params
    v1 = KnownIndicators.from_meta({"indicators": {"a": {}}}, indicators_file="ind.yaml")
    assert (v1.builtin, v1.user, v1.indicators_file) == (("a",), (), "ind.yaml")
    assert "user-defined: (none)" in v1.listing()


def test_without_panel_meta_the_catalog_is_the_fallback():
    known = KnownIndicators.catalog(["custom"])
    assert set(known.builtin) == BUILTIN and known.user == ("custom",)


ATTR = {
    "id": "monthly_churns_more",
    "statement": "Month-to-month contracts churn more",
    "stage": "renewal",
    "attribute": "billing_period",
    "values": ["Monthly ", "monthly"],
    "action": "Offer an annual plan",
    "kind": "risk",
}


def test_attribute_hypothesis_parses_and_records_its_lamp():
    (h,) = parse_hypotheses([ATTR])
    assert h.is_attribute and h.attribute == "billing_period"
    assert h.values == ("Monthly",)  # trimmed; a case-only duplicate is one value
    assert h.indicator is None and h.direction is None and h.threshold is None
    assert h.expected_lead_weeks == 0  # optional for attributes
    rec = h.as_dict()
    assert rec["indicator"] == "attribute:billing_period" and rec["values"] == ["Monthly"]
    assert rec["threshold_setting"] is None
    (one,) = parse_hypotheses([{**ATTR, "values": "annual", "expected_lead_weeks": 4}])
    assert one.values == ("annual",) and one.expected_lead_weeks == 4


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"attribute": "colour"}, "attribute", "'colour' is not one of segment, customer_goal"),
        ({"values": []}, "values", "empty list"),
        ({"values": None}, "values", "missing"),
        ({"values": [["a"]]}, "values", "is not a label"),
        ({"direction": "high"}, "direction", "not used with 'attribute'"),
        ({"threshold": 1}, "threshold", "not used with 'attribute'"),
        ({"indicator": "active_days"}, "attribute", "either 'indicator'"),
    ],
)
def test_attribute_mistakes_name_hypothesis_and_field(change, field, reason):
    with pytest.raises(ConfigError) as err:
        parse_hypotheses([{**ATTR, **change}], source="h.yaml")
    msg = str(err.value)
    assert "h.yaml: hypothesis 'monthly_churns_more'" in msg and f"field '{field}'" in msg
    assert reason in msg


def test_billing_period_attribute_values_may_be_the_users_own_labels():
    from churnlab.hypotheses.stage import billing_values_in_meanings

    (h,) = parse_hypotheses(
        [
            {
                "id": "yearly_stays",
                "statement": "Yearly customers stay",
                "stage": "renewal",
                "attribute": "billing_period",
                "values": [" yearly", "Monthly", "Weekly"],
                "action": "Offer annual",
                "kind": "opportunity",
            }
        ]
    )
    vocab = {"monthly": ["Monthly", "month-to-month"], "annual": ["Yearly"]}
    # ingest wrote meanings, so the values become meanings; unknown labels stay as written
    assert billing_values_in_meanings(h, vocab).values == ("annual", "Monthly", "Weekly")
    assert billing_values_in_meanings(h, None).values == h.values


# --- issue 16: every problem at once, one line each -----------------------------------------


def test_an_indicator_given_as_a_list_is_one_line():
    with pytest.raises(ConfigError) as err:
        parse_hypotheses([{**GOOD, "indicator": ["nps_unanswered", "tickets_opened"]}], "h.yaml")
    assert str(err.value) == (
        "h.yaml: hypothesis 'kp_drop', field 'indicator': ['nps_unanswered', 'tickets_opened']: "
        "expected one indicator id (text); write one hypothesis per indicator"
    )


def test_a_misspelt_allowed_value_gets_a_did_you_mean():
    with pytest.raises(ConfigError) as err:
        parse_hypotheses([{**GOOD, "stage": "adoptoin"}], "h.yaml")
    assert str(err.value) == (
        "h.yaml: hypothesis 'kp_drop', field 'stage': 'adoptoin' is not one of trial, "
        "onboarding, adoption, renewal (did you mean 'adoption'?)"
    )


def test_unknown_field_is_a_warning_with_did_you_mean():
    entry = {**ATTR, "expected_lead_week": 4}
    with pytest.warns(ConfigWarning) as record:
        (h,) = parse_hypotheses([entry], "h.yaml")
    assert h.expected_lead_weeks == 0  # the misspelt field is not read
    (w,) = [str(r.message) for r in record]
    assert w.startswith(
        "h.yaml: hypothesis 'monthly_churns_more', field 'expected_lead_week': unknown field, "
        "ignored (did you mean 'expected_lead_weeks'?) (allowed: id, statement"
    )
    with pytest.warns(ConfigWarning, match="'colour': unknown field, ignored"):
        parse_hypotheses([{**GOOD, "colour": "red"}])


def test_a_misspelt_top_level_key_is_named():
    with (
        pytest.warns(
            ConfigWarning,
            match=r"'hypothesis': unknown top-level key, ignored \(did you mean 'hypotheses'\?\)",
        ),
        pytest.raises(ConfigError, match="non-empty"),
    ):
        parse_hypotheses({"hypothesis": [GOOD]}, "h.yaml")


def test_every_problem_of_every_entry_is_reported_at_once():
    entries = [
        {**GOOD, "direction": "down", "kind": "maybe"},
        {**GOOD, "id": "second", "indicator": "happiness_index"},
        "not a mapping",
        {**ATTR, "values": []},
    ]
    with pytest.raises(ConfigError) as err:
        parse_hypotheses(entries, "h.yaml")
    lines = str(err.value).splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "hypothesis 'kp_drop', field 'direction'",
        "hypothesis 'kp_drop', field 'kind'",
        "hypothesis 'second', field 'indicator'",
        "hypothesis #3 is not a mapping of field",
        "hypothesis 'monthly_churns_more', field 'values'",
    ]


def test_a_file_not_in_utf8_names_the_byte_and_says_save_as_utf8(tmp_path):
    path = tmp_path / "h.yaml"
    text = "hypotheses:\n  - id: 解約\n"
    path.write_bytes(text.encode("cp932"))
    with pytest.raises(ConfigError) as err:
        load_hypotheses(path)
    offset = len(b"hypotheses:\n  - id: ")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: not UTF-8 text: byte {offset} (line 2) is ")
    assert "save the file as UTF-8" in msg


def test_yaml_error_names_line_and_column(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text("hypotheses:\n  - id: a\n    stage: [x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_hypotheses(path)
    assert str(err.value).startswith(f"{path}: line 4, column 1: not valid YAML")


def test_attribute_values_keep_first_spelling_and_order():
    (h,) = parse_hypotheses([{**ATTR, "values": ["Annual", "monthly", "annual "]}])
    assert h.values == ("Annual", "monthly")
