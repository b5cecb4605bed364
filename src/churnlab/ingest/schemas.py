"""The raw data contract (CONTRACTS.md §1) declared once: column kinds, pandera schemas, keys.

Each table is a `TableSpec`; `pandera_schema(spec)` turns it into the pandera schema that
accepted rows must satisfy. Check names are the quarantine reason codes, so a pandera failure
case maps straight to the reason a row is rejected.

Labels (segment, goal, region, plan, role, ticket category, touchpoint kind, milestone,
event type) are the company's own words: any text is accepted and kept as written. Only a
column whose values churnlab must compute with is closed (billing_period: monthly / annual),
and the user maps their labels onto it with a `vocabulary` param.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

# Column kinds: how a raw value is parsed (see parse.py). LABEL is free text like TEXT
# (trimmed, kept as written); the separate kind marks columns whose values downstream stages
# group by or give a meaning through `vocabulary`. CATEGORY is a closed set reached through a
# vocabulary map.
ID, TEXT, LABEL, CATEGORY, DATE, TIMESTAMP, FLOAT, INT = (
    "id",
    "text",
    "label",
    "category",
    "date",
    "timestamp",
    "float",
    "int",
)

STRING_DTYPE = pd.StringDtype("pyarrow")  # compact for millions of event rows
DTYPES = {
    ID: STRING_DTYPE,
    TEXT: STRING_DTYPE,
    LABEL: STRING_DTYPE,
    CATEGORY: STRING_DTYPE,
    DATE: "datetime64[ns]",
    TIMESTAMP: "datetime64[ns, UTC]",
    FLOAT: "float64",
    INT: "Int64",
}

# Every reason code, in priority order: a row failing several checks gets the first one.
# Unparseable values are null after parsing, so they must outrank blank_required.
REASONS = [
    "unparseable_date",
    "implausible_date",  # before ingest.earliest_date or on/after ingest.latest_date
    "unparseable_number",
    "blank_required",
    "invalid_category",
    "negative_mrr",
    "out_of_range",
    "time_order",
    "unknown_account",
    "account_rejected",  # the account exists, but its own row was quarantined
    "before_signup",
    "after_contract_end",
    "duplicate",  # only among rows passing every check above
    "duplicate_key",
]


@dataclass(frozen=True)
class Col:
    kind: str
    required: bool = False  # a blank value rejects the row (blank_required)
    optional_column: bool = False  # the file may lack the column; it is added as all-null
    allowed: tuple[str, ...] | None = None  # closed category set (invalid_category)
    vocabulary: str | None = None  # params key `vocabulary.<name>` mapping labels to `allowed`
    min_value: float | None = None  # below it: out_of_range (negative_mrr for mrr)
    max_value: float | None = None
    # An end date: on or after ingest.latest_date (2999-12-31, 9999-12-31) it means "no end"
    # and is read as null (open-ended), counted in tables.json `open_ended_end_dates`.
    open_end: bool = False


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: dict[str, Col]
    sort: tuple[str, ...]
    key: str | None = None  # unique id column (duplicate_key)
    time_order: tuple[tuple[str, str], ...] = ()  # (earlier, later): later < earlier is rejected
    activity: str | None = None  # time column checked against signup / contract end
    after_end_check: bool = True  # activity after the last contract ended is rejected
    needs_account: bool = True  # account_id must exist in accounts (unknown_account)
    coverage: str | None = None  # column whose min/max is reported as date coverage

    @property
    def required_columns(self) -> list[str]:
        return [c for c, spec in self.columns.items() if not spec.optional_column]


BILLING_PERIODS = ("monthly", "annual")

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in [
        TableSpec(
            "accounts",
            {
                "account_id": Col(ID, required=True),
                "name": Col(TEXT, optional_column=True),
                "signup_date": Col(DATE, required=True),
                "segment": Col(LABEL, required=True),
                "customer_goal": Col(LABEL, optional_column=True),
                "region": Col(LABEL, optional_column=True),
            },
            sort=("account_id",),
            key="account_id",
            needs_account=False,
            coverage="signup_date",
        ),
        TableSpec(
            "contracts",
            {
                "contract_id": Col(ID, required=True),
                "account_id": Col(ID, required=True),
                "start_date": Col(DATE, required=True),
                "end_date": Col(DATE, open_end=True),
                "billing_period": Col(
                    CATEGORY,
                    required=True,
                    allowed=BILLING_PERIODS,
                    vocabulary="billing_period",
                ),
                "plan": Col(LABEL, optional_column=True),
                "mrr": Col(FLOAT, required=True, min_value=0.0),
                "seats": Col(INT, required=True, min_value=1),
                "cancelled_at": Col(DATE, optional_column=True),
                "cancel_reason": Col(TEXT, optional_column=True),
            },
            sort=("account_id", "start_date", "contract_id"),
            key="contract_id",
            time_order=(("start_date", "end_date"),),
            coverage="start_date",
        ),
        TableSpec(
            "users",
            {
                "user_id": Col(ID, required=True),
                "account_id": Col(ID, required=True),
                "role": Col(LABEL, required=True),
                "invited_at": Col(TIMESTAMP, required=True),
                "activated_at": Col(TIMESTAMP),
            },
            sort=("account_id", "user_id"),
            key="user_id",
            time_order=(("invited_at", "activated_at"),),
            activity="invited_at",
            after_end_check=False,  # users rows describe people, not activity
            coverage="invited_at",
        ),
        TableSpec(
            "events",
            {
                "account_id": Col(ID, required=True),
                "user_id": Col(ID, required=True),
                "occurred_at": Col(TIMESTAMP, required=True),
                "event_type": Col(LABEL, required=True),
            },
            sort=("account_id", "occurred_at", "user_id", "event_type"),
            activity="occurred_at",
            coverage="occurred_at",
        ),
        TableSpec(
            "tickets",
            {
                "ticket_id": Col(ID, required=True),
                "account_id": Col(ID, required=True),
                "opened_at": Col(TIMESTAMP, required=True),
                "first_response_at": Col(TIMESTAMP),
                "closed_at": Col(TIMESTAMP),
                "category": Col(LABEL),
            },
            sort=("account_id", "opened_at", "ticket_id"),
            key="ticket_id",
            time_order=(("opened_at", "first_response_at"), ("opened_at", "closed_at")),
            activity="opened_at",
            coverage="opened_at",
        ),
        TableSpec(
            "surveys",
            {
                "survey_id": Col(ID, required=True),
                "account_id": Col(ID, required=True),
                "user_id": Col(ID),
                "sent_at": Col(TIMESTAMP, required=True),
                "answered_at": Col(TIMESTAMP),
                "nps_score": Col(FLOAT, min_value=0, max_value=10),
            },
            sort=("account_id", "sent_at", "survey_id"),
            key="survey_id",
            time_order=(("sent_at", "answered_at"),),
            activity="sent_at",
            coverage="sent_at",
        ),
        TableSpec(
            "touchpoints",
            {
                "account_id": Col(ID, required=True),
                "occurred_at": Col(TIMESTAMP, required=True),
                "kind": Col(LABEL, required=True),
                "csm_id": Col(ID, optional_column=True),
            },
            sort=("account_id", "occurred_at", "kind"),
            activity="occurred_at",
            coverage="occurred_at",
        ),
        TableSpec(
            "csm_assignments",
            {
                "account_id": Col(ID, required=True),
                "csm_id": Col(ID, required=True),
                "start_date": Col(DATE, required=True),
                "end_date": Col(DATE, open_end=True),
            },
            sort=("account_id", "start_date", "csm_id"),
            time_order=(("start_date", "end_date"),),
            coverage="start_date",
        ),
        TableSpec(
            "milestones",
            {
                "account_id": Col(ID, required=True),
                "milestone": Col(LABEL, required=True),
                "achieved_at": Col(TIMESTAMP, required=True),
            },
            sort=("account_id", "achieved_at", "milestone"),
            activity="achieved_at",
            coverage="achieved_at",
        ),
    ]
}

# Accounts first (everything checks account_id against them), then contracts (the
# after_contract_end check needs each account's last contract end), then the rest.
TABLE_ORDER = list(TABLES)


def _range_check(name: str, lo: float | None, hi: float | None) -> pa.Check:
    def ok(s: pd.Series) -> pd.Series:
        inside = pd.Series(True, index=s.index)
        if lo is not None:
            inside &= s >= lo
        if hi is not None:
            inside &= s <= hi
        return inside | s.isna()

    return pa.Check(ok, name=name)


def _category_check(allowed: tuple[str, ...]) -> pa.Check:
    return pa.Check(lambda s: s.isin(allowed) | s.isna(), name="invalid_category")


def _time_order_check(pairs: tuple[tuple[str, str], ...]) -> pa.Check:
    def ok(df: pd.DataFrame) -> pd.Series:
        good = pd.Series(True, index=df.index)
        for earlier, later in pairs:
            # A null on either side cannot be out of order.
            good &= ~(df[later] < df[earlier]).fillna(False).astype(bool)
        return good

    return pa.Check(ok, name="time_order")


def pandera_schema(spec: TableSpec) -> pa.DataFrameSchema:
    """The schema accepted rows of `spec` satisfy (typed columns, as parse.py produces them)."""
    columns = {}
    for name, col in spec.columns.items():
        checks = []
        if col.allowed is not None:
            checks.append(_category_check(col.allowed))
        if col.min_value is not None or col.max_value is not None:
            reason = "negative_mrr" if name == "mrr" else "out_of_range"
            checks.append(_range_check(reason, col.min_value, col.max_value))
        columns[name] = pa.Column(DTYPES[col.kind], checks=checks, nullable=not col.required)
    checks = [_time_order_check(spec.time_order)] if spec.time_order else []
    # strict=False: extra user columns travel along but are dropped before writing.
    return pa.DataFrameSchema(columns, checks=checks, strict=False)
