"""The `vocabulary` params ingest needs: which of the user's labels means what.

`vocabulary.billing_period` maps each meaning churnlab computes with (monthly, annual) to the
list of the user's labels that play it, e.g. `{monthly: [Monthly, month-to-month],
annual: [Yearly, "12 months"]}`. Labels are matched trimmed and case-insensitively.
"""

from __future__ import annotations

from typing import Any

from churnlab.errors import ConfigError
from churnlab.ingest.schemas import TABLES

# Closed columns and the meanings their vocabulary maps onto (from the table specs).
CLOSED: dict[str, tuple[str, ...]] = {
    col.vocabulary: tuple(col.allowed or ())
    for spec in TABLES.values()
    for col in spec.columns.values()
    if col.vocabulary
}


def label_map(name: str, meanings: Any) -> dict[str, str]:
    """{label key (trimmed, lower-case): meaning} from the params value of `vocabulary.<name>`.

    `meanings` is {meaning: [label, ...]} (None = the default: each meaning is its own
    label). A meaning left out keeps its own name as its only label. Raises ConfigError
    naming the key when the value is not such a mapping, names an unknown meaning, holds a
    blank or non-text label, or gives one label two meanings.
    """
    allowed = CLOSED[name]
    key = f"vocabulary.{name}"
    if meanings is None:
        meanings = {}
    if not isinstance(meanings, dict):
        raise ConfigError(
            f"params.yaml: {key} must map each of {', '.join(allowed)} to a list of your "
            f"labels, e.g. {{annual: [Yearly]}}; got {meanings!r}"
        )
    out: dict[str, str] = {}
    for meaning in allowed:
        labels = meanings.get(meaning, [meaning])
        if isinstance(labels, str):  # a single label written without brackets
            labels = [labels]
        if not isinstance(labels, list):
            raise ConfigError(
                f"params.yaml: {key}.{meaning} must be a list of labels, got {labels!r}"
            )
        for label in labels:
            if not isinstance(label, str | int | float) or isinstance(label, bool):
                raise ConfigError(
                    f"params.yaml: {key}.{meaning} holds {label!r}; expected text labels"
                )
            text = str(label).strip().lower()
            if not text:
                raise ConfigError(f"params.yaml: {key}.{meaning} holds a blank label")
            if out.get(text, meaning) != meaning:
                raise ConfigError(
                    f"params.yaml: {key} gives label '{label}' two meanings "
                    f"({out[text]} and {meaning}); expected each label under one meaning"
                )
            out[text] = meaning
    unknown = sorted(str(m) for m in meanings if m not in allowed)
    if unknown:
        raise ConfigError(
            f"params.yaml: {key} names unknown meaning '{unknown[0]}' "
            f"(expected {', '.join(allowed)})"
        )
    return out


def vocabularies(params: dict) -> dict[str, dict[str, str]]:
    """Every closed column's label map from the params' `vocabulary` section."""
    section = params.get("vocabulary") or {}
    if not isinstance(section, dict):
        raise ConfigError("params.yaml: vocabulary must be a mapping {name: {meaning: [labels]}}")
    return {name: label_map(name, section.get(name)) for name in CLOSED}
