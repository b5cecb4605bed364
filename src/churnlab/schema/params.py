"""The schema of params.yaml: every section and key, its type, range and allowed values.

`validate_params(raw)` checks the whole parsed file once and returns every problem (errors
and unknown-key warnings), one line each. The stages still read the plain dict with their own
defaults; a default here only documents the stage's default (it is never filled in).

Adding a key: add a field to its section's model below, typed and ranged, with the default
the stage uses (`= None` plus a `description` if null means something), then read it in the
stage with the same default. A key the schema lacks is warned about as unknown.

Names of tables, meanings, segments, effects and verdicts are written out here (importing
the modules that define them would load pandas/pandera before any stage runs);
tests/config/test_params_schema.py checks that they equal the definitions.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import zoneinfo
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, create_model, model_validator

from churnlab.indicators.vocabulary import PANEL_KINDS
from churnlab.schema.problems import Problems, Section, problems_of, show

# --- names defined elsewhere (see the module docstring) ----------------------------------
TableName = Literal[
    "accounts", "contracts", "users", "events", "tickets", "surveys", "touchpoints",
    "csm_assignments", "milestones",
]  # fmt: skip  # ingest.schemas.TABLE_ORDER
BILLING_MEANINGS = ("monthly", "annual")  # ingest.vocabulary.CLOSED["billing_period"]
SEGMENTS = ("smb", "mid_market", "enterprise")  # simulate.spec
GOALS = ("done_for_me", "learn_myself")
TRAJECTORIES = ("fast", "slow_starter", "sluggish")
EFFECTS = (
    "key_person_activity_change", "nps_unanswered", "csm_changed_recently",
    "license_activation_rate", "days_to_onboarding",
)  # fmt: skip  # simulate.spec.DEFAULT_EFFECTS
Verdict = Literal[
    "leads churn", "too late to act on", "no evidence", "opposite direction", "inconclusive",
    "not testable",
]  # fmt: skip  # hypotheses.verdict (the verdicts a risk lamp can get)

# Keys that were read once and are refused now, with the message their stage gives.
REMOVED = {
    ("panel", "as_of"): "is no longer read; set base.as_of instead (the one as-of date of the "
    "whole pipeline, applied by ingest)",
}


# --- value types --------------------------------------------------------------------------
def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("expected non-blank text")
    return value


def _date_check(nullable: bool, null_means: str = "") -> AfterValidator:
    """A YAML date (2024-01-01 unquoted) or the text YYYY-MM-DD; null only if `nullable`."""

    def check(value: Any) -> Any:
        if value is None and nullable:
            return value
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                dt.date.fromisoformat(value.strip())
                return value
            except ValueError:
                pass
        extra = f" or null ({null_means})" if nullable else ""
        raise ValueError(f"expected a date YYYY-MM-DD{extra}")

    return AfterValidator(check)


def _zone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            "expected an IANA time zone, e.g. UTC, Asia/Tokyo, America/New_York"
        ) from None
    return value


def _encoding(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError("expected a text encoding, e.g. utf-8, cp932 (Shift-JIS)") from None
    return value


def _null_text(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        raise ValueError(
            'expected text; YAML reads unquoted null/yes/no as values, write them in quotes: "null"'
        )
    if not isinstance(value, str | int | float) or not str(value).strip():
        raise ValueError("expected non-blank text")
    return value


def _labels(numbers: bool, nullable: bool) -> AfterValidator:
    """A list of the user's labels (a single label may be written without brackets)."""

    def check(value: Any) -> Any:
        if value is None and nullable:
            return value
        items = [value] if isinstance(value, str) else value
        kinds = (str, int, float) if numbers else (str,)
        if not isinstance(items, list) or not all(
            isinstance(v, kinds) and not isinstance(v, bool) and str(v).strip() for v in items
        ):
            raise ValueError("expected a list of your labels, e.g. [login, app_open]")
        return value

    return AfterValidator(check)


def _report_labels(value: Any) -> Any:
    if value is not None and not (
        isinstance(value, list)
        and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(
            "expected null (one page per value in the data) or a list of labels, e.g. [smb]"
        )
    return value


def _indicator_ids(value: Any) -> Any:
    """`panel.indicators`: "all" (or null) or a list of ids; the panel checks the ids."""
    if value is None or value == "all":
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError('expected "all" or a list of indicator ids, e.g. [active_days, mau]')
    return value


def _memory_size(value: str) -> str:
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*[KMGT]?i?B\s*", value, flags=re.IGNORECASE):
        raise ValueError("expected a memory size, e.g. 4GB or 512MB")
    return value


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.datetime | dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    return dt.date.fromisoformat(str(value).strip())


def _scalar(value: Any) -> Any:
    if not isinstance(value, str | int | float | bool):
        raise ValueError("expected one value (text, a number or true/false)")
    return value


def _weeks(value: Any) -> Any:
    items = value if isinstance(value, list) else [value]
    if not items or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in items
    ):
        raise ValueError("expected a whole number of weeks >= 1 or a non-empty list of them")
    return value


