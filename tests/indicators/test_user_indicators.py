"""User-defined indicators (panel.indicators_file) on the hand-made company of panel_world.py.

Weeks (Mondays): A=Jan 1, B=Jan 8, C=Jan 15, D=Jan 22, E=Jan 29, F=Feb 5, G=Feb 12 (as-of
Feb 14); the contract starts Wed Jan 3. Events of full_tables(): u1 login + report_view
Jan 2 and u2 login Jan 4 (week A); u1 login, data_export Jan 9 and dashboard Jan 10 (B);
u2 login Jan 24 (D). A row only sees data before its Monday.
"""

import pandas as pd
import pytest
import yaml
from panel_world import build, full_tables

from churnlab.errors import ConfigError
from churnlab.indicators.blocks import Settings
from churnlab.indicators.user import (
    compile_user_indicators,
    load_user_definitions,
    parse_user_indicators,
)

DEFS = yaml.safe_load(
    """
indicators:
  - id: logins_2w
    label: Logins (2 weeks)
    from: events
    where: {event_type: [" LOGIN "]}     # trimmed, case-insensitive
    measure: count
    window_weeks: 2
  - id: logins_per_active_day           # defined before its operands: order is free
    ratio_of: [logins_2w, active_days_2w]
  - id: login_users_4w
    from: events
    where: {event_type: [login]}
    measure: distinct_users
    window_weeks: 4
  - id: active_days_2w
    from: events
    measure: active_days
    window_weeks: 2
  - id: weeks_since_export
    from: events
    where: {event_type: [data_export]}
    measure: weeks_since_last
  - id: report_share_4w
    from: events
    where: {event_type: [report_view]}
    measure: share_of_users_active
    window_weeks: 4
  - id: logins_change
    change_of: logins_2w
  - id: login_users_per_wau
    ratio_of: [login_users_4w, weekly_active_users]   # a built-in operand
  - id: feature_ideas_4w
    from: tickets
    where: {category: [Feature_Request]}
    measure: count
    window_weeks: 4
  - id: promoters_answered_8w
    from: surveys
    time_column: answered_at
    where: {nps_score: [9, 10]}
    measure: count
    window_weeks: 8
  - id: weeks_since_training
    unit: weeks
    meaning: weeks since training was completed
    from: milestones
    where: {milestone: [training_complete]}
    measure: weeks_since_last
  - id: activations_1w
    from: users
    measure: count
    window_weeks: 1
  - id: key_person_events_1w            # the acting user's role, from users
    from: events
    where: {users.role: [" Key_Person"]}
    measure: count
    window_weeks: 1
  - id: key_person_change
    change_of: key_person_events_1w
  - id: unassigned_touchpoints_4w
    from: touchpoints
    where: {csm_id: [null, csm2]}
    measure: count
    window_weeks: 4
"""
)

EXPECTED = {
    # logins per week A=2, B=1, D=1; 2-week windows.
    "logins_2w": [0, 2, 3, 1, 1, 1, 0],
    # logins_2w / active_days_2w, 0 when no active day.
    "logins_per_active_day": [0, 1, 0.75, 0.5, 1, 1, 0],
    # login users: A {u1, u2}, B {u1}, D {u2}; 4-week windows.
    "login_users_4w": [0, 2, 2, 2, 2, 2, 1],
    # days with events: A Jan 2, Jan 4; B Jan 9, Jan 10; D Jan 24.
    "active_days_2w": [0, 2, 4, 2, 1, 1, 0],
    # export Tue Jan 9 -> from C; before: days since the contract start (Jan 3), >= 0.
    "weeks_since_export": [0, 5 / 7, 6 / 7, 13 / 7, 20 / 7, 27 / 7, 34 / 7],
    # report_view users (u1 in A) / users with any event in the same 4 weeks.
    "report_share_4w": [0, 0.5, 0.5, 0.5, 0.5, 0, 0],
    # logins_2w vs its mean over the 4 rows before: C 3/mean(0,2)-1 = 2; D 1/(5/3)-1 = -0.4;
    # E 1/mean(0,2,3,1)-1 = -1/3; F 1/mean(2,3,1,1)-1 = -3/7; G 0/1.5-1 = -1.
    "logins_change": [0, 0, 2, -0.4, -1 / 3, -3 / 7, -1],
    # login_users_4w / weekly_active_users [0, 2, 1, 0, 1, 0, 0], 0 when WAU is 0.
    "login_users_per_wau": [0, 1, 2, 0, 2, 0, 0],
    # = the built-in feature_feedback_tickets (t2 opened in B).
    "feature_ideas_4w": [0, 0, 1, 1, 1, 1, 0],
    # s1 answered Sat Jan 20 (C) with 9 -> D..G.
    "promoters_answered_8w": [0, 0, 0, 1, 1, 1, 1],
    # training_complete Wed Jan 31 (E) -> F: 5 days, G: 12.
    "weeks_since_training": [0, 5 / 7, 12 / 7, 19 / 7, 26 / 7, 5 / 7, 12 / 7],
    # u1 activated Jan 2, u2 Jan 4 (A), u3 never.
    "activations_1w": [0, 2, 0, 0, 0, 0, 0],
    # u1 (key_person) events: A 2 (Jan 2), B 3 (Jan 9, 10); u2 is a member.
    "key_person_events_1w": [0, 2, 3, 0, 0, 0, 0],
    # vs the mean of the 4 rows before: C 3/mean(0,2)-1 = 2; D 0/(5/3)-1 = -1; E, F, G -1.
    "key_person_change": [0, 0, 2, -1, -1, -1, -1],
    # blank csm_id or csm2: only the meeting of Jan 24 (D, csm2) -> E..G.
    "unassigned_touchpoints_4w": [0, 0, 0, 0, 1, 1, 1],
}


