"""Collinearity diagnostics for a design matrix, shared by the Cox fitter and the GLM check.

Why: a Newton fit that fails (singular information, coefficients running off, huge standard
errors) fails the same way whether two covariates carry the same information (collinearity)
or a covariate predicts the outcome perfectly (separation). The two need different fixes
(drop an adjuster vs. the lamp is too good / too rare to estimate), so the design itself is
examined: separation is a property of the outcome, collinearity of the covariates alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Variance inflation factor (VIF_j = 1 / (1 - R_j^2), R_j^2 from regressing column j on the
# others) at or above which the design counts as exactly collinear: the correlation matrix is
# singular to float precision. Two columns with correlation 1 - 5e-9 reach it.
EXACT_VIF = 1e8
# At or above this, a failed fit (or a blown-up standard error) is blamed on collinearity,
# not separation: a pair correlated beyond 0.9995 (VIF 1000) inflates standard errors ~30x.
NEAR_VIF = 1e3


@dataclass(frozen=True)
class Collinearity:
    max_vif: float  # inf when the design is rank-deficient
    pair: tuple[str, str] | None  # the two columns most involved (None: fewer than 2 columns)
    correlation: float | None  # their correlation

    @property
    def exact(self) -> bool:
        return self.max_vif >= EXACT_VIF

    @property
    def near(self) -> bool:
        return self.max_vif >= NEAR_VIF

    def describe(self) -> str:
        """One phrase naming the pair, e.g. "collinear covariates: 'a' and 'b' (correlation
        0.99999)"."""
        kind = "collinear covariates" if self.exact else "near-collinear covariates"
        if self.pair is None:
            return kind
        a, b = self.pair
        corr = "" if self.correlation is None else f", correlation {self.correlation:.10g}"
        vif = "inf" if not np.isfinite(self.max_vif) else f"{self.max_vif:.3g}"
        return (
            f"{kind}: '{a}' and '{b}' carry (almost) the same information "
            f"(variance inflation {vif}{corr}); drop one of them"
        )


def diagnose(x: np.ndarray, names: list[str]) -> Collinearity:
    """VIFs from the inverse correlation matrix of the columns of `x` (rows x p, no intercept;
    constant columns must already be removed). The pair named is the two largest entries of
    the eigenvector of the smallest eigenvalue: the direction in which the columns (almost)
    cancel. Cost O(rows * p^2), one X'X product."""
    x = np.asarray(x, dtype=float)
    p = x.shape[1]
    if p < 2 or len(x) < 2:
        return Collinearity(1.0, None, None)
    xc = x - x.mean(axis=0)
    cross = xc.T @ xc  # centred cross-products; one copy of x, one product
    sd = np.sqrt(np.diag(cross))
    if np.any(sd == 0):  # a constant column is reported elsewhere
        return Collinearity(1.0, None, None)
    corr = cross / np.outer(sd, sd)
    eigval, eigvec = np.linalg.eigh(corr)
    smallest = max(float(eigval[0]), 0.0)
    if smallest <= 1e-12 * float(eigval[-1]):
        max_vif = float("inf")
    else:
        max_vif = float(np.max(np.diag(np.linalg.inv(corr))))
    v = np.abs(eigvec[:, 0])
    i, j = sorted(np.argsort(-v, kind="stable")[:2])
    return Collinearity(max_vif, (names[i], names[j]), float(corr[i, j]))