Text = Annotated[str, AfterValidator(_non_blank)]
Scalar = Annotated[Any, AfterValidator(_scalar)]
Whole0 = Annotated[int, Field(ge=0)]
Whole1 = Annotated[int, Field(ge=1)]
Share = Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[float, Field(gt=0)]


# --- base ---------------------------------------------------------------------------------
def _folder(example: str) -> Any:
    return Field(description=f"a folder path (text), e.g. {example}")


class Base(Section):
    seed: Whole0
    raw_dir: Text = _folder("data/raw")
    interim_dir: Text = _folder("data/interim")
    processed_dir: Text = _folder("data/processed")
    models_dir: Text = _folder("models")
    reports_dir: Text = _folder("reports")
    as_of: Annotated[Any, _date_check(True, "the latest date in the data")] = None


# --- vocabulary ---------------------------------------------------------------------------
class Kind(Section):
    unknown_keys: ClassVar[str] = "error"  # ingest / panel stop on an unknown meaning


class BillingPeriod(Kind):
    # Ingest reads each label as text (numbers too); null is not a list there.
    monthly: Annotated[Any, _labels(numbers=True, nullable=False)] = None
    annual: Annotated[Any, _labels(numbers=True, nullable=False)] = None

    @model_validator(mode="after")
    def _one_meaning_per_label(self) -> BillingPeriod:
        owner: dict[str, str] = {}
        for meaning in BILLING_MEANINGS:
            labels = getattr(self, meaning)
            for label in [labels] if isinstance(labels, str) else labels or []:
                key = str(label).strip().lower()
                if owner.setdefault(key, meaning) != meaning:
                    raise ValueError(
                        f"label '{label}' is under both {owner[key]} and {meaning}; "
                        "expected each label under one meaning"
                    )
        return self


def _kind_model(kind: str, meanings: tuple[str, ...]) -> type[Kind]:
    labels = Annotated[Any, _labels(numbers=False, nullable=True)]
    return create_model(  # type: ignore[call-overload]
        f"Vocabulary_{kind}", __base__=Kind, **{m: (labels, None) for m in meanings}
    )


Vocabulary = create_model(  # type: ignore[call-overload]
    "Vocabulary",
    __base__=Kind,  # the panel stops on an unknown kind too
    billing_period=(BillingPeriod | None, None),
    **{kind: (_kind_model(kind, m) | None, None) for kind, m in PANEL_KINDS.items()},
)


# --- simulate -----------------------------------------------------------------------------
class _Mix(Section):
    unknown_keys: ClassVar[str] = "error"  # the simulator needs exactly these names

    @model_validator(mode="after")
    def _sums_to_one(self) -> _Mix:
        total = sum(getattr(self, k) for k in type(self).model_fields)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1 (they sum to {total:g})")
        return self


class SegmentMix(_Mix):
    smb: Share
    mid_market: Share
    enterprise: Share


class GoalMix(_Mix):
    done_for_me: Share
    learn_myself: Share


class TrajectoryMix(_Mix):
    fast: Share
    slow_starter: Share
    sluggish: Share


class SegmentHazard(Section):
    unknown_keys: ClassVar[str] = "error"
    smb: Positive
    mid_market: Positive
    enterprise: Positive


class Effect(Section):
    hazard_ratio: Positive | None = None
    lead_weeks: Annotated[float, Field(ge=0)] | None = None
    window_weeks: Annotated[float, Field(gt=0)] | None = None
    threshold: float | None = None


class _Effects(Section):
    unknown_keys: ClassVar[str] = "error"  # simulate refuses an unknown effect


Effects = create_model(  # type: ignore[call-overload]
    "Effects", __base__=_Effects, **{name: (Effect | None, None) for name in EFFECTS}
)


