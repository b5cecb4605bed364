"""How a lamp lights as an alert: an on-delay and an off-delay, chosen on the tuning half.

A lamp read on a noisy weekly indicator flickers: the key person's activity drops below the
threshold in a holiday week and is back the next. Each flicker is a lighting, and almost
none of them leads anywhere, so a lighting's precision sits at the base rate even for a lamp
whose indicator truly leads churn (issue 14: key-person drop 6.4% vs 6.1%). Alarm management
calls this a chattering alarm and answers it with two timers (ANSI/ISA-18.2-2016
"Management of Alarm Systems for the Process Industries"; EEMUA 191): an on-delay - the
condition must persist `on_weeks` weeks in a row before the lamp lights - and an off-delay -
it must be clear `off_weeks` weeks in a row before the lamp goes off. Bedside monitors use
the same alarm delays to cut false alarms at little cost in missed events (Gorges M,
Markewitz BA, Westenskow DR, Anesth Analg 2009;108:1546-52). The lamp itself is
`health.alerts.confirm_lamp`.

What an on-delay costs is warning time (the lamp lights on_weeks - 1 weeks after the raw
one) and churners whose trouble is short; what it buys is precision. The rule that picks the
design therefore asks for the precision the team wants and pays as little delay as it can:

- candidates: every (on_weeks, off_weeks) of the `hypotheses.alert_on_weeks` x
  `hypotheses.alert_off_weeks` grid, ordered by on_weeks, then off_weeks (least delay and
  shortest hold first);
- eligible: >= min_lightings lightings with a known outcome, median warning of a lighting
  >= min_warning_weeks, and lit in no larger share of account-weeks than the plain lamp or
  the alert budget (max_share_lit), whichever is larger;
- chosen: the plain lamp (on 1, off 1) when it is eligible and its lift (precision of a
  lighting / base rate) reaches `min_lift` - no delay is needed; else, among eligible designs
  reaching `min_lift`, the one with the highest lift (ties: the least delay); if none does,
  the plain lamp: a delay is only worth its cost when it buys the precision asked for.
  The highest lift rather than the first design over the line: picked on one half, a lift
  just over `min_lift` falls back under it on the other half about as often as not (on five
  simulated companies the first design over the line held 2x on the test half for the
  key-person lamp in 2 of 5, the highest in 4 of 5).

Chosen on the tuning half of the accounts and measured on the other (the honest split of
`analysis`), as a threshold is. Measures are those of `alert_budget` (a lighting = the first
week of a lit run, not in the data's first week; precision = churn within the horizon after
it; churners warned = a lighting in the horizon weeks ending with the churn week).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.health.alerts import confirm_lamps
from churnlab.hypotheses.alert_budget import ALERT_MEASURES, build_lit_scan, curve_from_scan

PLAIN = (1, 1)
POLICY_COLUMNS = ["on_weeks", "off_weeks", *ALERT_MEASURES]


def policy_grid(on_weeks, off_weeks) -> list[tuple[int, int]]:
    """Every (on, off) pair, sorted by on then off; the plain lamp (1, 1) is always in it.
    Raises ValueError for a delay < 1."""
    ons = sorted({int(v) for v in on_weeks} | {1})
    offs = sorted({int(v) for v in off_weeks} | {1})
    if min(ons) < 1 or min(offs) < 1:
        raise ValueError(f"alert delays must be >= 1 week (got on {ons}, off {offs})")
    return [(a, b) for a in ons for b in offs]


def policy_curve(
    lit,
    subject,
    week,
    event,
    churn_within,
    horizon_weeks: int,
    policies: list[tuple[int, int]],
    account=None,
) -> pd.DataFrame:
    """One row per (on_weeks, off_weeks) in `policies` (in that order): the raw lamp `lit`
    (bool per row) under that design, judged as `alert_budget.budget_curve` judges a
    threshold. subject / week / event / churn_within: per row, as `budget_curve`; account:
    per row (default the subject), the unit the sums are kept by. Returns POLICY_COLUMNS
    (`chosen` all False). Raises ValueError as `budget_curve` and `health.alerts.confirm_lamps`."""
    subj = np.asarray(subject)
    wk = np.rint(np.asarray(week, dtype=float)).astype(np.int64)
    lits = confirm_lamps(lit, subj, wk, policies)
    scan = build_lit_scan(
        lits, np.arange(len(policies)), churn_within, subj, wk, event, horizon_weeks, account
    )
    curve = curve_from_scan(scan).drop(columns=["threshold", "chosen"])
    curve.insert(0, "off_weeks", [b for _, b in policies])
    curve.insert(0, "on_weeks", [a for a, _ in policies])
    curve["chosen"] = False
    return curve[POLICY_COLUMNS]


def choose_policy(
    curve: pd.DataFrame,
    min_lift: float = 2.0,
    min_warning_weeks: float = 4,
    min_lightings: int = 20,
    max_share_lit: float = 0.2,
) -> tuple[int, str]:
    """Row label of the chosen design in `curve` (from `policy_curve`, least delay first)
    and the rule in words: the highest lift among eligible designs reaching `min_lift`. The plain lamp's row (on 1, off 1) must be in the curve; it is
    the answer when no design reaches `min_lift` (see the module notes). Raises ValueError
    without a plain row."""
    plain = curve.index[(curve["on_weeks"] == 1) & (curve["off_weeks"] == 1)]
    if len(plain) == 0:
        raise ValueError("the curve needs the plain lamp (on_weeks 1, off_weeks 1)")
    plain_idx = plain[0]
    share_cap = max(max_share_lit, float(curve.loc[plain_idx, "share_lit"]))
    eligible = (
        (curve["lightings_known"] >= min_lightings)
        & (curve["median_warning_weeks"] >= min_warning_weeks)
        & (curve["share_lit"] <= share_cap)
    )
    reach = eligible & (curve["lift"] >= min_lift)
    ask = (
        f"the highest lift of a lighting among designs reaching lift >= {min_lift:g} with >= "
        f"{min_lightings} lightings and a median warning >= {min_warning_weeks:g} weeks"
    )
    if reach.any():
        # the plain lamp needs no delay; else the first of equal maxima is the least delay
        idx = plain_idx if reach[plain_idx] else curve["lift"].where(reach).idxmax()
        row = curve.loc[idx]
        return idx, (
            f"{ask}: lit after {int(row['on_weeks'])} week(s) beyond the threshold, off after "
            f"{int(row['off_weeks'])} week(s) back (lift {row['lift']:.2f} on the tuning half)"
        )
    best = curve.loc[eligible, "lift"].max() if eligible.any() else float("nan")
    seen = f"the best eligible design reached {best:.2f}" if np.isfinite(best) else "none eligible"
    return plain_idx, f"{ask}: no design did ({seen}), so the plain lamp (no delay) is kept"
