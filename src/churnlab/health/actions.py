"""This week's action list (risk lamps) and opportunity list, ready for a CRM import.

One row per account x lamp that is on in the latest panel week, so nothing is lost: the
weekly list a CSM can finish (`health.worklist`) is marked in it (`listed`, `rank_in_csm`)
and every other lit lamp stays with its state (new / long-lit / chronic). Sorted by expected
MRR at risk (MRR x churn probability within the horizon), then account_id, weeks on (longest
first) and hypothesis id, so equal inputs give the same file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.health.lamps import lamp_on, weeks_on
from churnlab.health.worklist import describe_rule, describe_value
from churnlab.reports.i18n import own_words

ACTION_COLUMNS = [
    "rank",
    "week_start",
    "account_id",
    "account_name",
    "csm_id",
    "segment",
    "billing_period",
    "maturity",
    "band",
    "health_score",
    "churn_probability",
    "mrr",
    "mrr_at_risk",
    "renewal_date",
    "hypothesis_id",
    "indicator",
    "indicator_value",
    "lamp_rule",
    "weeks_on",
    "action",
    "verdict",
    "lamp_state",
    "run_start",
    "rank_in_csm",
    "listed",
    "why",
    "rule_in_words",
]
# the opportunity list: the same without the work-list columns
OPPORTUNITY_COLUMNS = [c for c in ACTION_COLUMNS if c not in ("rank_in_csm", "listed")]
CONTEXT_COLUMNS = [
    "account_id", "week_start", "segment", "billing_period", "maturity", "band",
    "health_score", "churn_probability", "mrr",
]  # fmt: skip


def current_contracts(contracts: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per account: MRR of the contract running on as_of and its renewal date.

    Renewal date = the running term's end_date; for an open-ended monthly plan, the next
    monthly anniversary of its start after as_of."""
    running = contracts[
        (contracts["start_date"] <= as_of)
        & (contracts["end_date"].isna() | (contracts["end_date"] > as_of))
    ].sort_values(["account_id", "start_date"])
    running = running.groupby("account_id").last().reset_index()
    renewal = running["end_date"].copy()
    open_ended = renewal.isna()
    if open_ended.any():
        starts = running.loc[open_ended, "start_date"]
        months = (as_of.year - starts.dt.year) * 12 + (as_of.month - starts.dt.month)
        cand = [s + pd.DateOffset(months=int(m)) for s, m in zip(starts, months, strict=True)]
        cand = [c if c > as_of else c + pd.DateOffset(months=1) for c in cand]
        renewal.loc[open_ended] = pd.to_datetime(cand)
    return pd.DataFrame(
        {"account_id": running["account_id"], "mrr": running["mrr"], "renewal_date": renewal}
    )


