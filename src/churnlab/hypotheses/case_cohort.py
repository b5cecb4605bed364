"""Case-cohort sampling for Cox fits on panels too large to fit whole.

Design (Prentice 1986; weights of Barlow 1994; Therneau & Li 1999 for fitting it with a
weighted Cox model and a robust variance): draw a random **subcohort** of accounts with
probability `fraction`; keep every row of subcohort accounts and, of the other accounts, only
the rows that end in a churn (the cases). Weights (Barlow): a subcohort row counts 1/fraction
(it stands for the accounts not drawn), a case's own event row counts 1. Fitted with
`fit_cox(weights=..., cluster=account)`: the point estimate is the weighted pseudo-likelihood
maximum and the SE the robust sandwich, which is what R's `cch(method = "Barlow")` and
`coxph(..., weights, cluster)` report. The full cohort's information is kept for the events
(all of them are in) and the risk sets are estimated from the subcohort.

The sample depends only on the seed and the set of account ids (not on row order), so the
same panel and seed give the same fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class CaseCohortSample:
    """Rows kept and their weights.

    Attributes:
        rows: (m,) int64 positions of the kept rows in the panel, ascending.
        weights: (m,) Barlow weights (1/fraction for subcohort rows, 1 at a case's event).
        n_subcohort: accounts drawn into the subcohort.
        n_cases_outside: churned accounts outside the subcohort (kept by their event rows).
        fraction: the subcohort sampling probability used.
    """

    rows: np.ndarray
    weights: np.ndarray
    n_subcohort: int
    n_cases_outside: int
    fraction: float

    def describe(self, n_rows: int) -> dict:
        return {
            "design": "case_cohort",
            "subcohort_fraction": self.fraction,
            "subcohort_accounts": self.n_subcohort,
            "cases_outside_subcohort": self.n_cases_outside,
            "rows_fitted": int(len(self.rows)),
            "rows_in_panel": int(n_rows),
            "method": "Barlow (1994) weights, robust variance clustered by account",
        }


def subcohort(account_ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Per row: is the row's account in the subcohort?

    Args:
        account_ids: (n,) account id per row (any type, compared as text).
        fraction: sampling probability in (0, 1].
        seed: the pipeline seed (`base.seed`).

    Raises:
        ValueError: fraction outside (0, 1].
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"subcohort fraction must be in (0, 1], got {fraction}")
    uniq, inv = np.unique(np.asarray(account_ids).astype(str), return_inverse=True)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xCC0]))
    # a fixed-size draw (not a coin per account): the subcohort size is exactly known
    size = int(round(fraction * len(uniq)))
    drawn = np.zeros(len(uniq), bool)
    drawn[rng.permutation(len(uniq))[:size]] = True
    return drawn[inv]


def case_cohort_sample(
    account_ids: np.ndarray, event: np.ndarray, fraction: float, seed: int
) -> CaseCohortSample:
    """Rows and Barlow weights of a case-cohort sample of a counting-process panel.

    Args:
        account_ids: (n,) account id per row.
        event: (n,) 0/1 churn at the end of the row.
        fraction: subcohort sampling probability (the realised fraction is reported).
        seed: the pipeline seed.

    Returns:
        A `CaseCohortSample`; fit with `fit_cox(start[rows], ..., weights=weights,
        cluster=account_ids[rows])`.
    """
    event = np.asarray(event).astype(bool)
    inside = subcohort(account_ids, fraction, seed)
    n_accounts = len(np.unique(np.asarray(account_ids).astype(str)))
    n_inside = len(np.unique(np.asarray(account_ids)[inside].astype(str)))
    realised = n_inside / n_accounts if n_accounts else fraction
    keep = inside | event
    rows = np.flatnonzero(keep)
    weights = np.where(event[rows], 1.0, 1.0 / realised)
    cases_outside = pd.unique(np.asarray(account_ids)[event & ~inside])
    return CaseCohortSample(rows, weights, n_inside, len(cases_outside), realised)


def use_case_cohort(design: str, n_rows: int, max_rows: int) -> bool:
    """The switch: `full` never samples, `case_cohort` always, `auto` above `max_rows`.

    Raises:
        ValueError: an unknown design name.
    """
    if design not in ("auto", "full", "case_cohort"):
        raise ValueError(f"unknown sampling design {design!r}: auto | full | case_cohort")
    return design == "case_cohort" or (design == "auto" and n_rows > max_rows)
