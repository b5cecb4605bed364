"""The simulator's settings: `params.yaml` `simulate:` + `base.seed`, validated once.

Pure functions below take a `Spec`, never the raw params dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from churnlab.errors import ConfigError

# Accounts are simulated in fixed blocks of CHUNK, each with its own seed stream, so the
# partitioning of the output (events_partition_accounts) never changes the data.
CHUNK = 250
# Accounts already customers at start_date signed up at most this many weeks before it; their
# whole history is simulated and written, so the data begins PRE_WEEKS before start_date.
PRE_WEEKS = 52

SEGMENTS = ("smb", "mid_market", "enterprise")
GOALS = ("done_for_me", "learn_myself")
TRAJECTORIES = ("fast", "slow_starter", "sluggish")
# `simulate.vocabulary`: the words the company is written in (vocabulary.py).
VOCABULARIES = ("default", "foreign")
# `simulate.shape`: how the export looks (history.py): the full contract history; a billing
# snapshot of accounts + contracts on the last day; or a log of paid-up monthly terms.
SHAPES = ("history", "snapshot", "log_ends_mid_term")

DEFAULT_EFFECTS: dict[str, dict[str, float]] = {
    "key_person_activity_change": {"hazard_ratio": 5.0, "lead_weeks": 8, "window_weeks": 4},
    "nps_unanswered": {"hazard_ratio": 5.0, "lead_weeks": 4, "window_weeks": 6},
    "csm_changed_recently": {"hazard_ratio": 2.5, "lead_weeks": 12, "window_weeks": 8},
    "license_activation_rate": {"hazard_ratio": 2.0, "threshold": 0.5},
    "days_to_onboarding": {"hazard_ratio": 1.8, "threshold": 60},
}


@dataclass(frozen=True)
class Spec:
    seed: int
    n_accounts: int
    start: pd.Timestamp
    end: pd.Timestamp
    annual_share: float
    segment_mix: dict[str, float]
    goal_mix: dict[str, float]
    trajectory_mix: dict[str, float]
    monthly_churn_target: float
    messy: bool = False
    messy_rate: float = 0.01
    events_partition_accounts: int = 2000
    preexisting_share: float = 0.3
    annual_relative_churn: float = 0.5
    segment_hazard: dict[str, float] = field(
        default_factory=lambda: {"smb": 1.25, "mid_market": 1.0, "enterprise": 0.5}
    )
    effects: dict[str, dict[str, float]] = field(default_factory=lambda: dict(DEFAULT_EFFECTS))
    vocabulary: str = "default"
    shape: str = "history"
    reactivation_share: float = 0.0
    midterm_upgrade_share: float = 0.0

    def public_params(self) -> dict[str, Any]:
        """The settings as plain JSON values (recorded in ground_truth.json)."""
        return {
            "n_accounts": self.n_accounts,
            "start_date": self.start.date().isoformat(),
            "end_date": self.end.date().isoformat(),
            "annual_share": self.annual_share,
            "segment_mix": self.segment_mix,
            "goal_mix": self.goal_mix,
            "trajectory_mix": self.trajectory_mix,
            "monthly_churn_target": self.monthly_churn_target,
            "messy": self.messy,
            "messy_rate": self.messy_rate,
            "events_partition_accounts": self.events_partition_accounts,
            "preexisting_share": self.preexisting_share,
            "annual_relative_churn": self.annual_relative_churn,
            "segment_hazard": self.segment_hazard,
            "effects": self.effects,
            "vocabulary": self.vocabulary,
            "shape": self.shape,
            "reactivation_share": self.reactivation_share,
            "midterm_upgrade_share": self.midterm_upgrade_share,
        }


def _mix(sim: dict, key: str, names: tuple[str, ...]) -> dict[str, float]:
    mix = sim.get(key)
    if not isinstance(mix, dict) or set(mix) != set(names):
        raise ConfigError(f"params.yaml: simulate.{key} must map exactly {list(names)} to shares")
    values = {k: float(mix[k]) for k in names}
    if any(v < 0 for v in values.values()) or abs(sum(values.values()) - 1.0) > 1e-6:
        raise ConfigError(f"params.yaml: simulate.{key} shares must be >= 0 and sum to 1")
    return values


def _rate(sim: dict, key: str, default: float, upper: float = 1.0) -> float:
    value = float(sim.get(key, default))
    if not 0.0 <= value <= upper:
        raise ConfigError(f"params.yaml: simulate.{key} must be in [0, {upper}], got {value}")
    return value


def _choice_of(sim: dict, key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = sim.get(key, default)
    if value not in allowed:
        raise ConfigError(
            f"params.yaml: simulate.{key} must be one of {list(allowed)}, got {value!r}"
        )
    return str(value)


def spec_from_params(params: dict[str, Any]) -> Spec:
    """Validate `simulate:` (and `base.seed`); raise ConfigError naming the bad key."""
    sim = params.get("simulate")
    if not isinstance(sim, dict):
        raise ConfigError("params.yaml: the 'simulate' section is missing")
    try:
        seed = int(params["base"]["seed"])
        n_accounts = int(sim["n_accounts"])
        start = pd.Timestamp(sim["start_date"])
        end = pd.Timestamp(sim["end_date"])
    except KeyError as exc:
        raise ConfigError(f"params.yaml: simulate/base key {exc} is missing") from exc
    except ValueError as exc:
        raise ConfigError(f"params.yaml: simulate: bad value ({exc})") from exc
    if n_accounts < 1:
        raise ConfigError("params.yaml: simulate.n_accounts must be >= 1")
    if (end - start).days < 120:
        raise ConfigError(
            "params.yaml: simulate.end_date must be at least 120 days after start_date"
        )
    part = int(sim.get("events_partition_accounts", 2000))
    if part < CHUNK or part % CHUNK:
        raise ConfigError(
            f"params.yaml: simulate.events_partition_accounts must be a multiple of {CHUNK}, got {part}"
        )
    seg_h = sim.get("segment_hazard", {"smb": 1.25, "mid_market": 1.0, "enterprise": 0.5})
    if set(seg_h) != set(SEGMENTS) or any(float(v) <= 0 for v in seg_h.values()):
        raise ConfigError(
            "params.yaml: simulate.segment_hazard must give a positive ratio per segment"
        )
    effects = {k: dict(v) for k, v in DEFAULT_EFFECTS.items()}
    for key, value in (sim.get("effects") or {}).items():
        if key not in effects or not isinstance(value, dict):
            raise ConfigError(f"params.yaml: simulate.effects.{key}: unknown effect")
        effects[key].update({k: float(v) for k, v in value.items()})
    for key, value in effects.items():
        if value["hazard_ratio"] <= 0:
            raise ConfigError(f"params.yaml: simulate.effects.{key}.hazard_ratio must be > 0")
    return Spec(
        seed=seed,
        n_accounts=n_accounts,
        start=start.normalize(),
        end=end.normalize(),
        annual_share=_rate(sim, "annual_share", 0.4),
        segment_mix=_mix(sim, "segment_mix", SEGMENTS),
        goal_mix=_mix(sim, "goal_mix", GOALS),
        trajectory_mix=_mix(sim, "trajectory_mix", TRAJECTORIES),
        monthly_churn_target=_rate(sim, "monthly_churn_target", 0.02, upper=0.5),
        messy=bool(sim.get("messy", False)),
        messy_rate=_rate(sim, "messy_rate", 0.01, upper=0.2),
        events_partition_accounts=part,
        preexisting_share=_rate(sim, "preexisting_share", 0.3),
        annual_relative_churn=float(sim.get("annual_relative_churn", 0.5)),
        segment_hazard={k: float(seg_h[k]) for k in SEGMENTS},
        effects=effects,
        vocabulary=_choice_of(sim, "vocabulary", "default", VOCABULARIES),
        shape=_choice_of(sim, "shape", "history", SHAPES),
        reactivation_share=_rate(sim, "reactivation_share", 0.0),
        midterm_upgrade_share=_rate(sim, "midterm_upgrade_share", 0.0),
    )
