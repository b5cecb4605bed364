"""The hypotheses file: what a CS lead writes, validated before any statistics run.

Every error names the file, the hypothesis id (or its position) and the field, so a CS lead
can fix the YAML without reading code; every problem of the file is reported at once. The
types of an entry are the pydantic model `Entry` (the same building blocks as the params.yaml
schema, churnlab.schema); missing fields and the rules across fields are checked after it.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError

from churnlab.errors import ConfigError, ConfigWarning
from churnlab.schema.problems import Section, describe, did_you_mean, show
from churnlab.schema.yamlfile import read_yaml

# Where indicators are defined, named in the "unknown indicator" error.
BUILTIN_FILE = "src/churnlab/indicators/catalog.py"
DEFAULT_INDICATORS_FILE = "indicators.yaml"
# Account / contract attributes an attribute hypothesis may test (panel columns, CONTRACTS §3).
ATTRIBUTES = ("segment", "customer_goal", "plan", "billing_period", "region")
STAGES = ("trial", "onboarding", "adoption", "renewal")
DIRECTIONS = ("low", "high")
KINDS = ("risk", "opportunity")
COMMON = ("id", "statement", "stage", "action", "kind")
INDICATOR_FIELDS = ("indicator", "direction", "threshold", "expected_lead_weeks")
ATTRIBUTE_FIELDS = ("attribute", "values")
FIELDS = [*COMMON[:3], *INDICATOR_FIELDS, *COMMON[3:], *ATTRIBUTE_FIELDS]


@dataclass(frozen=True)
class KnownIndicators:
    """The indicator ids a hypothesis may name, grouped as the error message lists them.

    Normally from panel_meta.json (`indicators`, each with `source`: builtin | user); the
    catalog of built-ins is only a fallback when no panel meta exists."""

    builtin: tuple[str, ...]
    user: tuple[str, ...] = ()
    indicators_file: str = DEFAULT_INDICATORS_FILE

    @classmethod
    def from_meta(cls, meta: dict, indicators_file: str | None = None) -> KnownIndicators:
        """From panel_meta.json; an entry without `source` (a v1 meta) counts as built-in.
        The indicators file is the meta's `indicators_file` if present, else the argument."""
        info = meta.get("indicators") or {}
        user = sorted(i for i, v in info.items() if (v or {}).get("source") == "user")
        builtin = sorted(i for i in info if i not in set(user))
        path = meta.get("indicators_file") or indicators_file or DEFAULT_INDICATORS_FILE
        return cls(tuple(builtin), tuple(user), str(path))

    @classmethod
    def catalog(
        cls, extra: Iterable[str] = (), indicators_file: str | None = None
    ) -> KnownIndicators:
        """Fallback without panel meta: the built-in catalog, plus `extra` ids as user-defined."""
        from churnlab.indicators.catalog import CATALOG

        builtin = sorted(ind.id for ind in CATALOG)
        user = sorted(set(extra) - set(builtin))
        return cls(tuple(builtin), tuple(user), indicators_file or DEFAULT_INDICATORS_FILE)

    def __contains__(self, indicator: object) -> bool:
        return indicator in self.builtin or indicator in self.user

    def suggestion(self, indicator: object) -> str:
        """' (did you mean 'x'?)' for the closest known id by difflib's ratio, else ''."""
        close = difflib.get_close_matches(str(indicator), [*self.user, *self.builtin], n=1)
        return f" (did you mean '{close[0]}'?)" if close else ""

    def listing(self) -> str:
        """'valid ids - built-in: a, b; user-defined: c' and where each group is defined."""
        user = ", ".join(self.user) if self.user else "(none)"
        return (
            f"valid ids - built-in: {', '.join(self.builtin) or '(none)'}; user-defined: {user}"
            f" (built-ins are defined in {BUILTIN_FILE}, user-defined ones in "
            f"{self.indicators_file}, params.yaml panel.indicators_file)"
        )


@dataclass(frozen=True)
class Hypothesis:
    """One testable claim about a lamp.

    Indicator hypotheses: `direction` is the side of `threshold` on which the lamp lights;
    for a risk that side should raise churn, for an opportunity it should lower it.
    Attribute hypotheses (`attribute` set, `indicator`/`direction`/`threshold` None): the
    lamp is on in the weeks where the account's `attribute` is one of `values` (matched
    trimmed and case-insensitively)."""

    id: str
    statement: str
    stage: str
    indicator: str | None
    direction: str | None
    threshold: float | None  # None = "suggest": pick it from the data (indicator hypotheses)
    expected_lead_weeks: int
    action: str
    kind: str
    attribute: str | None = None
    values: tuple[str, ...] | None = None

    @property
    def expected_sign(self) -> int:
        """+1 if the lamp should raise the hazard (risk), -1 if lower it (opportunity)."""
        return 1 if self.kind == "risk" else -1

    @property
    def is_attribute(self) -> bool:
        return self.attribute is not None

    @property
    def lamp_label(self) -> str:
        """The indicator field of the output record: the id, or `attribute:<column>`."""
        return f"attribute:{self.attribute}" if self.is_attribute else str(self.indicator)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["values"] = None if self.values is None else list(self.values)
        out["indicator"] = self.lamp_label
        if self.is_attribute:
            out["threshold_setting"] = None
        else:
            out["threshold_setting"] = "suggest" if self.threshold is None else self.threshold
        return out


