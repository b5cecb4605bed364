"""A weekly list a CSM can finish: the lamps that lit recently, at most `capacity` accounts
per CSM, each with the one action of its strongest new lamp, written in words.

Why: listing every account with any lamp on put three quarters of the accounts on the list
every week, most of them for lamps lit for months. A fuel lamp is acted on when it lights;
a lamp that stays lit after the action is a different fact ("the action did not resolve it").

Rules (stated in the report):
- A lamp lights as the hypotheses stage's alert design says (`alert_policy`: lit after
  on_weeks weeks beyond the threshold in a row, off after off_weeks weeks back; 1 and 1 = as
  read), so a one-week flicker puts nobody on the list.
- A lamp's state comes from `health.alerts.lamp_runs`: the week its current lit run began
  (`run_start`) and `weeks_lit` so far (this week = 1).
- newly lit: weeks_lit <= new_weeks (lit this week or in the last new_weeks - 1 weeks);
  chronic: weeks_lit > chronic_weeks; long-lit: in between. A run lit since the first week of
  the data (left-censored) is never "new": we do not know when it lit.
- The list: accounts with at least one newly lit lamp, per CSM group (a missing csm_id is
  the group "unassigned", which is not a CSM), ranked within the group by expected MRR at
  risk = churn probability within the horizon x current MRR (what the action can save at
  most if it fully prevents the churn), ties by churn probability then account_id; the first
  `capacity` are listed, the rest stay in the per-account table.
- Each listed account carries the action of its strongest new lamp: the largest hazard ratio
  (the lamp's tested effect), ties to the most recently lit, then the hypothesis id.
- Long-lit and chronic lamps are summarised once per account (counts and ids), not listed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.health.alerts import UNASSIGNED, confirm_lamp, lamp_runs, subject_codes, week_index
from churnlab.reports.i18n import own_words

NEW, LONG_LIT, CHRONIC = "new", "long-lit", "chronic"

CHANGE_UNITS = {"percent change", "change", "relative change"}
SHARE_UNITS = {"fraction", "share", "ratio"}
PERCENT_UNITS = {"percent", "%"}
DURATION_UNITS = {"weeks": "week", "days": "day", "hours": "hour"}
FLAG_UNITS = {"flag"}

# Catalog indicators that are relative changes (now / reference - 1) and what they compare to.
# The catalog calls their unit "fraction"; in words they read as "x% below <reference>".
CHANGE_REFERENCES = {
    "key_person_activity_change": "their {trailing}-week average",
    "usage_wow_change": "the week before",
    "usage_vs_trailing": "the {trailing}-week average",
    "mrr_change": "{trailing} weeks earlier",
}

ITEM_COLUMNS = [
    "csm_id",
    "rank",
    "account_id",
    "account_name",
    "churn_probability",
    "mrr",
    "expected_mrr_at_risk",
    "hypothesis_id",
    "indicator",
    "indicator_value",
    "run_start",
    "weeks_lit",
    "why",
    "lamp_rule",
    "action",
    "other_new_lamps",
    "long_lit_lamps",
    "chronic_lamps",
]


# --- words ---------------------------------------------------------------------------------


def _pct(x: float) -> str:
    r = math.floor(abs(x) * 100 + 0.5)  # half up, not banker's rounding
    return "<1%" if r == 0 and x != 0 else f"{r}%"


def _num(x: float) -> str:
    """A number as a person writes it: whole numbers without decimals, thousands separated,
    at most one decimal above 1 and two significant digits below (never 0.533333)."""
    if abs(x - round(x)) < 1e-9:
        return f"{int(round(x)):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.1f}"
    return f"{x:.2g}"


def _duration(x: float, unit: str) -> str:
    noun = DURATION_UNITS[unit]
    return f"{_num(x)} {noun if _num(x) == '1' else noun + 's'}"


def _change_label(label: str) -> str:
    # "Key-person activity change" reads "Key-person activity 53% below ..."
    return label[: -len(" change")] if label.lower().endswith(" change") else label


def _change(x: float, versus: str) -> str:
    if _pct(x) == "0%":
        return f"level with {versus}"
    return f"{_pct(x)} {'below' if x < 0 else 'above'} {versus}"


def describe_value(label: str, unit: str, value: float, versus: str | None = None) -> str:
    """The indicator's current value in words, with its unit.

    unit: "percent change" (value = now / reference - 1; `versus` names the reference, e.g.
    "their 4-week average"), "fraction" (a share, shown in %), "percent", "weeks" / "days" /
    "hours", "flag" (0 / 1 -> no / yes), anything else (counts, scores) as a plain number.
    E.g. ("Key-person activity change", "percent change", -0.5333, "their 4-week average")
    -> "Key-person activity 53% below their 4-week average". NaN -> "<label>: no value"."""
    unit = (unit or "").strip().lower()
    if value is None or not np.isfinite(value):
        return f"{label}: no value"
    if unit in CHANGE_UNITS:
        return f"{_change_label(label)} {_change(value, versus or 'its usual level')}"
    if unit in SHARE_UNITS:
        return f"{label} {_pct(value)}"
    if unit in PERCENT_UNITS:
        return f"{label} {_num(value)}%"
    if unit in DURATION_UNITS:
        return f"{label}: {_duration(value, unit)}"
    if unit in FLAG_UNITS:
        return f"{label}: {'yes' if value >= 0.5 else 'no'}"
    return f"{label}: {_num(value)}"


def describe_rule(unit: str, direction: str, threshold: float, versus: str | None = None) -> str:
    """When the lamp lights, in words: e.g. ("percent change", "low", -0.4, "their 4-week
    average") -> "lights when more than 40% below their 4-week average"; ("days", "high",
    60.5) -> "lights above 60.5 days"; ("flag", "low", 0.5) -> "lights when no".
    Raises ValueError for a direction other than low / high."""
    if direction not in ("low", "high"):
        raise ValueError(f"direction must be 'low' or 'high' (got {direction!r})")
    unit = (unit or "").strip().lower()
    word = "below" if direction == "low" else "above"
    if unit in CHANGE_UNITS:
        ref = versus or "its usual level"
        if threshold == 0:
            return f"lights when {word} {ref}"
        same_side = (threshold < 0) == (direction == "low")
        side = "below" if threshold < 0 else "above"
        more = "more than" if same_side else "less than"
        return f"lights when {more} {_pct(threshold)} {side} {ref}"
    if unit in FLAG_UNITS:
        return f"lights when {'no' if direction == 'low' else 'yes'}"
    if unit in SHARE_UNITS:
        return f"lights {word} {_pct(threshold)}"
    if unit in PERCENT_UNITS:
        return f"lights {word} {_num(threshold)}%"
    if unit in DURATION_UNITS:
        return f"lights {word} {_duration(threshold, unit)}"
    return f"lights {word} {_num(threshold)}"


def indicator_wording(
    indicator: str, trailing_weeks: int = 4, meta: dict | None = None
) -> dict[str, str | None]:
    """{"label", "unit", "versus"} for an indicator id: from `meta` (e.g. panel_meta's entry
    for a user-defined indicator: label / unit keys) if given, else the catalog, else the id
    in words with unit "value". Relative-change indicators get unit "percent change" and what
    they compare to (`trailing_weeks` = panel.trailing_weeks)."""
    from churnlab.indicators.catalog import CATALOG

    cat = {i.id: i for i in CATALOG}
    meta = meta or {}
    label = meta.get("label") or (cat[indicator].label if indicator in cat else None)
    unit = meta.get("unit") or (cat[indicator].unit if indicator in cat else "value")
    meaning = str(meta.get("meaning") or (cat[indicator].meaning if indicator in cat else ""))
    versus = None
    if indicator in CHANGE_REFERENCES:
        unit = "percent change"
        versus = CHANGE_REFERENCES[indicator].format(trailing=trailing_weeks)
    elif is_relative_change(unit, meaning, meta.get("kind")):
        # a user change_of (or any now / reference - 1): a percent change with direction
        unit = "percent change"
        weeks = re.search(r"mean over the (\d+) weeks? before", meaning)
        versus = f"its {weeks.group(1)}-week average" if weeks else None
        if label and (split := re.split(r"\s+vs\.?\s+", label, maxsplit=1, flags=re.I))[1:]:
            label, versus = split[0], split[1]  # "Champion's events vs their recent average"
    if not label:
        label = indicator.replace("_", " ").capitalize()
    return {"label": label, "unit": unit, "versus": versus}


RELATIVE_CHANGE_MEANING = re.compile(r"\bminus 1\b|relative change|percent change|% change", re.I)


def is_relative_change(unit: str | None, meaning: str = "", kind: str | None = None) -> bool:
    """Whether an indicator is a relative change (now / reference - 1): by its kind (a user
    `change_of`), its unit ("percent change", "relative change", ...) or its meaning
    ("... / its mean over the 4 weeks before, minus 1", "relative change")."""
    if kind == "change_of":
        return True
    if (unit or "").strip().lower() in CHANGE_UNITS:
        return True
    return bool(RELATIVE_CHANGE_MEANING.search(meaning or ""))


# --- lamp states ---------------------------------------------------------------------------


def lit_lamps_now(panel: pd.DataFrame, lamps: pd.DataFrame) -> pd.DataFrame:
    """Lamps on in the panel's latest week, one row per subject x lamp, with their run state.

    panel: account_id, week_start, event, optional spell, and the indicator columns.
    lamps: id, indicator, direction, threshold, action, hazard_ratio (e.g. `lamp_table`
    rows kept for the action list). The lamp is read on the current value (lag 0), on when
    strictly below (low) / above (high) the threshold; a missing value is off. Lamps whose
    indicator is not in the panel or without a finite threshold are skipped. A lamp with
    `alert_on_weeks` / `alert_off_weeks` (the design the hypotheses stage chose, see
    `hypotheses.alert_policy`) lights as an alert does: once the indicator has been beyond the
    threshold that many weeks in a row, and goes off once it has been back that many weeks
    (`health.alerts.confirm_lamp`); its run and "newly lit" are those of that alert.
    Returns account_id, [spell], hypothesis_id, indicator, indicator_value, direction,
    threshold, run_start, weeks_lit, left_censored, action, hazard_ratio."""
    latest = (panel["week_start"] == panel["week_start"].max()).to_numpy()
    keys = ["account_id"] + (["spell"] if "spell" in panel.columns else [])
    parts = []
    subj = subject_codes(panel) if len(panel) else np.zeros(0, np.int64)
    week = week_index(panel["week_start"]) if len(panel) else np.zeros(0, np.int64)
    for h in lamps.itertuples(index=False):
        thr = float(h.threshold) if h.threshold is not None else float("nan")
        if h.indicator not in panel.columns or not np.isfinite(thr):
            continue
        values = panel[h.indicator].astype(float)
        on = (values < thr) if h.direction == "low" else (values > thr)
        on = (on & values.notna()).to_numpy()
        on_weeks = int(getattr(h, "alert_on_weeks", 1) or 1)
        off_weeks = int(getattr(h, "alert_off_weeks", 1) or 1)
        on = confirm_lamp(on, subj, week, on_weeks, off_weeks)
        runs = lamp_runs(panel, on)
        hit = latest & on
        part = panel.loc[hit, keys].reset_index(drop=True)
        part["hypothesis_id"] = h.id
        part["indicator"] = h.indicator
        part["indicator_value"] = values[hit].to_numpy()
        part["direction"] = h.direction
        part["threshold"] = thr
        part["run_start"] = runs.loc[hit, "run_start"].to_numpy()
        part["weeks_lit"] = runs.loc[hit, "weeks_lit"].to_numpy()
        part["left_censored"] = runs.loc[hit, "left_censored"].to_numpy()
        part["action"] = getattr(h, "action", "") or ""
        part["hazard_ratio"] = getattr(h, "hazard_ratio", np.nan)
        parts.append(part)
    cols = keys + [
        "hypothesis_id", "indicator", "indicator_value", "direction", "threshold",
        "run_start", "weeks_lit", "left_censored", "action", "hazard_ratio",
    ]  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def lamp_state(
    weeks_lit, left_censored=None, new_weeks: int = 2, chronic_weeks: int = 12
) -> np.ndarray:
    """ "new" / "long-lit" / "chronic" per lit lamp (see the module rules). Raises ValueError
    unless 1 <= new_weeks <= chronic_weeks."""
    if not 1 <= new_weeks <= chronic_weeks:
        raise ValueError(f"need 1 <= new_weeks <= chronic_weeks (got {new_weeks}, {chronic_weeks})")
    w = np.asarray(weeks_lit, dtype=float)
    left = np.zeros(len(w), bool) if left_censored is None else np.asarray(left_censored, bool)
    return np.where(
        (w <= new_weeks) & ~left, NEW, np.where(w > chronic_weeks, CHRONIC, LONG_LIT)
    ).astype(object)


# --- the list ------------------------------------------------------------------------------


@dataclass
class Worklist:
    items: pd.DataFrame  # the capped list, ITEM_COLUMNS, sorted by CSM group then rank
    accounts: pd.DataFrame  # one row per account with any lamp lit (the CSV beyond the list)
    summary: dict  # counts for the page


def _csm_group(csm: pd.Series) -> pd.Series:
    s = csm.astype("string")
    s = s.where(s.str.strip().fillna("") != "", pd.NA)
    return s.fillna(UNASSIGNED).astype(object)


def _ids(s: pd.Series) -> str:
    return "; ".join(sorted(s))


def weekly_worklist(
    lit: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    capacity: int = 10,
    new_weeks: int = 2,
    chronic_weeks: int = 12,
    wording: dict[str, dict] | None = None,
    labels: dict[str, dict[str, str]] | None = None,
) -> Worklist:
    """Build this week's list.

    lit: `lit_lamps_now` rows (account_id, hypothesis_id, indicator, indicator_value,
    direction, threshold, run_start, weeks_lit, left_censored optional, action, hazard_ratio).
    accounts: one row per active account this week: account_id, churn_probability (0..1,
    within the horizon), mrr (currency per month), optional csm_id and account_name. Lit
    rows of accounts not in `accounts` are dropped.
    wording: indicator -> {"label", "unit", "versus"} (default `indicator_wording`).
    labels: {kind: {meaning: the user's label}} (`reports.loaders.display_labels`): why and
    lamp_rule name the user's roles, events, ... (`reports.i18n.own_words`); None = churnlab's.
    Returns a Worklist: items (at most `capacity` accounts per CSM group, rank 1..capacity
    within the group), accounts (every account with a lamp lit: counts per state, the ids of
    long-lit and chronic lamps, listed yes/no) and summary (accounts_lit, accounts_newly_lit,
    accounts_chronic, accounts_listed, accounts_over_capacity, n_csms (real CSMs with a lit
    account), unassigned_accounts_lit, capacity, new_weeks, chronic_weeks, per_csm).
    Raises ValueError for capacity < 1, bad new/chronic weeks, or missing columns."""
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1 (got {capacity})")
    need = {"account_id", "churn_probability", "mrr"}
    if missing := need - set(accounts.columns):
        raise ValueError(f"accounts lacks column(s) {', '.join(sorted(missing))}")
    acc = accounts.drop_duplicates("account_id").set_index("account_id")
    df = lit[lit["account_id"].isin(acc.index)].copy()
    left = df["left_censored"] if "left_censored" in df.columns else None
    df["state"] = lamp_state(df["weeks_lit"], left, new_weeks, chronic_weeks)
    csm_col = acc["csm_id"] if "csm_id" in acc.columns else pd.Series(pd.NA, index=acc.index)
    df["csm_id"] = df["account_id"].map(_csm_group(csm_col))
    df["churn_probability"] = df["account_id"].map(acc["churn_probability"]).astype(float)
    df["mrr"] = df["account_id"].map(acc["mrr"]).astype(float)
    df["expected_mrr_at_risk"] = df["churn_probability"] * df["mrr"]
    names = acc["account_name"] if "account_name" in acc.columns else pd.Series(dtype=object)
    df["account_name"] = df["account_id"].map(names)

    # one row per account: what is lit, in which state
    per = df.groupby("account_id", sort=True).agg(
        csm_id=("csm_id", "first"),
        churn_probability=("churn_probability", "first"),
        mrr=("mrr", "first"),
        expected_mrr_at_risk=("expected_mrr_at_risk", "first"),
        lamps_lit=("hypothesis_id", "size"),
        longest_weeks_lit=("weeks_lit", "max"),
    )
    for state, col in (
        (NEW, "new_lamps"),
        (LONG_LIT, "long_lit_lamps"),
        (CHRONIC, "chronic_lamps"),
    ):
        sub = df[df["state"] == state].groupby("account_id")["hypothesis_id"]
        per[f"n_{col}"] = sub.size().reindex(per.index, fill_value=0).astype(int)
        per[col] = sub.agg(_ids).reindex(per.index, fill_value="")

    # the strongest new lamp of each account with one
    new = df[df["state"] == NEW].copy()
    new["_hr"] = pd.to_numeric(new["hazard_ratio"], errors="coerce").fillna(-np.inf)
    new = new.sort_values(
        ["account_id", "_hr", "weeks_lit", "hypothesis_id"],
        ascending=[True, False, True, True],
        kind="stable",
    )
    top = new.drop_duplicates("account_id").copy()
    top = top.sort_values(
        ["csm_id", "expected_mrr_at_risk", "churn_probability", "account_id"],
        ascending=[True, False, False, True],
        na_position="last",
        kind="stable",
    )
    top["rank"] = top.groupby("csm_id", sort=False).cumcount() + 1
    listed = top[top["rank"] <= capacity].copy()

    words = dict(wording or {})
    for ind in listed["indicator"].unique():
        words.setdefault(ind, indicator_wording(ind))
    listed["why"] = [
        describe_value(words[i]["label"], words[i]["unit"], v, words[i].get("versus"))
        for i, v in zip(listed["indicator"], listed["indicator_value"], strict=True)
    ]
    listed["lamp_rule"] = [
        describe_rule(words[i]["unit"], d, t, words[i].get("versus"))
        for i, d, t in zip(
            listed["indicator"], listed["direction"], listed["threshold"], strict=True
        )
    ]
    if labels:
        listed["why"] = [own_words(w, labels) for w in listed["why"]]
        listed["lamp_rule"] = [own_words(w, labels) for w in listed["lamp_rule"]]
    listed["other_new_lamps"] = listed["account_id"].map(per["n_new_lamps"]) - 1
    listed["long_lit_lamps"] = listed["account_id"].map(per["long_lit_lamps"])
    listed["chronic_lamps"] = listed["account_id"].map(per["chronic_lamps"])
    # "unassigned" after the real CSMs
    listed["_un"] = listed["csm_id"] == UNASSIGNED
    listed = listed.sort_values(["_un", "csm_id", "rank"], kind="stable")
    items = listed[ITEM_COLUMNS].reset_index(drop=True)

    per["listed"] = per.index.isin(items["account_id"])
    per["rank_in_csm"] = top.set_index("account_id")["rank"].reindex(per.index)
    accounts_out = per.reset_index()

    groups = []
    for csm, g in per.groupby("csm_id", sort=True):
        groups.append(
            {
                "csm_id": csm,
                "accounts_lit": int(len(g)),
                "accounts_newly_lit": int((g["n_new_lamps"] > 0).sum()),
                "listed": int(g["listed"].sum()),
                "over_capacity": int((g["n_new_lamps"] > 0).sum() - g["listed"].sum()),
            }
        )
    groups.sort(key=lambda r: (r["csm_id"] == UNASSIGNED, r["csm_id"]))
    summary = {
        "accounts_lit": int(len(per)),
        "accounts_newly_lit": int((per["n_new_lamps"] > 0).sum()),
        "accounts_chronic": int((per["n_chronic_lamps"] > 0).sum()),
        "accounts_long_lit_only": int(
            ((per["n_new_lamps"] == 0) & (per["n_chronic_lamps"] == 0)).sum()
        ),
        "accounts_listed": int(len(items)),
        "accounts_over_capacity": int((per["n_new_lamps"] > 0).sum() - len(items)),
        "n_csms": int(per.loc[per["csm_id"] != UNASSIGNED, "csm_id"].nunique()),
        "unassigned_accounts_lit": int((per["csm_id"] == UNASSIGNED).sum()),
        "capacity": capacity,
        "new_weeks": new_weeks,
        "chronic_weeks": chronic_weeks,
        "ranking": "expected MRR at risk = churn probability within the horizon x current MRR, "
        "ranked within each CSM group",
        "per_csm": groups,
    }
    return Worklist(items, accounts_out, summary)
