"""Deterministic writers shared by every stage (same inputs => byte-identical files).

Metrics files (`metrics/*.json`, kept in git and shown by `dvc metrics diff`) are written with
`write_metrics`, which rounds every float to METRIC_SIGNIFICANT_DIGITS significant digits: a
last-bit difference of a floating-point sum must not make `git status` dirty, and no reader
needs more digits. Model files (`models/*.json`) keep full precision (`write_json`), because
tests compare them with other implementations to 1e-9.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Significant digits of every float in a metrics file (e.g. AUC 0.672969, churn 0.0209348).
METRIC_SIGNIFICANT_DIGITS = 6


def _plain(obj: Any) -> Any:
    """Convert numpy/pandas scalars and NaN/inf to JSON-safe Python values."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        value = float(obj)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if obj is pd.NaT:
        return None
    return obj


def round_significant(value: float, digits: int) -> float:
    """`value` rounded to `digits` significant decimal digits (half to even on the decimal
    expansion, as `format` does: exact and the same on every machine); 0 stays 0.

    Raises ValueError if digits < 1."""
    if digits < 1:
        raise ValueError(f"round_significant: digits must be >= 1, got {digits}")
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits - 1}e}")


def _rounded(obj: Any, digits: int) -> Any:
    """Every float in a plain JSON structure (from `_plain`) rounded to `digits` significant
    digits; ints, bools, strings and None unchanged."""
    if isinstance(obj, dict):
        return {k: _rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v, digits) for v in obj]
    if isinstance(obj, float):
        return round_significant(obj, digits)
    return obj


def write_json(path: str | Path, obj: Any, *, significant_digits: int | None = None) -> Path:
    """Write JSON with sorted keys and a trailing newline; NaN becomes null.

    `significant_digits`: round every float to that many significant digits (None = keep
    full precision; Python writes the shortest text that reads back to the same float)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = _plain(obj)
    if significant_digits is not None:
        plain = _rounded(plain, significant_digits)
    text = json.dumps(plain, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def write_metrics(path: str | Path, obj: Any) -> Path:
    """Write a stage's metrics file (`metrics/<stage>.json`): `write_json` with every float
    rounded to METRIC_SIGNIFICANT_DIGITS significant digits."""
    return write_json(path, obj, significant_digits=METRIC_SIGNIFICANT_DIGITS)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame to Parquet without the index; output is stable for equal input."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.reset_index(drop=True).to_parquet(path, index=False, compression="zstd")
    return path
