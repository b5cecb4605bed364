"""Turning panel columns into model inputs: lags within a spell, lamps, adjustment columns.

Repeated spells (CONTRACTS §3 v2): an account that churned and came back has one spell per
contract history stretch, each with its own time scale (`start`/`stop` count weeks since the
spell's first week). The subject of every survival quantity - risk sets, lags, "churns within
the horizon", landmark groups - is the spell (account_id, spell); the account is only the
unit of the random split, the bootstraps and the GLM's clustered errors. Without a `spell`
column each account is one spell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SORT_KEYS = ("account_id", "spell", "start")


def sort_keys(panel: pd.DataFrame) -> list[str]:
    """The panel's row order: account_id, spell (when present), start."""
    return [c for c in SORT_KEYS if c in panel.columns]


def subject_codes(panel: pd.DataFrame) -> np.ndarray:
    """Per row, an int code of its subject: (account_id, spell), or account_id alone when the
    panel has no `spell` column. Codes follow first appearance."""
    if "spell" not in panel.columns:
        return pd.factorize(panel["account_id"])[0].astype(np.int64)
    # Each column factorized on its own, the pair as one int64 key, factorized again: the
    # same first-appearance numbering as factorizing (account_id, spell) tuples, without a
    # Python tuple per row (a MultiIndex of 3.2M rows held ~0.5 GB, issue 17).
    acc = pd.factorize(panel["account_id"])[0].astype(np.int64)
    spell, levels = pd.factorize(panel["spell"])
    if (acc < 0).any() or (spell < 0).any():  # a missing key: the tuples' own rule
        keys = pd.MultiIndex.from_arrays([panel["account_id"], panel["spell"]])
        return pd.factorize(keys)[0].astype(np.int64)
    return pd.factorize(acc * len(levels) + spell)[0].astype(np.int64)


def lag_within_spell(panel: pd.DataFrame, column: str | np.ndarray, lag: int) -> np.ndarray:
    """`column` (a panel column name, or one value per row) as it was `lag` weeks earlier in
    the same spell; NaN where that week is not in the panel (the spell's first `lag` weeks,
    or a gap). Never reaches into another account or another spell of the same account."""
    values = (
        panel[column].to_numpy(dtype=float)
        if isinstance(column, str)
        else np.asarray(column, dtype=float)
    )
    if lag == 0:
        return values.copy()
    # Look the week up by (subject, start - lag), so gaps in a spell's weeks are respected.
    acc = subject_codes(panel)
    start = panel["start"].to_numpy().astype(np.int64)
    span = int(start.max() - start.min()) + lag + 1 if len(start) else 1
    key = acc * span + (start - start.min() if len(start) else start)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    pos = np.searchsorted(sorted_key, key - lag)
    pos = np.minimum(pos, len(key) - 1)
    found = (len(key) > 0) & (sorted_key[pos] == key - lag) & (start - lag >= start.min())
    return np.where(found, values[order[pos]], np.nan)


def lamp(values: np.ndarray, direction: str, threshold: float) -> np.ndarray:
    """1.0 when the lamp is on (strictly below / above the threshold), 0.0 off, NaN unknown."""
    values = np.asarray(values, dtype=float)
    on = values < threshold if direction == "low" else values > threshold
    return np.where(np.isnan(values), np.nan, on.astype(float))


def adjustment_matrix(panel: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, list[str]]:
    """Numeric columns as they are; text columns as 0/1 dummies against their first level
    (sorted, so the coding is stable). Missing text becomes its own level '(missing)'."""
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for col in columns:
        series = panel[col]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            blocks.append(series.to_numpy(dtype=float)[:, None])
            names.append(col)
            continue
        text = series.astype("string").fillna("(missing)").to_numpy()
        levels = sorted(set(text))
        for level in levels[1:]:
            blocks.append((text == level).astype(float)[:, None])
            names.append(f"{col}={level}")
    if not blocks:
        return np.zeros((len(panel), 0)), []
    return np.hstack(blocks), names


def adjustment_columns(
    panel: pd.DataFrame, columns: list[str]
) -> tuple[np.ndarray, list[str], list[str]]:
    """`adjustment_matrix` plus, per matrix column, the panel column it comes from (so an
    attribute hypothesis can leave out the dummies of its own attribute)."""
    blocks: list[np.ndarray] = []
    names: list[str] = []
    sources: list[str] = []
    for col in columns:
        x, n = adjustment_matrix(panel, [col])
        blocks.append(x)
        names += n
        sources += [col] * len(n)
    if not names:
        return np.zeros((len(panel), 0)), [], []
    return np.hstack(blocks), names, sources


def churn_within(panel: pd.DataFrame, horizon: int) -> np.ndarray:
    """Per row: 1 if the spell ends in churn within `horizon` weeks from this week's start
    (the event row is stop <= start + horizon), 0 if it is seen that long without churning,
    NaN if follow-up ends (as-of date) before the horizon without churn. Rows sorted by
    `sort_keys` (each spell's rows consecutive)."""
    acc = subject_codes(panel)
    start = panel["start"].to_numpy()
    # The last row of each spell tells how its follow-up ends.
    last = np.r_[acc[1:] != acc[:-1], True]
    grp = np.cumsum(np.r_[True, acc[1:] != acc[:-1]]) - 1
    end_stop = panel["stop"].to_numpy()[last][grp]
    churned = panel["event"].to_numpy()[last][grp] == 1
    y = np.where(churned & (end_stop <= start + horizon), 1.0, 0.0)
    seen_long_enough = end_stop >= start + horizon
    return np.where((y == 1) | seen_long_enough, y, np.nan)


def label_key(value: object) -> str:
    """How labels are compared (brief v2 vocabulary rule): trimmed, case-insensitive."""
    return str(value).strip().casefold()


def attribute_lamp(
    panel: pd.DataFrame, column: str, values: tuple[str, ...] | list[str]
) -> tuple[np.ndarray, list[str]]:
    """The lamp of an attribute hypothesis: per row 1.0 when the row's `column` value is one
    of `values` (trimmed, case-insensitive), 0.0 for any other value, NaN where the value is
    missing (unknown: neither on nor off). Also returns the `values` that match no row."""
    raw = panel[column].astype("string")
    keys = raw.str.strip().str.casefold()
    wanted = {label_key(v) for v in values}
    on = keys.isin(wanted).to_numpy(dtype=bool, na_value=False)
    known = keys.notna().to_numpy()
    present = set(keys.dropna().unique())
    missing = [v for v in values if label_key(v) not in present]
    return np.where(known, on.astype(float), np.nan), missing
