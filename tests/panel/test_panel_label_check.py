"""A typo'd vocabulary or `where` label is named, with the closest value in the data (a new
user's `role: {key_person: [Champoin]}` silently zeroed every key-person indicator)."""

import pandas as pd

from churnlab.panel.label_check import label_warnings, unmatched


def test_unmatched_by_hand():
    lines = unmatched(
        [("vocabulary.role.key_person", "Champoin"), ("vocabulary.role.admin", " owner ")],
        ["Owner", "Champion", None],
        "users.role",
    )
    assert lines == [
        "vocabulary.role.key_person: label 'Champoin' matches no value of users.role "
        "(did you mean 'Champion'?)"
    ]


def test_far_labels_list_the_values():
    (line,) = unmatched([("x", "zzz")], ["a", "b"], "t.c")
    assert line.endswith("(values: a, b)")


def test_vocabulary_and_where_filters_against_parquet(tmp_path):
    users = tmp_path / "users.parquet"
    events = tmp_path / "events.parquet"
    pd.DataFrame({"role": ["Owner", "Champion"]}).to_parquet(users)
    pd.DataFrame({"event_type": ["invoice_sent", "photo_upload"]}).to_parquet(events)
    vocabulary = {
        "role": {"key_person": ["Champoin"], "admin": ["Owner"]},
        "event_type": {"login": ["app_open"]},
        "milestone": {"first_login": ["first_login"]},  # no milestones table: not checked
    }
    where = [("invoices", "events", "event_type", ("invoice_sendt", 3))]
    lines = label_warnings(vocabulary, where, {"users": users, "events": events})
    assert len(lines) == 3
    assert any("vocabulary.role.key_person" in x and "'Champion'" in x for x in lines)
    assert any("vocabulary.event_type.login" in x and "'app_open'" in x for x in lines)
    assert any("'invoices' where.event_type" in x and "'invoice_sent'" in x for x in lines)
