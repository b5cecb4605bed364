"""The bench's two warning times have two names: weeks a lamp was on before churn (lamp
performance) and weeks from an alert to churn; a lamp lit from the start says its alert
measures do not apply (a new user read 12.0 and 9.0 for one attribute lamp as a conflict)."""

from __future__ import annotations

import yaml

from churnlab.explore import try_hypothesis
from churnlab.explore.bench import ALERT_WARNING_WEEKS, LAMP_ON_WEEKS


def _entry(root, hid):
    items = yaml.safe_load((root / "hypotheses.yaml").read_text(encoding="utf-8"))["hypotheses"]
    return next(h for h in items if h["id"] == hid)


def test_attribute_lamp_warning_times_are_named_apart(finished_project, workspace):
    result = try_hypothesis(_entry(finished_project, "month_to_month_churns_more"), workspace)
    assert "median_warning_weeks" not in result.performance.columns
    assert "median_warning_weeks" not in result.alerts.columns
    rec = result.record
    assert result.performance[LAMP_ON_WEEKS].iloc[0] == rec["median_warning_weeks"]
    assert result.alerts[ALERT_WARNING_WEEKS].iloc[0] == rec["alerts"]["median_warning_weeks"]
    assert rec["median_warning_weeks"] <= result.settings.horizon_weeks
    assert any(n.startswith("lit from the start") for n in result.notes)


def test_a_lamp_that_switches_on_has_no_from_start_note(finished_project, workspace):
    result = try_hypothesis(_entry(finished_project, "key_person_usage_drop"), workspace)
    assert ALERT_WARNING_WEEKS in result.alerts.columns
    assert not any(n.startswith("lit from the start") for n in result.notes)