@pytest.fixture(scope="module")
def defs():
    return parse_user_indicators(DEFS, "indicators.yaml")


@pytest.fixture(scope="module")
def panel(defs):
    return build(full_tables(), user=compile_user_indicators(defs))


def test_every_definition_has_a_hand_computed_case(defs):
    assert {d.id for d in defs} == set(EXPECTED)


@pytest.mark.parametrize("indicator", sorted(EXPECTED))
def test_user_indicator_matches_hand_computation(panel, indicator):
    assert panel["week_start"].dt.strftime("%m-%d").tolist()[0] == "01-01" and len(panel) == 7
    got = panel[indicator].to_numpy()
    want = pd.Series(EXPECTED[indicator], dtype="float64").to_numpy()
    assert got == pytest.approx(want, abs=1e-12), got.tolist()


def test_users_role_filter_restates_the_key_person_catalog_indicator(panel):
    # The catalog's key_person_activity_change is the same construction over the key
    # person's events, so the user definition must reproduce it row for row.
    assert panel["key_person_change"].tolist() == pytest.approx(
        panel["key_person_activity_change"].tolist(), abs=1e-12
    )


def test_builtin_columns_are_unchanged_by_user_indicators(panel, defs):
    plain = build(full_tables())
    pd.testing.assert_frame_equal(panel[list(plain.columns)], plain)
    # user columns follow the built-ins, in dependency order
    assert list(panel.columns[len(plain.columns) :]) == [d.id for d in defs]


def test_dependency_order_and_metadata(defs):
    ids = [d.id for d in defs]
    assert ids.index("logins_per_active_day") > ids.index("active_days_2w")
    inds = {i.id: i for i in compile_user_indicators(defs)}
    ratio = inds["logins_per_active_day"]
    assert ratio.source == "user" and ratio.tables == ("events",) and ratio.unit == "ratio"
    assert ratio.label == "logins_per_active_day"  # label defaults to the id
    assert inds["logins_2w"].label == "Logins (2 weeks)" and inds["logins_2w"].unit == "rows"
    assert inds["logins_2w"].meaning == (
        "events rows with event_type in [ LOGIN ] in the previous 2 weeks"
    )
    assert inds["weeks_since_training"].meaning == "weeks since training was completed"
    assert inds["login_users_per_wau"].tables == ("events",)
    assert inds["promoters_answered_8w"].tables == ("surveys",)


def test_window_defaults_to_panel_window_weeks():
    doc = {"indicators": [{"id": "x", "from": "events", "measure": "count"}]}
    (d,) = parse_user_indicators(doc, "f.yaml", default_window=6)
    assert d.window_weeks == 6


