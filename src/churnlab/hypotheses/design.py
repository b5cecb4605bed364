"""Turning panel columns into model inputs: lags within account, lamps, adjustment columns."""

from __future__ import annotations

import numpy as np
import pandas as pd


def lag_within_account(panel: pd.DataFrame, column: str, lag: int) -> np.ndarray:
    """`column` as it was `lag` weeks earlier for the same account; NaN where that week is
    not in the panel (the account's first `lag` weeks, or a gap)."""
    values = panel[column].to_numpy(dtype=float)
    if lag == 0:
        return values.copy()
    # Look the week up by (account, start - lag), so gaps in an account's weeks are respected.
    acc = pd.factorize(panel["account_id"])[0].astype(np.int64)
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


def churn_within(panel: pd.DataFrame, horizon: int) -> np.ndarray:
    """Per row: 1 if the account churns within `horizon` weeks from this week's start
    (the event row is stop <= start + horizon), 0 if it is seen that long without churning,
    NaN if follow-up ends (as-of date) before the horizon without churn."""
    acc = panel["account_id"].to_numpy()
    start = panel["start"].to_numpy()
    # The last row of each account tells how its follow-up ends.
    last = np.r_[acc[1:] != acc[:-1], True]
    grp = np.cumsum(np.r_[True, acc[1:] != acc[:-1]]) - 1
    end_stop = panel["stop"].to_numpy()[last][grp]
    churned = panel["event"].to_numpy()[last][grp] == 1
    y = np.where(churned & (end_stop <= start + horizon), 1.0, 0.0)
    seen_long_enough = end_stop >= start + horizon
    return np.where((y == 1) | seen_long_enough, y, np.nan)
