"""`churnlab kpis`: subscription KPIs from ingest's contract terms and spells.

Reads data/interim/{contract_terms,spells,accounts}.parquet and tables.json (its "as_of", the
one as-of date of the pipeline), writes models/kpis.json, data/processed/kpi_tables/*.parquet
and metrics/kpis.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from churnlab.config import base_path, metrics_path
from churnlab.errors import ConfigError, UserError
from churnlab.io import read_json, write_json, write_metrics, write_parquet
from churnlab.kpis.cohorts import cohort_retention
from churnlab.kpis.monthly import (
    account_months,
    complete_months,
    monthly_series,
    summarise,
    trailing_retention,
)
from churnlab.kpis.spells import (
    check_terms,
    spell_subjects,
    state_at,
    terms_in_force,
)
from churnlab.kpis.survival import durations, km_curves, median_months

TERM_COLUMNS = [
    "account_id", "spell", "contract_id", "start_date", "end_date", "billing_period", "mrr",
]  # fmt: skip
SPELL_COLUMNS = ["account_id", "spell", "start_date", "end_date", "churned", "censored_reason"]
ACCOUNT_COLUMNS = ["account_id", "segment", "customer_goal"]

DEFINITIONS = {
    "spells": "An account's history is split by ingest into spells: runs of contract terms "
    "without a gap longer than ingest.reactivation_gap_days. Terms are non-overlapping "
    "pieces (a later contract row supersedes an earlier one from its start), so on any day an "
    "account has at most one MRR.",
    "active_accounts": "Accounts with a term in force (start_date <= day < end_date, or no "
    "end_date) on the last day of the previous month (the month's opening state); a month's "
    "closing state is its own last day, so a change effective on day d counts in d's month.",
    "logo_churn": "A spell churns when its last term has ended (end_date <= as_of) with no "
    "successor within the reactivation gap; the churn date is that end_date (the first day "
    "without service) and counts in its month. A cancellation notice (cancelled_at) does not "
    "churn by itself: the account leaves at the term end.",
    "censoring": "A spell that has not churned by as_of is censored: still running, or its "
    "last term ended within ingest.renewal_grace_days before as_of with no notice (its renewal "
    "cannot be observed yet). A censored spell is not churn: it stays active at its last MRR "
    "up to as_of and is censored at as_of in the KM curves.",
    "reactivation": "A spell after the first (an account that churned and came back) starts "
    "a reactivation: counted in reactivated_accounts and reactivated_mrr, not as a new "
    "account; its earlier churn still counts in the month it happened.",
    "logo_churn_rate": "churned_accounts (accounts active on the month's opening whose spell "
    "ended in the month) divided by active_accounts.",
    "mrr_bridge": "Each account's spell and MRR at the month's opening (s) are compared with "
    "those on its last day (e). Same spell: expansion_mrr += e - s if it grew, "
    "contraction_mrr += s - e if it shrank. Opening spell ended: churned_mrr += s. Closing "
    "spell started in the month: new_mrr += e for a first spell, reactivated_mrr += e for a "
    "later one. mrr_end = mrr_start + new + reactivated + expansion - contraction - churned. "
    "Changes within a month net out; a spell starting and ending in one month is in no line.",
    "grr": "Gross revenue retention = (mrr_start - contraction_mrr - churned_mrr) / mrr_start; "
    "expansion, new and reactivated MRR are excluded, so GRR <= 100%.",
    "nrr": "Net revenue retention = (mrr_start + expansion_mrr - contraction_mrr - "
    "churned_mrr) / mrr_start; new and reactivated MRR are excluded.",
    "pooled_rates": "Headline monthly rates pool the last complete months, at most "
    "kpis.headline_months of them (headline.months_pooled says how many; window_months which): "
    "sum of numerators / sum of denominators.",
    "grr_12m_nrr_12m": "Accounts active on the last day of the month 12 months before the last "
    "complete month: their MRR then vs on the last complete month's last day in the same spell "
    "(revenue after a churn and reactivation does not count); GRR caps each account at its "
    "earlier MRR. Null when the 12 months are not all observed.",
    "cohort_retention": "Cohorts by the month the account's first spell started; retained at "
    "months_since k = has a term in force (in any spell) on the last day of month k since that "
    "start (k = 0 is the start month). Cohorts starting before observation_start's month are "
    "omitted; unobserved cells omitted.",
    "km_curves": "Kaplan-Meier logo retention per spell: each spell is a subject from its own "
    "start (months = days / 30.4375), the event is its churn, censored at as_of. A spell "
    "enters observation at max(its start, observation_start) (left truncation) and risk sets "
    "are (entry, exit]: at_risk counts spells at risk just before each time (the first row, "
    "months 0 and survival 1, is the origin: its at_risk counts spells observed from their "
    "start). Repeated spells "
    "of one account are treated as independent subjects (intervals not clustered). "
    "billing_period and plan are those of the spell's first term.",
    "headline_counts": "accounts_ever = accounts with a contract term (accounts without one are "
    "counted by ingest in tables.json, not here); accounts_churned = accounts whose latest "
    "spell churned (not customers at as_of); churned_spells = all churns, a returning account's "
    "included; reactivations = spells after an account's first; active_accounts_now and "
    "mrr_now = terms in force on as_of.",
    "complete_months": "Only months whose last day is on or before as_of are reported.",
    "observation_start": "First day churn is taken as recorded: kpis.observation_start, else "
    "the earliest contract start (the history is taken as complete, nothing is truncated). A "
    "later date means accounts that started before it are in the data only because they "
    "survived to it: the monthly series starts in its month, cohorts that started before it "
    "are omitted, and KM lets those spells enter the risk set at that date.",
}


SNAPSHOT_DEFINITION = (
    "Snapshot export (tables.json snapshot): every churn is dated the export day, so the "
    "headline monthly rates are the export month's alone (months_pooled 1: churn in that "
    "month over the accounts active at its start), 12-month GRR/NRR are not computed (MRR "
    "before the export is unknown) and the monthly series shows churn only in that month. "
    "Retention by tenure (Kaplan-Meier) uses every account's known start."
)


def _read_table(interim: Path, name: str, columns: list[str]) -> pd.DataFrame:
    path = interim / f"{name}.parquet"
    if not path.exists():
        raise UserError(f"{path}: not found (run `churnlab ingest` first)")
    df = pd.read_parquet(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}")
    return df


def read_as_of(tables_meta: dict[str, Any], path: Path) -> pd.Timestamp:
    """tables.json "as_of" (ingest decides it once for the whole pipeline)."""
    value = tables_meta.get("as_of")
    if not value:
        raise UserError(f'{path}: no "as_of" field (re-run `churnlab ingest`, which records it)')
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError) as exc:
        raise UserError(f'{path}: "as_of" is not a date: {value!r}') from exc


def parse_observation_start(value: Any) -> pd.Timestamp | None:
    """kpis.observation_start: null or a date."""
    if value is None or value == "":
        return None
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"params.yaml: kpis.observation_start must be null or a date, got {value!r}"
        ) from exc


def compute_kpis(
    terms: pd.DataFrame,
    spells: pd.DataFrame,
    accounts: pd.DataFrame,
    as_of: pd.Timestamp,
    headline_months: int,
    cohort_months: int,
    observation_start: pd.Timestamp | None = None,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """All KPI numbers (JSON-ready dict) and report tables (monthly, cohort_retention,
    km_curves) from typed contract_terms / spells / accounts.

    observation_start: None = the earliest contract start (no left truncation). A later date:
    the monthly series starts in its month, cohorts that started earlier are left out and KM
    spells that started earlier enter the risk set at that date. Accounts without any term are
    not in any number (ingest counts them)."""
    check_terms(terms, spells)
    spells = spells[spells["start_date"] <= as_of]
    terms = terms_in_force(terms, spells, as_of)
    if terms.empty:
        raise UserError("contract_terms.parquet: no contract term starts on or before as_of")
    source = "kpis.observation_start"
    if observation_start is not None and observation_start > as_of:
        raise ConfigError(
            f"params.yaml: kpis.observation_start {observation_start.date()} is after as_of "
            f"{as_of.date()} (tables.json): nothing would be observed"
        )
    if observation_start is None:
        observation_start = terms["start_date"].min()
        source = "earliest contract start"
    first_month = observation_start.to_period("M").to_timestamp()
    months = complete_months(max(terms["start_date"].min(), first_month), as_of)
    am = account_months(terms, months)
    series = monthly_series(am, months)

    window = months[-headline_months:] if headline_months > 0 else months[:0]
    recent = am[am["month"].isin(window)]
    pooled = summarise(recent.assign(all="all"), ["all"]) if len(recent) else pd.DataFrame()
    by_bp = summarise(recent, ["billing_period"]) if len(recent) else pd.DataFrame()
    headline: dict[str, Any] = {
        "as_of": as_of.date().isoformat(),
        "headline_months": int(headline_months),
        "months_pooled": int(len(window)),
        "window_months": [m.date().isoformat() for m in window[[0, -1]]] if len(window) else [],
        "monthly_logo_churn": float(pooled["logo_churn_rate"].iloc[0]) if len(pooled) else None,
        "monthly_grr": float(pooled["grr"].iloc[0]) if len(pooled) else None,
        "monthly_nrr": float(pooled["nrr"].iloc[0]) if len(pooled) else None,
        "monthly_logo_churn_by_billing_period": {
            str(r.billing_period): float(r.logo_churn_rate) for r in by_bp.itertuples()
        },
    }
    churn = headline["monthly_logo_churn"]
    headline["annualised_logo_churn"] = None if churn is None else 1 - (1 - churn) ** 12
    headline["grr_12m"] = headline["nrr_12m"] = headline["retention_12m_window"] = None
    if len(months):
        # last day of the last complete month vs the same day a year earlier
        next_start = months[-1] + pd.offsets.MonthBegin(1)
        t1 = next_start - pd.Timedelta(days=1)
        t0 = next_start - pd.DateOffset(months=12) - pd.Timedelta(days=1)
        if t0 + pd.Timedelta(days=1) >= months[0]:
            trailing = trailing_retention(terms, t0, t1)
            headline["grr_12m"] = trailing["grr"]
            headline["nrr_12m"] = trailing["nrr"]
            headline["retention_12m_window"] = [t0.date().isoformat(), t1.date().isoformat()]
    now = state_at(terms, [as_of])
    last_spell = spells.sort_values("spell").groupby("account_id")["churned"].last()
    headline.update(
        active_accounts_now=int(len(now)),
        mrr_now=float(now["mrr"].sum()),
        accounts_ever=int(spells["account_id"].nunique()),
        accounts_churned=int(last_spell.astype(bool).sum()),
        churned_spells=int(spells["churned"].astype(bool).sum()),
        reactivations=int((spells["spell"] > 1).sum()),
    )

    subjects = spell_subjects(terms, spells, as_of)
    attrs = accounts.drop_duplicates("account_id").set_index("account_id")
    groups = {
        "segment": subjects["account_id"].map(attrs["segment"]),
        "customer_goal": subjects["account_id"].map(attrs["customer_goal"]),
        "billing_period": subjects["billing_period"],
    }
    if subjects["plan"].notna().any():
        groups["plan"] = subjects["plan"]
    # entry = max(spell start, observation_start): 0 for every spell under the default
    curves = km_curves(durations(subjects, observation_start), groups)
    headline["km_median_months"] = median_months(curves)

    first = spells.groupby("account_id", as_index=False)["start_date"].min()
    first = first.rename(columns={"start_date": "first_start"})
    first = first[first["first_start"] >= first_month]
    cohorts = cohort_retention(first, terms, as_of, cohort_months)
    headline["observation_start"] = observation_start.date().isoformat()
    headline["observation_start_source"] = source

    result = {
        "schema_version": 2,
        "as_of": as_of.date().isoformat(),
        "definitions": DEFINITIONS,
        "headline": headline,
        "monthly": [
            {**rec, "month": rec["month"].date().isoformat()}
            for rec in series.to_dict(orient="records")
        ],
    }
    tables = {"monthly": series, "cohort_retention": cohorts, "km_curves": curves}
    return result, tables


def run(params: dict) -> None:
    interim = base_path(params, "interim_dir")
    processed = base_path(params, "processed_dir")
    models = base_path(params, "models_dir")
    cfg = params.get("kpis", {}) or {}

    terms = _read_table(interim, "contract_terms", TERM_COLUMNS)
    spells = _read_table(interim, "spells", SPELL_COLUMNS)
    accounts = _read_table(interim, "accounts", ACCOUNT_COLUMNS)
    meta_path = interim / "tables.json"
    if not meta_path.exists():
        raise UserError(f"{meta_path}: not found (run `churnlab ingest` first)")
    meta = read_json(meta_path)
    as_of = read_as_of(meta, meta_path)

    snapshot = bool(meta.get("snapshot", False))
    result, tables = compute_kpis(
        terms,
        spells,
        accounts,
        as_of,
        # A snapshot dates every churn on the export day: only the export month has churn,
        # so pooling 12 months would spread it over 11 months that could show none.
        headline_months=1 if snapshot else int(cfg.get("headline_months", 12)),
        cohort_months=int(cfg.get("cohort_months", 12)),
        observation_start=parse_observation_start(cfg.get("observation_start")),
    )
    result["as_of_source"] = meta.get("as_of_source")
    result["snapshot"] = snapshot
    if snapshot:
        # One row per account as of the export: earlier MRR is not in the data, so a
        # 12-month revenue retention would compare the export's MRR with itself.
        for key in ("grr_12m", "nrr_12m", "retention_12m_window"):
            result["headline"][key] = None
        result["definitions"]["snapshot"] = SNAPSHOT_DEFINITION
    write_json(models / "kpis.json", result)
    for name, table in tables.items():
        write_parquet(table, processed / "kpi_tables" / f"{name}.parquet")
    h = result["headline"]
    write_metrics(
        metrics_path("kpis"),
        {
            "as_of": h["as_of"],
            "months_pooled": h["months_pooled"],
            "monthly_logo_churn": h["monthly_logo_churn"],
            "monthly_grr": h["monthly_grr"],
            "monthly_nrr": h["monthly_nrr"],
            "grr_12m": h["grr_12m"],
            "nrr_12m": h["nrr_12m"],
            "active_accounts_now": h["active_accounts_now"],
            "mrr_now": h["mrr_now"],
            "reactivations": h["reactivations"],
        },
    )