def test_file_loading(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings(as_of="2024-02-14")
    assert load_user_definitions({}, s) == []  # key unset
    assert load_user_definitions({"indicators_file": "indicators.yaml"}, s) == []  # no file
    (tmp_path / "indicators.yaml").write_text("# only comments\n# indicators: []\n")
    assert load_user_definitions({"indicators_file": "indicators.yaml"}, s) == []
    (tmp_path / "indicators.yaml").write_text(yaml.safe_dump(DEFS))
    assert len(load_user_definitions({"indicators_file": "indicators.yaml"}, s)) == len(EXPECTED)
    (tmp_path / "indicators.yaml").write_text("indicators: [\n")
    with pytest.raises(ConfigError, match=r"indicators\.yaml: not valid"):
        load_user_definitions({"indicators_file": "indicators.yaml"}, s)


def _one(**entry):
    return {"indicators": [{"id": "x1", **entry}]}


COUNT = {"from": "events", "measure": "count", "window_weeks": 4}


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        (
            _one(**{**COUNT, "from": "evnts"}),
            r"'x1' \(entry 1\): field 'from': unknown table 'evnts'",
        ),
        (
            _one(**{**COUNT, "where": {"users.rol": ["Champion"]}}),
            r"field 'where.users.rol': users has no column 'rol'",
        ),
        (
            _one(**{"from": "tickets", "measure": "count", "where": {"users.role": ["a"]}}),
            r"field 'where.users.role': tickets has no user_id to join users on",
        ),
        (
            _one(**{**COUNT, "where": {"evt_type": ["a"]}}),
            r"'x1' \(entry 1\): field 'where.evt_type': events has no column 'evt_type'",
        ),
        (_one(**{**COUNT, "measure": "sum"}), r"field 'measure': unknown measure 'sum'"),
        (_one(**{**COUNT, "window_weeks": 0}), r"field 'window_weeks': must be an integer >= 1"),
        (_one(**{**COUNT, "window_weeks": 2.5}), r"field 'window_weeks'"),
        (
            _one(**{**COUNT, "measure": "distinct_users", "from": "tickets"}),
            r"field 'measure': distinct_users needs a user_id column",
        ),
        (
            _one(**{**COUNT, "measure": "weeks_since_last"}),
            r"field 'window_weeks': does not apply to weeks_since_last",
        ),
        (_one(**{**COUNT, "time_column": "user_id"}), r"field 'time_column'"),
        (_one(**{**COUNT, "where": {"occurred_at": ["x"]}}), r"field 'where.occurred_at'"),
        (_one(**{**COUNT, "where": {"event_type": [True]}}), r"field 'where.event_type'"),
        (
            {
                "indicators": [
                    {
                        "id": "surveys_x",
                        "from": "surveys",
                        "measure": "count",
                        "time_column": "answered_at",
                        "where": {"nps_score": ["high"]},
                    }
                ]
            },
            r"field 'where.nps_score': 'high' is not a number",
        ),
        (
            {
                "indicators": [
                    {
                        "id": "promoters",
                        "from": "surveys",
                        "measure": "count",
                        "where": {"nps_score": [9, 10]},
                    }
                ]
            },
            r"field 'where.nps_score': nps_score is only known at answered_at",
        ),
        (_one(**{**COUNT, "windows": 3}), r"field 'windows': unknown field"),
        (_one(ratio_of=["a", "b"], **COUNT), r"field 'ratio_of': give exactly one of"),
        (_one(label="L"), r"field 'measure': give exactly one of"),
        (
            _one(ratio_of=["weekly_active_users", "nope"]),
            r"field 'ratio_of': unknown indicator id 'nope'",
        ),
        (_one(change_of="nope"), r"field 'change_of': unknown indicator id 'nope'"),
        (_one(ratio_of=["x1", "active_days"]), r"field 'ratio_of': refers to itself"),
        (
            _one(ratio_of=["active_days", "active_days"]),
            r"field 'ratio_of': a ratio of 'active_days' to itself",
        ),
        (_one(ratio_of="active_days"), r"field 'ratio_of': expected \[numerator_id"),
        (_one(change_of="x1"), r"field 'change_of': refers to itself"),
        (_one(change_of="active_days", window_weeks=2), r"field 'window_weeks': does not apply"),
        (
            {"indicators": [{"id": "weekly_active_users", **COUNT}]},
            r"field 'id': clashes with the built-in",
        ),
        ({"indicators": [{"id": "mrr", **COUNT}]}, r"field 'id': clashes with a panel column"),
        (
            {"indicators": [{"id": "Bad-Id", **COUNT}]},
            r"entry 1: field 'id': 'Bad-Id' is not an id",
        ),
        ({"indicators": [{**COUNT}]}, r"entry 1: field 'id': None is not an id"),
        (
            {"indicators": [{"id": "a", **COUNT}, {"id": "a", **COUNT}]},
            r"'a' \(entry 2\): field 'id': already defined by entry 1",
        ),
        (
            {
                "indicators": [
                    {"id": "a", "ratio_of": ["b", "active_days"]},
                    {"id": "b", "change_of": "c"},
                    {"id": "c", "ratio_of": ["active_days", "a"]},
                ]
            },
            r"field 'ratio_of': cycle a -> b -> c -> a",
        ),
        ({"indicators": {"id": "a"}}, r"'indicators' must be a list"),
        ({"indicator": []}, r"expected a mapping with one key 'indicators'"),
        ({"indicators": ["a"]}, r"entry 1: expected a mapping"),
        (_one(**{**COUNT, "label": ""}), r"field 'label': must be non-blank text"),
    ],
)
def test_bad_definitions_name_file_entry_and_field(doc, match):
    with pytest.raises(ConfigError, match=match) as err:
        parse_user_indicators(doc, "indicators.yaml")
    assert str(err.value).startswith("indicators.yaml: ")
    assert "\n" not in str(err.value)


def test_column_kinds_match_the_ingest_contract():
    """user.py names the kinds itself (schemas is imported lazily): they must agree."""
    from churnlab.indicators import user
    from churnlab.ingest import schemas

    assert (user.DATE, user.TIMESTAMP, user.FLOAT, user.INT) == (
        schemas.DATE,
        schemas.TIMESTAMP,
        schemas.FLOAT,
        schemas.INT,
    )
    for table, column in user.TIME_COLUMNS.items():
        assert schemas.TABLES[table].columns[column].kind in (schemas.DATE, schemas.TIMESTAMP)
