"""The hypotheses file: what a CS lead writes, validated before any statistics run.

Every error names the file, the hypothesis id (or its position) and the field, so a CS lead
can fix the YAML without reading code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from churnlab.errors import ConfigError

# Canonical indicator ids (docs/CONTRACTS.md §3); the panel meta may add more.
CATALOG = frozenset(
    """
    first_login_done days_to_onboarding onboarding_complete training_completed
    license_activation_rate weekly_active_users active_days dau_wau_ratio wau_mau_ratio
    feature_breadth report_feature_used key_person_active key_person_activity_change
    usage_wow_change usage_vs_trailing weeks_since_last_login data_exports tickets_opened
    first_response_hours feature_feedback_tickets event_participation weeks_since_meeting
    weeks_since_dm_meeting nps_unanswered nps_last_score csm_changed_recently weeks_to_renewal
    mrr_change seat_utilisation goal_achieved
    """.split()
)
STAGES = ("trial", "onboarding", "adoption", "renewal")
DIRECTIONS = ("low", "high")
KINDS = ("risk", "opportunity")
FIELDS = "id statement stage indicator direction threshold expected_lead_weeks action kind".split()


@dataclass(frozen=True)
class Hypothesis:
    """One testable claim. `direction` is the side of `threshold` on which the lamp lights:
    for a risk that side should raise churn, for an opportunity it should lower it."""

    id: str
    statement: str
    stage: str
    indicator: str
    direction: str
    threshold: float | None  # None = "suggest": pick it from the data
    expected_lead_weeks: int
    action: str
    kind: str

    @property
    def expected_sign(self) -> int:
        """+1 if the lamp should raise the hazard (risk), -1 if lower it (opportunity)."""
        return 1 if self.kind == "risk" else -1

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["threshold_setting"] = "suggest" if self.threshold is None else self.threshold
        return out


def _field_error(source: str, hid: str, field: str, reason: str) -> ConfigError:
    return ConfigError(f"{source}: hypothesis '{hid}', field '{field}': {reason}")


def parse_hypotheses(
    raw: Any, source: str = "hypotheses.yaml", known_indicators: Iterable[str] = ()
) -> list[Hypothesis]:
    """Validate the parsed YAML (`{"hypotheses": [...]}` or a bare list) into Hypothesis objects."""
    items = raw.get("hypotheses") if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{source}: expected a non-empty list under 'hypotheses:'")
    known = CATALOG | set(known_indicators)
    seen: set[str] = set()
    out = []
    for pos, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ConfigError(f"{source}: hypothesis #{pos} is not a mapping of field: value")
        hid = str(item.get("id") or f"#{pos}")
        if "id" not in item or not str(item["id"]).strip():
            raise _field_error(source, hid, "id", "missing")
        for field in FIELDS:
            if field not in item or item[field] is None or str(item[field]).strip() == "":
                raise _field_error(source, hid, field, "missing")
        unknown = sorted(set(item) - set(FIELDS))
        if unknown:
            raise _field_error(source, hid, unknown[0], f"unknown field (allowed: {FIELDS})")
        if hid in seen:
            raise _field_error(source, hid, "id", "duplicate id")
        seen.add(hid)
        if item["indicator"] not in known:
            raise _field_error(
                source, hid, "indicator", f"unknown indicator id '{item['indicator']}'"
            )
        for field, allowed in (("stage", STAGES), ("direction", DIRECTIONS), ("kind", KINDS)):
            if item[field] not in allowed:
                raise _field_error(
                    source, hid, field, f"'{item[field]}' is not one of {', '.join(allowed)}"
                )
        threshold = item["threshold"]
        if threshold == "suggest":
            threshold = None
        elif isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise _field_error(
                source, hid, "threshold", f"'{threshold}' is not a number or 'suggest'"
            )
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
                indicator=item["indicator"],
                direction=item["direction"],
                threshold=None if threshold is None else float(threshold),
                expected_lead_weeks=lead,
                action=str(item["action"]).strip(),
                kind=item["kind"],
            )
        )
    return out


def load_hypotheses(path: str | Path, known_indicators: Iterable[str] = ()) -> list[Hypothesis]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: hypotheses file not found (params.yaml hypotheses.file)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_hypotheses(raw, str(path), known_indicators)
