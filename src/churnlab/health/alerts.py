"""Lamps judged as alerts: what a customer-success team lives with when a lamp lights.

A hazard ratio says a lamp marks riskier weeks; it does not say whether a CSM can work with
it. Clinical early-warning scores are judged on the alerts they raise instead of the
C-statistic alone: alerts per 100 patient-days (workload), positive predictive value of an
alert at the alert rate actually used, and the lead time an alert gives before the event
(Romero-Brufau S, Huddleston JM, Escobar GJ, Liebow M. "Why the C-statistic is not
informative to evaluate early warning scores and what metrics to use." Critical Care 2015;
19:285). This module applies the same measures to lamps on the account-week panel.

Definitions (all in whole calendar weeks; a panel row is one subject-week):
- subject: an account, or an (account_id, spell) pair when the frame has a `spell` column
  (a reactivated customer is a new subject, as in the survival models);
- lit run: consecutive weeks of one subject with the lamp on; a missing week breaks a run;
- lighting: the first week of a lit run (an off -> on transition, or a lamp already on in the
  subject's first week, e.g. an account that arrives lit). A run that starts in the frame's
  first calendar week is left-censored (it may have lit long before the data starts) and is
  not counted as a lighting;
- churn within the horizon from week w: the subject's churn week c (its `event == 1` row)
  satisfies w <= c <= w + horizon - 1; known when it churned then, or when the subject is
  followed to at least week w + horizon - 1 (its last row); otherwise unknown (censored).
  This is `hypotheses.design.churn_within` written on calendar weeks;
- warning weeks of a lighting at week l before a churn at week c: c - l + 1, i.e. from the
  start of the lighting week to the end of the churn week, as `hypotheses.lamp_perf`
  measures warning (a lighting in the churn week itself gives 1 week).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

UNASSIGNED = "unassigned"


def week_index(week_start: pd.Series) -> np.ndarray:
    """Whole weeks since the earliest week (int64). Datetimes are counted in 7-day steps;
    numbers are taken as week numbers already."""
    if pd.api.types.is_datetime64_any_dtype(week_start):
        w = pd.to_datetime(week_start)
        if getattr(w.dt, "tz", None) is not None:
            w = w.dt.tz_localize(None)
        days = (w - w.min()).dt.days.to_numpy()
        return np.rint(days / 7).astype(np.int64)
    arr = week_start.to_numpy(dtype=float)
    return np.rint(arr - np.nanmin(arr) if len(arr) else arr).astype(np.int64)


def subject_codes(frame: pd.DataFrame) -> np.ndarray:
    """One integer per subject: account_id, or (account_id, spell) when `spell` is present."""
    if "spell" in frame.columns:
        keys = pd.MultiIndex.from_arrays(
            [frame["account_id"].astype(str), frame["spell"].astype(str)]
        )
        return pd.factorize(keys)[0].astype(np.int64)
    return pd.factorize(frame["account_id"])[0].astype(np.int64)


def _lit_array(frame: pd.DataFrame, lit) -> np.ndarray:
    """Lamp state per row as bool; NaN / missing counts as off (we act only on what we saw)."""
    arr = np.asarray(lit.reindex(frame.index) if isinstance(lit, pd.Series) else lit)
    if arr.shape != (len(frame),):
        raise ValueError(f"lit has {arr.shape} values, the frame {len(frame)} rows")
    as_float = pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(dtype=float)
    return np.nan_to_num(as_float, nan=0.0) > 0


def _take(per_run: np.ndarray, run_id: np.ndarray, fill) -> np.ndarray:
    """per_run[run_id] where run_id >= 0 (a lit row), else `fill`; safe with no runs."""
    out = np.full(len(run_id), fill, dtype=per_run.dtype if len(per_run) else type(fill))
    lit = run_id >= 0
    out[lit] = per_run[run_id[lit]]
    return out


class _Sorted:
    """The frame's rows ordered by subject, then week, with the arrays every measure needs.
    `order[i]` is the original position of sorted row i."""

    def __init__(self, frame: pd.DataFrame, lit, horizon_weeks: int | None = None):
        missing = [c for c in ("account_id", "week_start", "event") if c not in frame.columns]
        if missing:
            raise ValueError(f"frame lacks column(s) {', '.join(missing)}")
        subj = subject_codes(frame)
        week = week_index(frame["week_start"])
        order = np.lexsort((week, subj))
        self.order = order
        self.subj = subj[order]
        self.week = week[order]
        self.lit = _lit_array(frame, lit)[order]
        self.event = frame["event"].to_numpy()[order] == 1
        n = len(order)
        if n and np.any((self.subj[1:] == self.subj[:-1]) & (self.week[1:] == self.week[:-1])):
            raise ValueError("a subject has two rows for the same week")
        same_prev = np.zeros(n, bool)
        if n:
            same_prev[1:] = (self.subj[1:] == self.subj[:-1]) & (
                self.week[1:] == self.week[:-1] + 1
            )
        prev_lit = np.zeros(n, bool)
        if n:
            prev_lit[1:] = self.lit[:-1]
        self.run_first = self.lit & ~(same_prev & prev_lit)
        run_id = np.cumsum(self.run_first) - 1
        first_week = self.week[self.run_first]
        self.run_id = np.where(self.lit, run_id, -1)
        self.run_start_pos = np.flatnonzero(self.run_first)
        # runs are consecutive weeks, so weeks lit so far = week - run's first week + 1
        run_first_week = _take(first_week, self.run_id, 0)
        self.weeks_lit = np.where(self.lit, self.week - run_first_week + 1, 0)
        self.first_panel_week = int(self.week.min()) if n else 0
        self.left_censored_run = first_week == self.first_panel_week
        self.lighting = self.run_first & (self.week != self.first_panel_week)

        # per subject: last week followed, churn week (if any)
        n_subj = int(self.subj.max()) + 1 if n else 0
        self.n_subj = n_subj
        last_week = np.full(n_subj, -(10**9), dtype=np.int64)
        np.maximum.at(last_week, self.subj, self.week)
        churn_week = np.full(n_subj, -(10**9), dtype=np.int64)
        np.maximum.at(churn_week, self.subj[self.event], self.week[self.event])
        self.churned = np.zeros(n_subj, bool)
        self.churned[self.subj[self.event]] = True
        self.last_week = last_week
        self.churn_week = churn_week
        if horizon_weeks is not None:
            self.y = churn_within_weeks(
                self.week, self.churned[self.subj], churn_week[self.subj],
                last_week[self.subj], horizon_weeks,
            )  # fmt: skip


def churn_within_weeks(
    week: np.ndarray,
    churned: np.ndarray,
    churn_week: np.ndarray,
    last_week: np.ndarray,
    horizon_weeks: int,
) -> np.ndarray:
    """Per row: 1.0 if the subject churns in week w .. w + horizon - 1, 0.0 if it is followed
    that far without churning in the window, NaN if follow-up ends first (censored).
    Arguments are per-row arrays of whole week numbers; `churned` bool."""
    if horizon_weeks < 1:
        raise ValueError(f"horizon_weeks must be >= 1 (got {horizon_weeks})")
    end = week + horizon_weeks - 1
    y = churned & (churn_week >= week) & (churn_week <= end)
    known = y | (last_week >= end)
    return np.where(known, y.astype(float), np.nan)


def confirm_lamp(lit, subject, week, on_weeks: int = 1, off_weeks: int = 1) -> np.ndarray:
    """The lamp with an on-delay and an off-delay: lit once the raw lamp has been on for
    `on_weeks` weeks in a row, and off again only once it has been off for `off_weeks` weeks
    in a row (a raw off week inside the hold keeps it lit).

    Why: a lamp read on a noisy weekly indicator flickers (one quiet week - a holiday - lights
    it and the next week puts it out), and every flicker is a new alert that mostly leads
    nowhere: a "chattering" alarm. Alarm management answers chattering with exactly these two
    timers - an on-delay (the condition must persist before the alarm sounds) and an off-delay
    (it must clear for a while before the alarm resets): ANSI/ISA-18.2-2016 "Management of
    Alarm Systems for the Process Industries" and EEMUA 191; bedside monitors do the same with
    alarm delays, which removed a large share of false alarms at little cost in missed events
    (Gorges M, Markewitz BA, Westenskow DR, "Improving alarm performance in the medical
    intensive care unit using delays and clinical context", Anesth Analg 2009;108:1546-52).
    The price of an on-delay is warning time: a confirmed lamp lights on_weeks - 1 weeks after
    the raw one.

    lit: raw lamp per row (bool / 0-1 / NaN = off); subject: subject code per row (account,
    or account + spell); week: whole week number per row. Rows may come in any order; a
    missing week ends a run (the state starts off again after it), as in `lamp_runs`. A raw
    run already on in a subject's first row counts its weeks from there (older weeks are not
    seen). on_weeks = off_weeks = 1 returns the raw lamp. Returns bool per row, in the given
    order. Raises ValueError for delays < 1 or arrays of different lengths."""
    return confirm_lamps(lit, subject, week, [(on_weeks, off_weeks)])[0]


def confirm_lamps(lit, subject, week, designs) -> list[np.ndarray]:
    """`confirm_lamp` for several (on_weeks, off_weeks) designs of one raw lamp, sorting the
    rows once. Returns one bool array per design, in the given row order."""
    if any(a < 1 or b < 1 for a, b in designs):
        raise ValueError(f"on_weeks and off_weeks must be >= 1 (got {list(designs)})")
    raw = np.nan_to_num(np.asarray(lit, dtype=float), nan=0.0) > 0
    subj = np.asarray(subject)
    wk = np.asarray(week, dtype=np.int64)
    n = len(raw)
    if not (len(subj) == len(wk) == n):
        raise ValueError("lit, subject and week need the same length")
    order = np.lexsort((wk, subj))
    r, s, w = raw[order], subj[order], wk[order]
    idx = np.arange(n)
    # a segment = consecutive weeks of one subject; the lamp state starts off in each
    new = np.r_[True, (s[1:] != s[:-1]) | (w[1:] != w[:-1] + 1)] if n else np.zeros(0, bool)

    def run_length(x: np.ndarray) -> np.ndarray:
        # weeks in a row with x true, ending at each row (0 where x is false)
        first = x & (new | ~np.r_[False, x[:-1]])
        last_first = np.maximum.accumulate(np.where(first, idx, -1))
        return np.where(x, idx - last_first + 1, 0)

    on_len, off_len = (run_length(r), run_length(~r)) if n else (idx, idx)
    outs = []
    for on_weeks, off_weeks in designs:
        if (on_weeks == 1 and off_weeks == 1) or n == 0:
            outs.append(raw.copy())
            continue
        confirm = r & (on_len >= on_weeks)
        release = (~r & (off_len >= off_weeks)) | (new & ~confirm)
        # state = the latest confirm / release at or before the row; every segment starts
        # with one, so the latest is always in the row's own segment
        last = np.maximum.accumulate(np.where(confirm | release, idx, -1))
        out = np.empty(n, bool)
        out[order] = confirm[last]
        outs.append(out)
    return outs


def lamp_runs(frame: pd.DataFrame, lit) -> pd.DataFrame:
    """Per row of `frame` (same index and order): the lamp's run state.

    frame: account_id, week_start (datetime or week number), event (0/1), optional spell.
    lit: bool / 0-1 / NaN per row (Series aligned on the index, or an array in row order);
    NaN counts as off.
    Returns columns `lit` (bool), `run_start` (week_start of the week the current lit run
    began; NaT / NaN when off), `weeks_lit` (weeks lit so far including this one; 0 when off),
    `lighting` (bool: this row is an off -> on transition, see the module notes) and
    `left_censored` (bool: the run began in the frame's first week, so it may be older).
    Raises ValueError on missing columns, a wrong-length `lit` or duplicate subject-weeks."""
    s = _Sorted(frame, lit)
    n = len(frame)
    ws = frame["week_start"].to_numpy()[s.order]
    start_rows = _take(s.run_start_pos, s.run_id, 0)
    run_start = pd.Series(ws[start_rows] if n else ws).where(s.lit)
    left = _take(s.left_censored_run, s.run_id, False)
    out = pd.DataFrame(
        {
            "lit": s.lit,
            "run_start": run_start.to_numpy(),
            "weeks_lit": s.weeks_lit.astype(np.int64),
            "lighting": s.lighting,
            "left_censored": left.astype(bool),
        }
    )
    back = np.empty(n, dtype=np.int64)
    back[s.order] = np.arange(n)
    return out.iloc[back].set_index(frame.index)


def _csm_labels(frame: pd.DataFrame) -> np.ndarray:
    if "csm_id" not in frame.columns:
        return np.full(len(frame), UNASSIGNED, dtype=object)
    # a few dozen CSMs over ~10^5 rows: clean the distinct ids, then spread them back
    codes, ids = pd.factorize(frame["csm_id"].astype("string"))
    labels = pd.Series(ids, dtype="string")
    labels = labels.where(labels.str.strip() != "", pd.NA).fillna(UNASSIGNED)
    out = np.full(len(frame), UNASSIGNED, dtype=object)
    out[codes >= 0] = labels.to_numpy(dtype=object)[codes[codes >= 0]]
    return out


def csm_week_load(frame: pd.DataFrame, lit) -> pd.DataFrame:
    """Per week and CSM group: active subjects, subjects lit, lightings.

    Accounts without a CSM (`csm_id` missing or absent) form the group "unassigned", which is
    not a CSM. Columns: week_start, csm_id, active, lit, lightings; sorted by week, csm_id.
    The frame's first week is left out (no lighting can be seen in it)."""
    s = _Sorted(frame, lit)
    df = pd.DataFrame(
        {
            "week_start": frame["week_start"].to_numpy()[s.order],
            "csm_id": _csm_labels(frame)[s.order],
            "active": 1,
            "lit": s.lit.astype(int),
            "lightings": s.lighting.astype(int),
        }
    )
    df = df[s.week != s.first_panel_week]
    out = df.groupby(["week_start", "csm_id"], sort=True)[["active", "lit", "lightings"]].sum()
    return out.reset_index()


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if len(values) else float("nan")


def alert_summary(frame: pd.DataFrame, lit, horizon_weeks: int) -> dict:
    """One lamp judged as an alert. Returns a dict (JSON-ready floats / ints; NaN where a
    measure has no data):

    workload
    - account_weeks, weeks: rows and calendar weeks of the frame;
    - share_lit_median / share_lit_latest: share of the week's active subjects with the lamp
      on, median over weeks / in the latest week (`latest_week`, ISO date or week number);
    - lightings: off -> on transitions (left-censored runs excluded);
      lightings_per_100_account_weeks: lightings per 100 subject-weeks after the first week
      (the "alerts per 100 patient-days" of early-warning scores);
    - lightings_per_csm_week_median / _p90 / _max over (week, CSM) cells of real CSMs with
      active accounts (NaN without csm_id); n_csms; unassigned_lightings_per_week_median:
      the same for accounts without a CSM, per week;
    value of an alert
    - lightings_known: lightings whose horizon is observed or that churned in it;
      precision: share of those followed by churn within the horizon (PPV of an alert);
    - base_rate: churn within the horizon over all subject-weeks with a known outcome;
      lift = precision / base_rate;
    - churners, churners_warned (a lighting in the `horizon_weeks` weeks ending with the churn
      week), churners_warned_share, median_warning_weeks (earliest such lighting to the end
      of the churn week); churners_lit_share: lamp on in any of those weeks (lamp_perf's
      recall, which also counts lamps lit long before);
    how long it stays lit
    - runs, runs_ongoing (still lit at the subject's last row); weeks_lit_median / _p75:
      run lengths in weeks, ongoing runs at their length so far (so lower bounds).
    Raises ValueError as `lamp_runs`, and for horizon_weeks < 1."""
    s = _Sorted(frame, lit, horizon_weeks)
    n = len(frame)
    ws = frame["week_start"].to_numpy()[s.order]
    out: dict = {"account_weeks": int(n), "weeks": int(len(np.unique(s.week)))}

    # workload: share lit per week
    per_week = pd.DataFrame({"w": s.week, "lit": s.lit}).groupby("w")["lit"].mean()
    out["share_lit_median"] = float(per_week.median()) if len(per_week) else float("nan")
    out["share_lit_latest"] = float(per_week.iloc[-1]) if len(per_week) else float("nan")
    latest = ws[s.week == s.week.max()][0] if n else None
    if latest is not None and pd.api.types.is_datetime64_any_dtype(frame["week_start"]):
        latest = pd.Timestamp(latest).date().isoformat()
    elif latest is not None:
        latest = int(latest)
    out["latest_week"] = latest
    after_first = s.week != s.first_panel_week
    out["lightings"] = int(s.lighting.sum())
    rows_after = int(after_first.sum())
    out["lightings_per_100_account_weeks"] = (
        100.0 * out["lightings"] / rows_after if rows_after else float("nan")
    )
    load = csm_week_load(frame, lit)
    real = load[load["csm_id"] != UNASSIGNED]["lightings"].to_numpy(dtype=float)
    out["n_csms"] = int(load.loc[load["csm_id"] != UNASSIGNED, "csm_id"].nunique())
    out["lightings_per_csm_week_median"] = _quantile(real, 0.5)
    out["lightings_per_csm_week_p90"] = _quantile(real, 0.9)
    out["lightings_per_csm_week_max"] = float(real.max()) if len(real) else float("nan")
    un = load[load["csm_id"] == UNASSIGNED]["lightings"].to_numpy(dtype=float)
    out["unassigned_lightings_per_week_median"] = _quantile(un, 0.5)

    # value of an alert: PPV of a lighting vs the base rate of any subject-week
    y_light = s.y[s.lighting]
    known = np.isfinite(y_light)
    out["lightings_known"] = int(known.sum())
    out["precision"] = float(y_light[known].mean()) if known.any() else float("nan")
    yk = s.y[np.isfinite(s.y)]
    out["base_rate"] = float(yk.mean()) if len(yk) else float("nan")
    out["lift"] = out["precision"] / out["base_rate"] if out["base_rate"] > 0 else float("nan")

    # churners warned: a lighting in the horizon weeks ending with the churn week
    cw = s.churn_week[s.subj]
    churner_row = s.churned[s.subj]
    in_window = churner_row & (s.week <= cw) & (s.week >= cw - horizon_weeks + 1)
    n_churners = int(s.churned.sum())
    warn = np.zeros(s.n_subj)
    hit = in_window & s.lighting
    np.maximum.at(warn, s.subj[hit], (cw - s.week + 1)[hit])
    warned = warn > 0
    lit_win = np.zeros(s.n_subj, bool)
    lit_win[s.subj[in_window & s.lit]] = True
    out["churners"] = n_churners
    out["churners_warned"] = int(warned.sum())
    out["churners_warned_share"] = float(warned.sum() / n_churners) if n_churners else float("nan")
    out["median_warning_weeks"] = float(np.median(warn[warned])) if warned.any() else float("nan")
    out["churners_lit_share"] = float(lit_win.sum() / n_churners) if n_churners else float("nan")

    # how long it stays lit
    n_runs = int(s.run_first.sum())
    lengths = np.zeros(n_runs, dtype=np.int64)
    if n_runs:
        np.maximum.at(lengths, s.run_id[s.lit], s.weeks_lit[s.lit])
    last_of_subject = np.r_[s.subj[1:] != s.subj[:-1], True] if n else np.zeros(0, bool)
    ongoing = np.zeros(n_runs, bool)
    ongoing[s.run_id[last_of_subject & s.lit]] = True
    out["runs"] = n_runs
    out["runs_ongoing"] = int(ongoing.sum())
    out["weeks_lit_median"] = _quantile(lengths.astype(float), 0.5)
    out["weeks_lit_p75"] = _quantile(lengths.astype(float), 0.75)
    return out


def alert_table(
    frame: pd.DataFrame, lamps: Mapping[str, object], horizon_weeks: int
) -> pd.DataFrame:
    """`alert_summary` for several lamps: one row per lamp id (column `id`, in the mapping's
    order), one column per measure. `lamps`: lamp id -> lit per row (as in `lamp_runs`)."""
    rows = [{"id": k, **alert_summary(frame, v, horizon_weeks)} for k, v in lamps.items()]
    return pd.DataFrame(rows)
