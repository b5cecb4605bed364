"""Scratch projects that run the real `dvc repro`, one per data shape, shared by the e2e tests.

Each is built once per test session (a full pipeline run costs minutes): a copy of the
tracked project files with some params overridden and, optionally, extra files written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_kit import REPO as REPO_ROOT
from pipeline_kit import SMALL, build_pipeline


@pytest.fixture(scope="session")
def default_pipeline(tmp_path_factory) -> Path:
    """The default vocabulary and shape, small company."""
    return build_pipeline(tmp_path_factory.mktemp("default") / "project", [SMALL])


# The champion's own events and their change: the user-defined twin of the built-in
# key_person_activity_change, written in the foreign company's words.
FOREIGN_INDICATORS = """
indicators:
  - id: champion_events_1w
    label: Champion's events (last week)
    from: events
    where: {users.role: [Champion]}
    measure: count
    window_weeks: 1
  - id: champion_activity_change
    label: Champion's activity vs their recent average
    change_of: champion_events_1w
  - id: csv_downloads_4w
    label: CSV downloads (last 4 weeks)
    from: events
    where: {event_type: [csv_download]}
    measure: count
    window_weeks: 4
"""
FOREIGN_HYPOTHESES = """
  - id: champion_usage_drop
    statement: When the champion's own activity falls well below their recent level, the account churns.
    stage: adoption
    indicator: champion_activity_change
    direction: low
    threshold: suggest
    expected_lead_weeks: 8
    action: Call the champion this week.
    kind: risk
  - id: startups_churn_more
    statement: Startups churn more than other segments.
    stage: renewal
    attribute: segment
    values: [Startup]
    action: Put startups on the scaled-success programme.
    kind: risk
"""


@pytest.fixture(scope="session")
def foreign_pipeline(tmp_path_factory) -> Path:
    """The same small company written in another company's words, read back through a
    `vocabulary:` map and user-defined indicators: only params and YAML files differ."""
    from churnlab.simulate.vocabulary import vocabulary_params

    root = tmp_path_factory.mktemp("foreign") / "project"
    hypotheses = (REPO_ROOT / "hypotheses.yaml").read_text(encoding="utf-8")
    return build_pipeline(
        root,
        [SMALL, {"simulate": {"vocabulary": "foreign"}}, vocabulary_params("foreign")],
        {
            "indicators.yaml": FOREIGN_INDICATORS,
            "hypotheses.yaml": hypotheses.rstrip("\n") + "\n" + FOREIGN_HYPOTHESES,
        },
    )


@pytest.fixture(scope="session")
def snapshot_pipeline(tmp_path_factory) -> Path:
    """A snapshot export: accounts + contracts as of one day, every churn dated that day."""
    root = tmp_path_factory.mktemp("snapshot") / "project"
    return build_pipeline(
        root,
        [
            SMALL,
            {"simulate": {"shape": "snapshot"}},
            {"ingest": {"required_tables": ["accounts", "contracts"]}},
        ],
    )