class _Lines:
    """Errors and warnings of one file, each `<file>: hypothesis '<id>', field '<f>': why`."""

    def __init__(self, source: str):
        self.source = source
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, hid: str, field: str, reason: str) -> None:
        self.errors.append(f"{self.source}: hypothesis '{hid}', field '{field}': {reason}")


def _blank(item: dict, field: str) -> bool:
    return field not in item or item[field] is None or str(item[field]).strip() == ""


def _one_of(allowed: tuple[str, ...]) -> AfterValidator:
    def check(value: Any) -> Any:
        if value is not None and value not in allowed:
            raise ValueError(
                f"'{value}' is not one of {', '.join(allowed)}{did_you_mean(value, allowed)}"
            )
        return value

    return AfterValidator(check)


def _text(value: Any) -> Any:
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
        raise ValueError(f"{show(value)} is not text")
    return value


def _threshold(value: Any) -> Any:
    if value is None or value == "suggest" or (isinstance(value, str) and not value.strip()):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{value}' is not a number or 'suggest'")
    if not math.isfinite(value):
        raise ValueError(f"{show(value)} is not a finite number; give a number or 'suggest'")
    return value


def _lead(value: Any) -> Any:
    blank = value is None or (isinstance(value, str) and not value.strip())
    if not blank and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"'{value}' is not a whole number >= 0")
    return value


def _values(value: Any) -> Any:
    """`values`: a non-empty list of labels (a single label is accepted)."""
    if value is None:
        return value
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, bool) or not isinstance(v, str | int | float) or not str(v).strip():
            raise ValueError(f"{v!r} is not a label (give a list like [monthly])")
    if value == []:
        raise ValueError("empty list")
    return value


class Entry(Section):
    """The types of one hypotheses.yaml entry (which fields are missing, and the rules across
    fields, are checked after it in `parse_hypotheses`). Strict: `true` is not a number, a
    list is not an indicator id, `.nan` / `.inf` are not thresholds."""

    id: Annotated[Any, AfterValidator(_text)] = None
    statement: Annotated[Any, AfterValidator(_text)] = None
    stage: Annotated[Any, _one_of(STAGES)] = None
    indicator: str | None = Field(
        None, description="one indicator id (text); write one hypothesis per indicator"
    )
    direction: Annotated[Any, _one_of(DIRECTIONS)] = None
    threshold: Annotated[Any, AfterValidator(_threshold)] = None
    expected_lead_weeks: Annotated[Any, AfterValidator(_lead)] = None
    action: Annotated[Any, AfterValidator(_text)] = None
    kind: Annotated[Any, _one_of(KINDS)] = None
    attribute: Annotated[Any, _one_of(ATTRIBUTES)] = None
    values: Annotated[Any, AfterValidator(_values)] = None


def _type_problems(item: dict, hid: str, lines: _Lines) -> set[str]:
    """Check the entry against `Entry`; returns the fields with a problem (reported)."""
    try:
        Entry.model_validate(item)
    except ValidationError as exc:
        bad: set[str] = set()
        for err in exc.errors():
            field = str(err["loc"][0])
            if field in bad:
                continue
            if err["type"] == "extra_forbidden":
                lines.warnings.append(
                    f"{lines.source}: hypothesis '{hid}', field '{field}': unknown field, "
                    f"ignored{did_you_mean(field, FIELDS)} (allowed: {', '.join(FIELDS)})"
                )
                continue
            bad.add(field)
            if err["type"] == "value_error":
                reason = str(err["ctx"]["error"])
            else:
                info = Entry.model_fields[field]
                reason = f"{show(item[field])}: expected {describe(info.annotation, info)}"
            lines.error(hid, field, reason)
        return bad
    return set()


def _attribute_lamp(item: dict, hid: str, lines: _Lines, bad: set[str]) -> dict[str, Any]:
    for field in ("direction", "threshold"):
        if field in item and field not in bad:
            lines.error(
                hid, field,
                "not used with 'attribute' (the lamp is on when the value is one of 'values')",
            )  # fmt: skip
    if "values" in bad:
        return {}
    if _blank(item, "values"):
        lines.error(hid, "values", "missing (the labels that turn the lamp on)")
        return {}
    # trimmed; duplicates that differ only in case are one value
    values: dict[str, str] = {}
    for v in item["values"] if isinstance(item["values"], list) else [item["values"]]:
        values.setdefault(str(v).strip().casefold(), str(v).strip())
    return {
        "indicator": None, "direction": None, "threshold": None,
        "attribute": item["attribute"], "values": tuple(values.values()),
    }  # fmt: skip


