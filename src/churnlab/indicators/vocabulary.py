"""Which of the user's labels play the parts the built-in indicators must understand.

params.yaml `vocabulary:` maps each *meaning* churnlab knows (the login event, the key-person
role, a decision-maker meeting, ...) to the list of the user's own labels that play it, e.g.
`event_type: {login: [app_open, Sign in]}`. Interim tables keep labels as written (ingest
only trims them), so the SQL compares `LOWER(TRIM(col))` with lower-cased, trimmed literals.
A meaning may be given an empty list (no label plays it: the indicator is then always 0).

Defaults are churnlab's own names, so a company written in them needs no `vocabulary:`
section. `billing_period` belongs to ingest (a closed set); the panel accepts it unread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from churnlab.errors import ConfigError

# kind -> meanings the panel reads (defaults: the meaning's own name).
PANEL_KINDS: dict[str, tuple[str, ...]] = {
    "role": ("admin", "key_person", "decision_maker"),
    "touchpoint_kind": (
        "meeting",
        "decision_maker_meeting",
        "qbr",
        "event_attendance",
        "training",
    ),
    "milestone": ("first_login", "onboarding_complete", "training_complete", "goal_achieved"),
    "ticket_category": ("feature_request",),
    "event_type": ("login", "report_view", "data_export"),
}
OTHER_KINDS = ("billing_period",)  # validated by ingest


def _defaults() -> dict[str, dict[str, tuple[str, ...]]]:
    return {kind: {m: (m,) for m in meanings} for kind, meanings in PANEL_KINDS.items()}


@dataclass(frozen=True)
class Vocabulary:
    """kind -> meaning -> the user's labels (as written in params, trimmed)."""

    labels: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=_defaults)

    def of(self, kind: str, *meanings: str) -> tuple[str, ...]:
        """The labels playing any of these meanings, in order, without repeats."""
        out: list[str] = []
        for meaning in meanings:
            for label in self.labels[kind][meaning]:
                if label not in out:
                    out.append(label)
        return tuple(out)

    def is_(self, column: str, kind: str, *meanings: str, normalised: bool = False) -> str:
        """SQL condition: `column` holds a label playing one of `meanings` (see sql_in)."""
        return sql_in(column, self.of(kind, *meanings), normalised)


def sql_literal(text: str) -> str:
    """A single-quoted SQL string literal (`'` doubled; both engines read it so)."""
    return "'" + text.replace("'", "''") + "'"


def sql_in(column: str, labels: Iterable[str], normalised: bool = False) -> str:
    """`LOWER(TRIM(column)) IN (...)` over lower-cased, trimmed labels; FALSE for none.
    `normalised`: the column already holds `LOWER(TRIM(...))` (computed once per row)."""
    keys = sorted({label.strip().lower() for label in labels})
    if not keys:
        return "(1 = 0)"
    key = column if normalised else f"LOWER(TRIM({column}))"
    return f"{key} IN ({', '.join(sql_literal(k) for k in keys)})"


def vocabulary_from_params(section: Any, where: str = "params.yaml") -> Vocabulary:
    """Validate params.yaml `vocabulary:` and merge it over the defaults.

    Shape: `{kind: {meaning: [label, ...]}}`; a single label may be written as a string.
    Missing kinds or meanings keep their default. Raises ConfigError naming the key on an
    unknown kind or meaning, or labels that are not a list of non-blank strings.
    """
    labels = _defaults()
    if section is None:
        return Vocabulary(labels)
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: vocabulary must be a mapping of kind -> meaning -> labels")
    for kind, meanings in section.items():
        if kind in OTHER_KINDS:
            continue
        if kind not in PANEL_KINDS:
            known = ", ".join([*PANEL_KINDS, *OTHER_KINDS])
            raise ConfigError(f"{where}: vocabulary.{kind} is not a known kind (known: {known})")
        if meanings is None:
            continue
        if not isinstance(meanings, dict):
            raise ConfigError(
                f"{where}: vocabulary.{kind} must map meanings to lists of labels, "
                f"e.g. {{{PANEL_KINDS[kind][0]}: [your_label]}}"
            )
        for meaning, values in meanings.items():
            key = f"vocabulary.{kind}.{meaning}"
            if meaning not in PANEL_KINDS[kind]:
                raise ConfigError(
                    f"{where}: {key} is not a meaning churnlab knows "
                    f"(known for {kind}: {', '.join(PANEL_KINDS[kind])})"
                )
            if isinstance(values, str):
                values = [values]
            if values is None:
                values = []
            if not isinstance(values, list) or not all(
                isinstance(v, str) and v.strip() for v in values
            ):
                raise ConfigError(
                    f"{where}: {key} must be a list of non-blank labels, got {values!r}"
                )
            labels[kind][meaning] = tuple(v.strip() for v in values)
    return Vocabulary(labels)
