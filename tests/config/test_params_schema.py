"""params.yaml validated once: every problem one line (key path, value, what was expected);
unknown keys are warnings with a did-you-mean. Each example of issue 16 is a test here."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import yaml

from churnlab.config import load_params
from churnlab.errors import ConfigError, ConfigWarning
from churnlab.schema import params as schema
from churnlab.schema import validate_params

REPO = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))


def problems(**changes):
    """Problems of the project's params with `section=<dict of key: value>` changes applied
    (a value of ... deletes the key; a non-dict section value replaces the section)."""
    raw = copy.deepcopy(PARAMS)
    for section, values in changes.items():
        if not isinstance(values, dict) or not isinstance(raw.get(section), dict):
            raw[section] = values
            continue
        for key, value in values.items():
            if value is ...:
                raw[section].pop(key, None)
            else:
                raw[section][key] = value
    return validate_params(raw)


def only_error(**changes) -> str:
    found = problems(**changes)
    assert len(found.errors) == 1, found.errors
    return found.errors[0]


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "params.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- the shipped file -----------------------------------------------------------------


def test_project_params_have_no_problems_and_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)
        params = load_params(REPO / "params.yaml")
    # returned exactly as written: the stages apply their own defaults
    assert params == PARAMS


def test_the_sections_a_stage_defaults_may_be_left_out():
    minimal = {"base": PARAMS["base"], "hypotheses": PARAMS["hypotheses"]}
    assert validate_params(minimal).errors == []


# --- the issue's examples ---------------------------------------------------------------


def test_yaml_syntax_error_is_one_line_with_line_and_column(tmp_path):
    path = write(tmp_path, "base:\n  seed: 42\n ingest: [\n")
    with pytest.raises(ConfigError) as err:
        load_params(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: line 3, column 2: not valid YAML: ")


def test_tab_indentation_says_use_spaces(tmp_path):
    path = write(tmp_path, "base:\n\tseed: 42\n")
    with pytest.raises(ConfigError, match="line 2, column 1: .*spaces, not tabs"):
        load_params(path)


def test_section_that_is_not_a_mapping():
    msg = only_error(ingest="utf-8")
    assert msg.startswith("params.yaml: ingest = 'utf-8': expected a mapping of key: value")


def test_a_path_that_is_a_number():
    msg = only_error(base={"raw_dir": 5})
    assert msg == "params.yaml: base.raw_dir = 5: expected a folder path (text), e.g. data/raw"


def test_required_tables_given_as_one_string():
    assert only_error(ingest={"required_tables": "accounts"}) == (
        "params.yaml: ingest.required_tables = 'accounts': expected a list of table names, "
        "e.g. [accounts, contracts]"
    )


def test_unknown_table_name_gets_a_did_you_mean():
    msg = only_error(ingest={"required_tables": ["accounts", "contract"]})
    assert msg.startswith("params.yaml: ingest.required_tables[1] = 'contract': expected one of")
    assert msg.endswith("(did you mean 'contracts'?)")


def test_a_boolean_is_not_a_whole_number():
    assert only_error(ingest={"grace_days": True}) == (
        "params.yaml: ingest.grace_days = true: expected a whole number >= 0 "
        "(true/false is not a number)"
    )


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("ingest", "reactivation_gap_days", 3, "a whole number >= 7"),
        ("ingest", "grace_days", "30", "a whole number >= 0"),
        ("hypotheses", "fdr_alpha", 1.5, "a number in (0, 1)"),
        ("hypotheses", "fdr_alpha", float("nan"), "a number in (0, 1)"),
        ("hypotheses", "max_share_lit", float("inf"), "a number in (0, 1]"),
        ("simulate", "annual_share", -0.1, "a number in [0, 1]"),
        ("panel", "engine", "duckbd", "one of duckdb, spark (did you mean 'duckdb'?)"),
        ("panel", "freq", "W-SUN", "one of W-MON"),
        ("reports", "language", "jp", "one of en, ja"),
        ("simulate", "shape", "snap", "one of history, snapshot, log_ends_mid_term"),
        ("hypotheses", "budget_objective", "auc", "one of chi_square, precision, lift"),
        ("simulate", "messy", "yes please", "true or false"),
        ("health_score", "capacity", 0, "a whole number >= 1"),
    ],
)
def test_types_ranges_and_allowed_values(section, key, value, expected):
    msg = only_error(**{section: {key: value}})
    assert msg.startswith(f"params.yaml: {section}.{key} = ")
    assert msg.split(": expected ", 1)[1].startswith(expected)


def test_a_typo_is_a_warning_with_did_you_mean_not_an_error():
    found = problems(ingest={"encodng": "cp932"})
    assert found.errors == []
    (line,) = found.warnings
    assert line.startswith(
        "params.yaml: ingest.encodng: unknown key, ignored (did you mean 'encoding'?)"
    )


def test_an_unknown_section_is_a_warning():
    found = problems(reprots={"language": "ja"}, extras={"x": 1})
    assert found.errors == []
    assert found.warnings[0].startswith(
        "params.yaml: reprots: unknown section, ignored (did you mean 'reports'?)"
    )
    assert found.warnings[1].startswith("params.yaml: extras: unknown section, ignored (known:")


def test_load_params_issues_each_warning_and_still_returns_the_file(tmp_path):
    raw = copy.deepcopy(PARAMS)
    raw["panel"]["trailing_week"] = 6
    path = write(tmp_path, yaml.safe_dump(raw))
    with pytest.warns(ConfigWarning, match="panel.trailing_week: .*'trailing_weeks'"):
        params = load_params(path)
    assert params == raw


def test_panel_as_of_keeps_its_removed_key_message():
    assert only_error(panel={"as_of": "2024-03-01"}) == (
        "params.yaml: panel.as_of='2024-03-01' is no longer read; set base.as_of instead (the "
        "one as-of date of the whole pipeline, applied by ingest)"
    )
    assert problems(panel={"as_of": None}).errors == []  # null: read as absent, as before


def test_every_problem_is_reported_at_once(tmp_path):
    raw = copy.deepcopy(PARAMS)
    raw["ingest"].update(required_tables="accounts", grace_days=True, encodng="x")
    raw["base"]["raw_dir"] = 5
    raw["panel"]["engine"] = "pandas"
    path = write(tmp_path, yaml.safe_dump(raw))
    with pytest.warns(ConfigWarning), pytest.raises(ConfigError) as err:
        load_params(path)
    lines = str(err.value).splitlines()
    assert [line.split(" = ")[0] for line in lines] == [
        f"{path}: base.raw_dir",
        f"{path}: ingest.required_tables",
        f"{path}: ingest.grace_days",
        f"{path}: panel.engine",
    ]


# --- shapes of vocabulary and column_map -------------------------------------------------


def test_vocabulary_shape_meaning_to_labels():
    ok = problems(vocabulary={"event_type": {"login": "Sign in", "report_view": []}})
    assert ok.errors == []  # a single label without brackets; an empty list = no label
    assert only_error(vocabulary={"event_type": ["login"]}).startswith(
        "params.yaml: vocabulary.event_type = ['login']: expected a mapping of key: value"
    )
    assert only_error(vocabulary={"event_type": {"login": [{"a": 1}]}}) == (
        "params.yaml: vocabulary.event_type.login = [{'a': 1}]: expected a list of your "
        "labels, e.g. [login, app_open]"
    )


def test_unknown_vocabulary_kind_or_meaning_is_an_error_as_in_the_stages():
    msg = only_error(vocabulary={"role": {"admn": ["Admin"]}})
    assert msg.startswith("params.yaml: vocabulary.role.admn: unknown key (did you mean 'admin'?)")
    msg = only_error(vocabulary={"event_typ": {}})
    assert msg.startswith(
        "params.yaml: vocabulary.event_typ: unknown key (did you mean 'event_type'?)"
    )


def test_billing_period_label_under_two_meanings():
    msg = only_error(vocabulary={"billing_period": {"monthly": ["M"], "annual": ["m"]}})
    assert msg == (
        "params.yaml: vocabulary.billing_period: label 'm' is under both monthly and annual; "
        "expected each label under one meaning"
    )
    assert only_error(vocabulary={"billing_period": {"monthly": None}}).startswith(
        "params.yaml: vocabulary.billing_period.monthly = null: expected a list of your labels"
    )


def test_column_map_shape_table_their_ours():
    assert problems(ingest={"column_map": {"accounts": {"Customer ID": "account_id"}}}).errors == []
    assert only_error(ingest={"column_map": {"acounts": {"a": "b"}}}).startswith(
        "params.yaml: ingest.column_map.acounts: 'acounts' is not a known name; expected one of "
        "accounts, contracts"
    )
    assert only_error(ingest={"column_map": {"events": None}}) == (
        "params.yaml: ingest.column_map.events = null: expected a mapping {their_column: "
        "our_column}, e.g. {Customer ID: account_id}"
    )
    assert only_error(ingest={"column_map": ["accounts"]}).startswith(
        "params.yaml: ingest.column_map = ['accounts']: expected a mapping {table: "
    )
    assert only_error(ingest={"column_map": {"users": {"id": 5}}}) == (
        "params.yaml: ingest.column_map.users.id = 5: expected text"
    )


# --- other rules the stages apply ----------------------------------------------------------


def test_unquoted_null_in_null_values_is_caught():
    assert only_error(ingest={"null_values": [None, "NA"]}).startswith(
        "params.yaml: ingest.null_values[0] = null: expected text; YAML reads unquoted "
        'null/yes/no as values, write them in quotes: "null"'
    )


def test_zone_encoding_and_dates_are_checked():
    assert "IANA time zone" in only_error(ingest={"source_timezone": "Tokyo"})
    assert "text encoding" in only_error(ingest={"encoding": "shift-jiz"})
    assert only_error(base={"as_of": "2025/06/30"}) == (
        "params.yaml: base.as_of = '2025/06/30': expected a date YYYY-MM-DD or null (the "
        "latest date in the data)"
    )
    import datetime as dt

    assert problems(base={"as_of": dt.date(2025, 6, 30)}).errors == []  # unquoted YAML date


def test_rules_across_keys():
    assert only_error(
        simulate={"segment_mix": {"smb": 0.5, "mid_market": 0.3, "enterprise": 0.1}}
    ) == ("params.yaml: simulate.segment_mix: shares must sum to 1 (they sum to 0.9)")
    assert only_error(simulate={"end_date": "2024-02-01"}) == (
        "params.yaml: simulate: end_date 2024-02-01 must be at least 120 days after start_date "
        "2024-01-01"
    )
    assert "needs amber < red" in only_error(
        health_score={"band_probabilities": {"red": 0.1, "amber": 0.2}}
    )
    assert "needs new_weeks <= chronic_weeks" in only_error(
        health_score={"new_weeks": 13, "chronic_weeks": 12}
    )


def test_missing_required_key_and_unknown_effect():
    assert only_error(hypotheses={"lags": ...}) == (
        "params.yaml: hypotheses.lags: missing; expected a non-empty list (each a whole number "
        ">= 0)"
    )
    assert only_error(simulate={"effects": {"churn_ray": {"hazard_ratio": 2.0}}}).startswith(
        "params.yaml: simulate.effects.churn_ray: unknown key (known:"
    )


def test_empty_file_and_not_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping of sections .*got null"):
        load_params(write(tmp_path, "# nothing yet\n"))
    with pytest.raises(ConfigError, match="got \\['base'\\]"):
        load_params(write(tmp_path, "- base\n"))


def test_file_not_in_utf8_names_the_byte(tmp_path):
    text = "base:\n  seed: 42\nreports:\n  kernel: 日本語\n"
    path = write(tmp_path, text.encode("cp932"))
    with pytest.raises(ConfigError) as err:
        load_params(path)
    offset = len(b"base:\n  seed: 42\nreports:\n  kernel: ")
    assert str(err.value).startswith(f"{path}: not UTF-8 text: byte {offset} (line 4) is ")
    assert "save the file as UTF-8" in str(err.value)


def test_a_key_given_twice_is_an_error(tmp_path):
    path = write(tmp_path, "base:\n  seed: 1\ningest: {}\nbase:\n  seed: 2\n")
    with pytest.raises(ConfigError) as err:
        load_params(path)
    assert str(err.value) == (
        f"{path}: line 4, column 1: not valid YAML: key 'base' is given twice (first on line "
        "1); keep one"
    )


# --- the names written out in the schema equal their definitions --------------------------


def test_schema_names_match_the_code_that_defines_them():
    import typing

    from churnlab.hypotheses import verdict
    from churnlab.hypotheses.alert_budget import OBJECTIVES
    from churnlab.ingest.schemas import TABLE_ORDER
    from churnlab.ingest.vocabulary import CLOSED
    from churnlab.panel.stage import ENGINES
    from churnlab.reports.i18n import LANGUAGES
    from churnlab.simulate import spec

    assert list(typing.get_args(schema.TableName)) == TABLE_ORDER
    assert {"billing_period": schema.BILLING_MEANINGS} == CLOSED
    assert (schema.SEGMENTS, schema.GOALS, schema.TRAJECTORIES) == (
        spec.SEGMENTS, spec.GOALS, spec.TRAJECTORIES,
    )  # fmt: skip
    assert schema.EFFECTS == tuple(spec.DEFAULT_EFFECTS)
    fields = schema.Simulate.model_fields
    assert typing.get_args(fields["shape"].annotation) == spec.SHAPES
    assert typing.get_args(fields["vocabulary"].annotation) == spec.VOCABULARIES
    assert set(typing.get_args(schema.Verdict)) == {
        verdict.LEADS, verdict.TOO_LATE, verdict.NO_EVIDENCE, verdict.OPPOSITE,
        verdict.INCONCLUSIVE, verdict.NOT_TESTABLE,
    }  # fmt: skip
    objective = schema.Hypotheses.model_fields["budget_objective"].annotation
    assert set(typing.get_args(objective)) == set(OBJECTIVES)
    assert typing.get_args(schema.Panel.model_fields["engine"].annotation) == ENGINES
    assert typing.get_args(schema.Reports.model_fields["language"].annotation) == LANGUAGES


def test_keys_added_this_session_ingest_window_and_panel_engine_settings():
    assert only_error(ingest={"earliest_date": "2100-01-01"}) == (
        "params.yaml: ingest: earliest_date 2100-01-01 must be before latest_date 2090-01-01"
    )
    assert problems(ingest={"earliest_date": None, "latest_date": "2200-01-01"}).errors == []
    assert only_error(panel={"indicators": "some"}).endswith(
        'expected "all" or a list of indicator ids, e.g. [active_days, mau]'
    )
    assert problems(panel={"indicators": ["active_days"], "spark_master": None}).errors == []
    # interpolated into DuckDB's SET statement: only a size
    assert "expected a memory size" in only_error(panel={"duckdb_memory_limit": "4GB'; x"})
    assert only_error(panel={"spark_conf": {"spark.x": [1]}}) == (
        "params.yaml: panel.spark_conf.spark.x = [1]: expected one value (text, a number or "
        "true/false)"
    )


def test_alert_delays_and_pages_per_kernel():
    assert problems(hypotheses={"alert_on_weeks": 3, "alert_off_weeks": [1, 2]}).errors == []
    assert only_error(hypotheses={"alert_on_weeks": [0, 2]}) == (
        "params.yaml: hypotheses.alert_on_weeks = [0, 2]: expected a whole number of weeks >= 1 "
        "or a non-empty list of them"
    )
    assert "a number > 0" in only_error(hypotheses={"alert_min_lift": 0})
    assert problems(reports={"pages_per_kernel": None}).errors == []
    assert "a whole number >= 1 or null" in only_error(reports={"pages_per_kernel": 0})
