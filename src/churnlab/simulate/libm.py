"""Elementary functions whose results do not depend on which x86-64 CPU runs the simulator.

Why: numpy's float64 `exp`, `log`, `log1p`, `power` (and `**`) choose a SIMD kernel when
numpy is imported, from the CPU's features (AVX512, AVX2 or a baseline loop;
`numpy.show_runtime()` lists them). The kernels differ in the last bit for some inputs, so the
same seed wrote a different `data/raw` on a CPU without AVX512 (issue 16: one milestone
timestamp 1 microsecond apart; measured by importing numpy with `NPY_DISABLE_CPU_FEATURES`).
Exactly rounded IEEE 754 operations (+ - * /, sqrt, floor, rint, comparisons) give the same
bits on every CPU; only the transcendental functions do not.

What: each function below calls the C library's scalar function once per element (through
Python's `math`), as numpy.random's own distributions (lognormal, exponential, poisson, ...)
already do. The simulator then depends on no more than numpy.random does: the same bits on
every x86-64 CPU with AVX2 and FMA (x86-64-v3, what glibc selects its FMA kernels on; a CPU
without FMA changes numpy.random's draws as well, so nothing here could help there).

Cost: ~0.1 microsecond per element, so use them on per-account or per-(account, week) arrays;
per-event work should compare against a small table computed with them (see observe.py).
Domain: the simulator never leaves the functions' real domain; an input outside it raises
(ValueError for the log of 0 or of a negative number, OverflowError for exp above ~709),
never a silent NaN or infinity.
"""

from __future__ import annotations

import math

import numpy as np

_EXP = np.frompyfunc(math.exp, 1, 1)
_LOG = np.frompyfunc(math.log, 1, 1)
_LOG1P = np.frompyfunc(math.log1p, 1, 1)
_POW = np.frompyfunc(math.pow, 2, 1)


def _float(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def exp(x) -> np.ndarray:
    """e**x elementwise; float64 array of x's shape."""
    return _float(_EXP(_float(x)))


def log(x) -> np.ndarray:
    """Natural logarithm elementwise (x > 0); float64 array of x's shape."""
    return _float(_LOG(_float(x)))


def log1p(x) -> np.ndarray:
    """log(1 + x) elementwise, accurate for small x (x > -1); float64 array."""
    return _float(_LOG1P(_float(x)))


def power(x, y) -> np.ndarray:
    """x**y elementwise (broadcast); float64 array."""
    return _float(_POW(_float(x), _float(y)))