class Simulate(Section):
    n_accounts: Whole1
    start_date: Annotated[Any, _date_check(False)]
    end_date: Annotated[Any, _date_check(False)]
    annual_share: Share = 0.4
    segment_mix: SegmentMix
    goal_mix: GoalMix
    trajectory_mix: TrajectoryMix
    monthly_churn_target: Annotated[float, Field(ge=0, le=0.5)] = 0.02
    messy: bool = False
    messy_rate: Annotated[float, Field(ge=0, le=0.2)] = 0.01
    vocabulary: Literal["default", "foreign"] = "default"
    shape: Literal["history", "snapshot", "log_ends_mid_term"] = "history"
    reactivation_share: Share = 0.0
    midterm_upgrade_share: Share = 0.0
    events_partition_accounts: Annotated[int, Field(ge=250, multiple_of=250)] = Field(
        2000, description="a whole number of accounts, a multiple of 250 (e.g. 2000)"
    )
    preexisting_share: Share = 0.3
    annual_relative_churn: Annotated[float, Field(ge=0)] = 0.5
    segment_hazard: SegmentHazard | None = None
    effects: Effects | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _long_enough(self) -> Simulate:
        start, end = _as_date(self.start_date), _as_date(self.end_date)
        if (end - start).days < 120:
            raise ValueError(f"end_date {end} must be at least 120 days after start_date {start}")
        return self


COLUMNS = "a mapping {their_column: our_column}, e.g. {Customer ID: account_id}"


# --- ingest -------------------------------------------------------------------------------
class Ingest(Section):
    source_timezone: Annotated[Text | None, AfterValidator(_zone)] = "UTC"
    column_map: dict[TableName, Annotated[dict[Text, Text], Field(description=COLUMNS)]] | None = Field(
        None, description="a mapping {table: {their_column: our_column}}, e.g. "
        "{accounts: {Customer ID: account_id}}",
    )  # fmt: skip
    required_tables: list[TableName] | None = Field(
        None, description="a list of table names, e.g. [accounts, contracts]"
    )
    encoding: Annotated[Text | None, AfterValidator(_encoding)] = "utf-8"
    grace_days: Whole0 = 30
    null_values: list[Annotated[Any, AfterValidator(_null_text)]] | None = Field(
        None, description='a list of texts that mean "no value", e.g. ["NULL", "n/a"]'
    )
    reactivation_gap_days: Annotated[int, Field(ge=7)] = 30
    renewal_grace_days: Whole0 = 35
    # plausible dates: a date outside [earliest_date, latest_date) is quarantined (null = default)
    earliest_date: Annotated[Any, _date_check(True, "1990-01-01")] = None
    latest_date: Annotated[Any, _date_check(True, "2090-01-01")] = None
    # out-of-core staging and sorting (issue 17)
    duckdb_threads: Whole1 = 2
    duckdb_memory_limit: Annotated[Text, AfterValidator(_memory_size)] = "2GB"
    temp_dir: Text | None = None

    @model_validator(mode="after")
    def _window(self) -> Ingest:
        earliest = _as_date(self.earliest_date) or dt.date(1990, 1, 1)
        latest = _as_date(self.latest_date) or dt.date(2090, 1, 1)
        if earliest >= latest:
            raise ValueError(f"earliest_date {earliest} must be before latest_date {latest}")
        return self


# --- panel --------------------------------------------------------------------------------
class Panel(Section):
    freq: Literal["W-MON"] = "W-MON"
    trailing_weeks: Whole1 = 4
    mau_weeks: Whole1 = 4
    window_weeks: Whole1 = 4
    csm_change_weeks: Whole1 = 8
    nps_answer_days: Whole0 = 14
    indicators_file: Text | None = None
    indicators: Annotated[Any, AfterValidator(_indicator_ids)] = "all"
    engine: Literal["duckdb", "spark"] = "duckdb"
    duckdb_memory_limit: Annotated[Text, AfterValidator(_memory_size)] = "4GB"
    # Spark: null master / driver memory = left to spark-submit
    spark_master: Text | None = "local[2]"
    spark_driver_memory: Text | None = "1g"
    spark_conf: dict[Text, Scalar] | None = Field(
        None, description="a mapping {spark setting: value}, e.g. {spark.sql.shuffle.partitions: 8}"
    )


# --- hypotheses ---------------------------------------------------------------------------
class Hypotheses(Section):
    file: Text = "hypotheses.yaml"
    lags: list[Whole0] = Field(min_length=1)
    adjust_for: list[Text] | None = None
    horizon_weeks: Whole1
    min_actionable_lead_weeks: Whole0
    fdr_alpha: Annotated[float, Field(gt=0, lt=1)]
    min_effect_hr: Annotated[float, Field(ge=1)] = 1.0
    rule_out_hr: Annotated[float, Field(gt=1)] | None = None
    min_events: Whole0
    min_accounts: Whole0
    min_state_events: Annotated[float, Field(ge=0)] = 1
    threshold_min_recall: Share
    bootstrap_reps: Whole1
    landmark_weeks: list[Whole0] = [13, 26, 52]
    landmark_follow_weeks: Whole1 = 26
    combined_penalizer: Annotated[float, Field(ge=0)] = 1.0
    max_share_lit: Annotated[float, Field(gt=0, le=1)] = 0.2
    min_lightings: Whole0 = 20
    budget_objective: Literal["chi_square", "precision", "lift"] = "chi_square"
    # lamp alerts: on/off delays tried (weeks; one number = that delay only), minimum lift
    alert_on_weeks: Annotated[Any, AfterValidator(_weeks)] = [1, 2, 3, 4]
    alert_off_weeks: Annotated[Any, AfterValidator(_weeks)] = [1, 2, 4]
    alert_min_lift: Positive = 2.0
    # independent hypotheses fitted in this many worker processes (1 = in-process)
    workers: Whole1 = 1
    sampling: HypothesesSampling | None = None


