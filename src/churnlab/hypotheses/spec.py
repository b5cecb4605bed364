"""The hypotheses file: what a CS lead writes, validated before any statistics run.

Every error names the file, the hypothesis id (or its position) and the field, so a CS lead
can fix the YAML without reading code.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from churnlab.errors import ConfigError

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


def _field_error(source: str, hid: str, field: str, reason: str) -> ConfigError:
    return ConfigError(f"{source}: hypothesis '{hid}', field '{field}': {reason}")


def _blank(item: dict, field: str) -> bool:
    return field not in item or item[field] is None or str(item[field]).strip() == ""


def _attribute_values(source: str, hid: str, raw: Any) -> tuple[str, ...]:
    """`values`: a non-empty list of labels (a single label is accepted), trimmed; duplicates
    that differ only in case are one value."""
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    seen: set[str] = set()
    for v in items:
        if isinstance(v, bool) or not isinstance(v, str | int | float) or not str(v).strip():
            raise _field_error(
                source, hid, "values", f"{v!r} is not a label (give a list like [monthly])"
            )
        key = str(v).strip().casefold()
        if key not in seen:
            seen.add(key)
            out.append(str(v).strip())
    if not out:
        raise _field_error(source, hid, "values", "empty list")
    return tuple(out)


def _parse_attribute(source: str, hid: str, item: dict) -> dict[str, Any]:
    for field in ("direction", "threshold"):
        if field in item:
            raise _field_error(
                source, hid, field,
                "not used with 'attribute' (the lamp is on when the value is one of 'values')",
            )  # fmt: skip
    if item["attribute"] not in ATTRIBUTES:
        raise _field_error(
            source, hid, "attribute",
            f"'{item['attribute']}' is not one of {', '.join(ATTRIBUTES)}",
        )  # fmt: skip
    if _blank(item, "values"):
        raise _field_error(source, hid, "values", "missing (the labels that turn the lamp on)")
    return {
        "indicator": None, "direction": None, "threshold": None,
        "attribute": item["attribute"], "values": _attribute_values(source, hid, item["values"]),
    }  # fmt: skip


def _parse_indicator(source: str, hid: str, item: dict, known: KnownIndicators) -> dict:
    for field in ("values",):
        if field in item:
            raise _field_error(source, hid, field, "only used with 'attribute'")
    for field in ("indicator", "direction", "threshold"):
        if _blank(item, field):
            hint = " (or give 'attribute' and 'values' instead)" if field == "indicator" else ""
            raise _field_error(source, hid, field, f"missing{hint}")
    if item["indicator"] not in known:
        raise _field_error(
            source, hid, "indicator",
            f"unknown indicator id '{item['indicator']}'{known.suggestion(item['indicator'])}; "
            f"{known.listing()}",
        )  # fmt: skip
    if item["direction"] not in DIRECTIONS:
        raise _field_error(
            source, hid, "direction", f"'{item['direction']}' is not one of {', '.join(DIRECTIONS)}"
        )
    threshold = item["threshold"]
    if threshold == "suggest":
        threshold = None
    elif isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise _field_error(source, hid, "threshold", f"'{threshold}' is not a number or 'suggest'")
    return {
        "indicator": item["indicator"], "direction": item["direction"],
        "threshold": None if threshold is None else float(threshold),
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
    optional, default 0), plus id, statement, stage, action, kind."""
    items = raw.get("hypotheses") if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
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
            raise ConfigError(f"{source}: hypothesis #{pos} is not a mapping of field: value")
        hid = str(item.get("id") or f"#{pos}")
        if "id" not in item or not str(item["id"]).strip():
            raise _field_error(source, hid, "id", "missing")
        unknown = sorted(set(item) - set(FIELDS))
        if unknown:
            raise _field_error(source, hid, unknown[0], f"unknown field (allowed: {FIELDS})")
        is_attribute = "attribute" in item
        if is_attribute and "indicator" in item:
            raise _field_error(
                source, hid, "attribute",
                "give either 'indicator' (with direction, threshold) or 'attribute' (with "
                "values), not both",
            )  # fmt: skip
        for field in COMMON:
            if _blank(item, field):
                raise _field_error(source, hid, field, "missing")
        if hid in seen:
            raise _field_error(source, hid, "id", "duplicate id")
        seen.add(hid)
        for field, allowed in (("stage", STAGES), ("kind", KINDS)):
            if item[field] not in allowed:
                raise _field_error(
                    source, hid, field, f"'{item[field]}' is not one of {', '.join(allowed)}"
                )
        lamp = (
            _parse_attribute(source, hid, item)
            if is_attribute
            else _parse_indicator(source, hid, item, known)
        )
        if is_attribute and _blank(item, "expected_lead_weeks"):
            lead: Any = 0  # an attribute is known from the account's first week
        elif _blank(item, "expected_lead_weeks"):
            raise _field_error(source, hid, "expected_lead_weeks", "missing")
        else:
            lead = item["expected_lead_weeks"]
        if isinstance(lead, bool) or not isinstance(lead, int) or lead < 0:
            raise _field_error(
                source, hid, "expected_lead_weeks", f"'{lead}' is not a whole number >= 0"
            )
        out.append(
            Hypothesis(
                id=hid,
                statement=str(item["statement"]).strip(),
                stage=item["stage"],
                expected_lead_weeks=lead,
                action=str(item["action"]).strip(),
                kind=item["kind"],
                **lamp,
            )
        )
    return out


def load_hypotheses(
    path: str | Path, known_indicators: KnownIndicators | Iterable[str] = ()
) -> list[Hypothesis]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: hypotheses file not found (params.yaml hypotheses.file)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_hypotheses(raw, str(path), known_indicators)