def _indicator_lamp(
    item: dict, hid: str, known: KnownIndicators, lines: _Lines, bad: set[str]
) -> dict[str, Any]:
    if "values" in item and "values" not in bad:
        lines.error(hid, "values", "only used with 'attribute'")
    for field in ("indicator", "direction", "threshold"):
        if field not in bad and _blank(item, field):
            hint = " (or give 'attribute' and 'values' instead)" if field == "indicator" else ""
            lines.error(hid, field, f"missing{hint}")
            bad.add(field)
    if "indicator" not in bad and item["indicator"] not in known:
        lines.error(
            hid, "indicator",
            f"unknown indicator id '{item['indicator']}'{known.suggestion(item['indicator'])}; "
            f"{known.listing()}",
        )  # fmt: skip
        bad.add("indicator")
    threshold = item.get("threshold")
    return {
        "indicator": item.get("indicator"), "direction": item.get("direction"),
        "threshold": None if threshold in (None, "suggest") else threshold,
    }  # fmt: skip


def parse_hypotheses(
    raw: Any,
    source: str = "hypotheses.yaml",
    known_indicators: KnownIndicators | Iterable[str] = (),
) -> list[Hypothesis]:
    """Validate the parsed YAML (`{"hypotheses": [...]}` or a bare list) into Hypothesis objects.

    `known_indicators`: the valid ids (KnownIndicators, normally from panel_meta.json); a
    plain list of ids means no panel meta is available: the built-in catalog plus those ids.
    Each entry is an indicator hypothesis (indicator, direction, threshold,
    expected_lead_weeks) or an attribute hypothesis (attribute, values; expected_lead_weeks
    optional, default 0), plus id, statement, stage, action, kind.

    Raises:
        ConfigError: every problem of every entry, one line each: file, hypothesis id (or
            `#position`), field, why. Unknown fields (and top-level keys other than
            `hypotheses`) are `ConfigWarning`s with a did-you-mean, not errors.
    """
    lines = _Lines(source)
    if isinstance(raw, dict):
        for key in raw:
            if key != "hypotheses":
                lines.warnings.append(
                    f"{source}: '{key}': unknown top-level key, ignored"
                    f"{did_you_mean(key, ['hypotheses'])} (only 'hypotheses:' is read)"
                )
    items = raw.get("hypotheses") if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
        _warn(lines.warnings)
        raise ConfigError(f"{source}: expected a non-empty list under 'hypotheses:'")
    known = (
        known_indicators
        if isinstance(known_indicators, KnownIndicators)
        else KnownIndicators.catalog(known_indicators)
    )
    seen: set[str] = set()
    out = []
    for pos, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            lines.errors.append(f"{source}: hypothesis #{pos} is not a mapping of field: value")
            continue
        hyp = _parse_entry(item, pos, known, seen, lines)
        if hyp is not None:
            out.append(hyp)
    _warn(lines.warnings)
    if lines.errors:
        raise ConfigError("\n".join(lines.errors))
    return out


def _parse_entry(
    item: dict, pos: int, known: KnownIndicators, seen: set[str], lines: _Lines
) -> Hypothesis | None:
    """One entry as a Hypothesis, or None after reporting its problems to `lines`."""
    before = len(lines.errors)
    hid = str(item.get("id") or f"#{pos}")
    bad = _type_problems(item, hid, lines)
    if "id" not in bad and _blank(item, "id"):
        lines.error(hid, "id", "missing")
        bad.add("id")
    is_attribute = "attribute" in item
    if is_attribute and "indicator" in item:
        lines.error(
            hid, "attribute",
            "give either 'indicator' (with direction, threshold) or 'attribute' (with "
            "values), not both",
        )  # fmt: skip
        return None
    for field in COMMON:
        if field not in bad and _blank(item, field):
            lines.error(hid, field, "missing")
            bad.add(field)
    if "id" not in bad:
        if hid in seen:
            lines.error(hid, "id", "duplicate id")
        seen.add(hid)
    if is_attribute:
        lamp = _attribute_lamp(item, hid, lines, bad)
    else:
        lamp = _indicator_lamp(item, hid, known, lines, bad)
    lead: Any = item.get("expected_lead_weeks")
    if "expected_lead_weeks" not in bad and _blank(item, "expected_lead_weeks"):
        if is_attribute:
            lead = 0  # an attribute is known from the account's first week
        else:
            lines.error(hid, "expected_lead_weeks", "missing")
    if len(lines.errors) > before:
        return None
    return Hypothesis(
        id=hid,
        statement=str(item["statement"]).strip(),
        stage=item["stage"],
        expected_lead_weeks=lead,
        action=str(item["action"]).strip(),
        kind=item["kind"],
        **{**lamp, "threshold": None if lamp["threshold"] is None else float(lamp["threshold"])},
    )


def _warn(lines: list[str]) -> None:
    for line in lines:
        warnings.warn(line, ConfigWarning, stacklevel=3)


def load_hypotheses(
    path: str | Path, known_indicators: KnownIndicators | Iterable[str] = ()
) -> list[Hypothesis]:
    """Read and validate a hypotheses file (see `parse_hypotheses`).

    Raises:
        ConfigError: the file is missing, not UTF-8 (the byte offset is named), not valid
            YAML (line and column), or any entry is invalid (every problem, one line each).
    """
    raw = read_yaml(path, "hypotheses file; params.yaml hypotheses.file")
    return parse_hypotheses(raw, str(path), known_indicators)