class HypothesesSampling(Section):
    # Cox fits of the lead profile: auto = case-cohort above max_rows panel rows
    design: Literal["auto", "full", "case_cohort"] = "auto"
    max_rows: Whole1 = 5_000_000
    subcohort_fraction: Annotated[float, Field(gt=0, le=1)] = 0.5


# --- kpis ---------------------------------------------------------------------------------
class Kpis(Section):
    cohort_months: Whole0 = 12
    headline_months: Whole1 = 12
    observation_start: Annotated[Any, _date_check(True, "the earliest contract start")] = None


# --- health_score -------------------------------------------------------------------------
class BandProbabilities(Section):
    red: Annotated[float, Field(gt=0, lt=1)] = 0.25
    amber: Annotated[float, Field(gt=0, lt=1)] = 0.10

    @model_validator(mode="after")
    def _ordered(self) -> BandProbabilities:
        if not self.amber < self.red:
            raise ValueError(f"needs amber < red (got amber={self.amber}, red={self.red})")
        return self


class Maturity(Section):
    onboarding_weeks: Whole0 = 12
    expansion_weeks: Whole0 = 52


class HealthScore(Section):
    train_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.6
    horizon_weeks: Whole1 = 12
    band_probabilities: BandProbabilities | None = None
    bootstrap_reps: Whole1 = 200
    action_verdicts: list[Verdict] = ["leads churn"]
    maturity: Maturity | None = None
    observation_start: Annotated[Any, _date_check(True, "the first panel week")] = None
    calibration_weeks: Whole1 = 12
    recalibration_alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    capacity: Whole1 = 10
    new_weeks: Whole1 = 2
    chronic_weeks: Whole1 = 12

    @model_validator(mode="after")
    def _new_before_chronic(self) -> HealthScore:
        if self.new_weeks > self.chronic_weeks:
            raise ValueError(
                f"needs new_weeks <= chronic_weeks (got new_weeks={self.new_weeks}, "
                f"chronic_weeks={self.chronic_weeks})"
            )
        return self


# --- reports ------------------------------------------------------------------------------
class Reports(Section):
    language: Literal["en", "ja"] = "en"
    kernel: Text = "churnlab"
    notebooks_dir: Text = "notebooks"
    segments: Annotated[Any, AfterValidator(_report_labels)] = None
    customer_goals: Annotated[Any, AfterValidator(_report_labels)] = None
    workers: Whole1 = 2
    pages_per_kernel: Whole1 | None = None  # null = a kernel renders any number of pages
    start_timeout: Annotated[float, Field(gt=0)] = 300


# --- the file -----------------------------------------------------------------------------
class Params(Section):
    base: Base
    vocabulary: Vocabulary | None = None  # type: ignore[valid-type]
    simulate: Simulate | None = None
    ingest: Ingest | None = None
    panel: Panel | None = None
    # required: the hypotheses stage has no default for most of its keys
    hypotheses: Hypotheses
    kpis: Kpis | None = None
    health_score: HealthScore | None = None
    reports: Reports | None = None


def validate_params(raw: Any, source: str = "params.yaml") -> Problems:
    """Every problem of a parsed params.yaml: errors (the stages would fail or misread the
    value) and warnings (unknown keys and sections, which no stage reads), one line each."""
    if not isinstance(raw, dict):
        return Problems(
            errors=[
                f"{source}: expected a mapping of sections (base:, ingest:, ...), got {show(raw)}"
            ]
        )
    out = Problems()
    data = dict(raw)
    for (section, key), advice in REMOVED.items():
        block = data.get(section)
        if isinstance(block, dict) and key in block:
            if block[key] is not None:
                out.errors.append(f"{source}: {section}.{key}={block[key]!r} {advice}")
            data[section] = {k: v for k, v in block.items() if k != key}
    out.extend(problems_of(Params, data, source))
    return out
