"""Metrics files round floats to a stated number of significant digits; model files do not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from churnlab.io import METRIC_SIGNIFICANT_DIGITS, round_significant, write_json, write_metrics


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (0.672969051614491, 6, 0.672969),
        (0.02093477411795339, 6, 0.0209348),
        (6.138305936801788, 6, 6.13831),
        (123456789.0, 6, 123457000.0),
        (-0.9846873067770723, 3, -0.985),
        (0.0, 6, 0.0),
        (1.0, 6, 1.0),
        (2.5e-12, 2, 2.5e-12),
    ],
)
def test_round_significant_hand_computed(value, digits, expected):
    assert round_significant(value, digits) == expected


def test_round_significant_needs_a_digit():
    with pytest.raises(ValueError, match="digits"):
        round_significant(1.5, 0)


def test_one_ulp_apart_values_write_the_same_metrics_file(tmp_path):
    # Issue 16: an AUC that differs in its last bit on another CPU must not change the file.
    auc = 0.672969051614491
    a = write_metrics(tmp_path / "a.json", {"auc": auc, "n": 5}).read_bytes()
    b = write_metrics(tmp_path / "b.json", {"auc": np.nextafter(auc, 1.0), "n": 5}).read_bytes()
    assert a == b
    assert json.loads(a) == {"auc": 0.672969, "n": 5}


def test_metrics_round_nested_floats_and_leave_the_rest(tmp_path):
    path = write_metrics(
        tmp_path / "m.json",
        {
            "verdicts": {"supported": np.int64(3)},
            "rates": [np.float64(0.98468730677), float("nan")],
            "flag": np.bool_(True),
            "as_of": "2025-12-31",
        },
    )
    assert json.loads(path.read_text()) == {
        "as_of": "2025-12-31",
        "flag": True,
        "rates": [0.984687, None],
        "verdicts": {"supported": 3},
    }
    assert METRIC_SIGNIFICANT_DIGITS == 6


def test_model_files_keep_full_precision(tmp_path):
    value = 0.1 + 0.2  # 0.30000000000000004
    path = write_json(tmp_path / "model.json", {"coef": value})
    assert json.loads(path.read_text())["coef"] == value