def current_csm(assignments: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.Series:
    """CSM in charge on as_of (the latest-starting assignment running then), by account_id."""
    if assignments is None or assignments.empty:
        return pd.Series(dtype="object")
    a = assignments[
        (assignments["start_date"] <= as_of)
        & (assignments["end_date"].isna() | (assignments["end_date"] > as_of))
    ].sort_values(["account_id", "start_date", "csm_id"])
    return a.groupby("account_id")["csm_id"].last()


def lamps_on_latest(panel: pd.DataFrame, lamps: pd.DataFrame) -> pd.DataFrame:
    """account_id, hypothesis_id, indicator_value, weeks_on for lamps on in the last week.

    The lamp is read on the current value (lag 0): the action list is about what is on now."""
    latest = panel["week_start"] == panel["week_start"].max()
    rows = []
    for h in lamps.itertuples(index=False):
        if h.indicator not in panel.columns or not np.isfinite(h.threshold):
            continue
        values = panel[h.indicator].astype(float)
        on = lamp_on(values, h.direction, h.threshold)
        run = weeks_on(panel, on)
        hit = latest & (on == 1)
        rule = f"{h.indicator} {'<' if h.direction == 'low' else '>'} {h.threshold:g}"
        rows.append(
            pd.DataFrame(
                {
                    "account_id": panel.loc[hit, "account_id"].to_numpy(),
                    "hypothesis_id": h.id,
                    "indicator": h.indicator,
                    "indicator_value": values[hit].to_numpy(),
                    "lamp_rule": rule,
                    "weeks_on": run[hit].to_numpy(),
                    "action": h.action,
                    "verdict": h.verdict,
                }
            )
        )
    if not rows:
        return pd.DataFrame(
            columns=[
                "account_id",
                "hypothesis_id",
                "indicator",
                "indicator_value",
                "lamp_rule",
                "weeks_on",
                "action",
                "verdict",
            ]
        )
    return pd.concat(rows, ignore_index=True)


def account_context(
    latest: pd.DataFrame,
    accounts: pd.DataFrame,
    current: pd.DataFrame,
    csm: pd.Series,
) -> pd.DataFrame:
    """One row per active account in the latest week: CONTEXT_COLUMNS + account_name, mrr (the
    contract running on as_of, else the panel's week-start MRR), renewal_date, csm_id (NaN
    when none) and mrr_at_risk = mrr x churn_probability."""
    df = latest[CONTEXT_COLUMNS].drop_duplicates("account_id").copy()
    names = accounts.set_index("account_id")["name"] if "name" in accounts else pd.Series()
    df["account_name"] = df["account_id"].map(names)
    cur = current.set_index("account_id")
    df["mrr"] = df["account_id"].map(cur["mrr"]).fillna(df["mrr"])
    df["renewal_date"] = df["account_id"].map(cur["renewal_date"])
    df["csm_id"] = df["account_id"].map(csm)
    df["mrr_at_risk"] = df["mrr"] * df["churn_probability"]
    return df.reset_index(drop=True)


def lamp_rows(
    lit: pd.DataFrame,
    context: pd.DataFrame,
    lamps: pd.DataFrame,
    wording: dict[str, dict],
    sort_by: str,
    columns: list[str] = ACTION_COLUMNS,
    labels: dict[str, dict[str, str]] | None = None,
) -> pd.DataFrame:
    """One row per account x lit lamp (`worklist.lit_lamps_now` rows) of an account in
    `context`, with the lamp's verdict, its rule (`x < 0.5`, and in words), the value in words
    (`why`), weeks_on (= weeks lit, this week included) and the account rank by `sort_by`.
    Columns not computed here (lamp_state, rank_in_csm, listed) must be set by the caller or
    are left empty.

    labels: {kind: {meaning: the user's label}} (`reports.loaders.display_labels` of params
    `vocabulary`, DESIGN §9): a CRM import reads the company's own words, so billing_period
    holds the user's label of the meaning (`monthly` -> "Month-to-month"; a meaning without
    one label stays as is) and `why` / `rule_in_words` name the user's roles, events, ...
    (`reports.i18n.own_words`: "Key-person activity" -> "Champion activity"). None / {}
    leaves churnlab's words."""
    df = lit.merge(context, on="account_id", how="inner")
    billing = (labels or {}).get("billing_period") or {}
    if billing:
        df["billing_period"] = df["billing_period"].astype(object).map(lambda v: billing.get(v, v))
    verdict = lamps.drop_duplicates("id").set_index("id")["verdict"]
    df["verdict"] = df["hypothesis_id"].map(verdict)
    df["lamp_rule"] = [
        f"{i} {'<' if d == 'low' else '>'} {t:g}"
        for i, d, t in zip(df["indicator"], df["direction"], df["threshold"], strict=True)
    ]
    df["weeks_on"] = df["weeks_lit"].astype(int)
    df["why"] = [
        describe_value(wording[i]["label"], wording[i]["unit"], v, wording[i].get("versus"))
        for i, v in zip(df["indicator"], df["indicator_value"], strict=True)
    ]
    df["rule_in_words"] = [
        describe_rule(wording[i]["unit"], d, t, wording[i].get("versus"))
        for i, d, t in zip(df["indicator"], df["direction"], df["threshold"], strict=True)
    ]
    if labels:
        df["why"] = [own_words(w, labels) for w in df["why"]]
        df["rule_in_words"] = [own_words(w, labels) for w in df["rule_in_words"]]
    ascending = [False, True, False, True]
    df = df.sort_values(
        [sort_by, "account_id", "weeks_on", "hypothesis_id"], ascending=ascending, kind="stable"
    )
    account_rank = {a: i + 1 for i, a in enumerate(df["account_id"].drop_duplicates())}
    df["rank"] = df["account_id"].map(account_rank)
    for col in columns:
        if col not in df:
            df[col] = pd.NA
    return df[columns].reset_index(drop=True)


def to_csv_text(df: pd.DataFrame) -> str:
    """CRM-friendly CSV: UTF-8, header row, ISO dates, fixed float formatting, LF newlines."""
    out = df.copy()
    for col in ("week_start", "renewal_date", "run_start"):
        if col in out:
            out[col] = pd.to_datetime(out[col]).dt.strftime("%Y-%m-%d")
    if "rank_in_csm" in out:
        out["rank_in_csm"] = out["rank_in_csm"].map(lambda v: "" if pd.isna(v) else str(int(v)))
    if "listed" in out:
        out["listed"] = out["listed"].map(lambda v: "yes" if v is True else "no")
    for col in ("churn_probability", "indicator_value"):
        out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    for col in ("mrr", "mrr_at_risk", "health_score"):
        out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    return out.to_csv(index=False, lineterminator="\n")
