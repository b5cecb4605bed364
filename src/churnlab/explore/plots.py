"""Figures of the exploration bench, drawn from its DataFrames.

Each function returns a `matplotlib.figure.Figure` built without pyplot, so a notebook shows
it once (as the cell's value) and an analyst can restyle it (`fig.axes[0].set_ylim(...)`,
`fig.set_size_inches(...)`, `fig.savefig(...)`) or pass their own `ax`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from churnlab.explore.bench import Exploration

ON, OFF = "#c0392b", "#2c7fb8"
BAND_COLORS = {"red": "#c0392b", "amber": "#e69f00", "green": "#2ca25f"}


def _figure(ax: Axes | None, size=(7.0, 3.6), rows: int = 1, cols: int = 1, **kw):
    if ax is not None:
        return ax.figure, np.atleast_1d(ax)
    fig = Figure(figsize=size, layout="constrained")
    return fig, np.atleast_1d(fig.subplots(rows, cols, squeeze=False, **kw).ravel())


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_axis_off()


def plot_lead_profile(result: Exploration, ax: Axes | None = None) -> Figure:
    """Hazard ratio of the lamp by lag (weeks the lamp is read before each week), with 95%
    CIs, on a log scale. Filled markers: lags that count as evidence (family q <= fdr_alpha
    and HR at least min_effect_hr away from 1); the dotted lines are HR 1 and the minimum
    effect; the best lag is marked."""
    fig, (ax,) = _figure(ax)
    prof, s = result.lead_profile, result.settings
    fitted = prof[prof["hazard_ratio"].notna()] if len(prof) else prof
    if fitted.empty:
        _empty(ax, f"{result.hypothesis.id}: no lag fitted ({result.record.get('verdict_reason')})")
        return fig
    q = fitted["q_value"] if "q_value" in fitted.columns else fitted["q_value_alone"]
    evidence = (q <= s.fdr_alpha) & (fitted["coef"].abs() >= np.log(s.min_effect_hr))
    yerr = [fitted["hazard_ratio"] - fitted["ci_low"], fitted["ci_high"] - fitted["hazard_ratio"]]
    ax.errorbar(
        fitted["lag_weeks"], fitted["hazard_ratio"], yerr=yerr, fmt="none", ecolor="grey", capsize=3
    )
    for hit, face in ((True, ON), (False, "white")):
        part = fitted[evidence == hit]
        ax.scatter(
            part["lag_weeks"], part["hazard_ratio"], s=40, facecolor=face, edgecolor=ON, zorder=3,
            label=f"evidence (q ≤ {s.fdr_alpha:g})" if hit else "not evidence",
        )  # fmt: skip
    ax.set_yscale("log")
    # plain numbers on the log axis (0.5, 1, 2), not 2x10^0
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.axhline(1.0, color="black", lw=0.8)
    for h in (s.min_effect_hr, 1 / s.min_effect_hr):
        ax.axhline(h, color="grey", lw=0.8, ls=":")
    best = result.record.get("best_lag_weeks")
    if best is not None:
        ax.axvline(best, color=ON, lw=0.8, ls="--", label=f"best lag {best} weeks")
    ax.set_xticks(sorted(prof["lag_weeks"].unique()))
    ax.set_xlabel("lag: weeks the lamp is read before the week at risk")
    ax.set_ylabel("hazard ratio (lamp on vs off)")
    ax.set_title(f"{result.hypothesis.id}: {result.record.get('verdict_label')}")
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_threshold_tradeoff(result: Exploration) -> Figure:
    """The threshold trade-off against the share of account-weeks lit (the alert budget's
    axis): top, precision of a lighting (churn within the horizon after the lamp lights) and
    the base rate; bottom, churners warned and the median warning of a lighting. The dashed
    line is hypotheses.max_share_lit; the marked point is the threshold used."""
    curve = result.threshold_curve
    fig, axes = _figure(None, size=(7.0, 5.2), rows=2, sharex=True)
    if curve.empty:
        for ax in axes:
            ax.set_axis_off()
        _empty(axes[0], "no threshold to trade off (an attribute, or the indicator has one value)")
        return fig
    c = curve.sort_values("share_lit")
    chosen = c[c["chosen"]]
    top, bottom = axes
    top.plot(c["share_lit"], c["lighting_precision"], "-o", ms=3, color=ON, label="precision")
    top.plot(c["share_lit"], c["lighting_base_rate"], color="grey", ls=":", label="base rate")
    top.set_ylabel("churn within horizon\nafter a lighting")
    bottom.plot(
        c["share_lit"], c["churners_warned_share"], "-o", ms=3, color=OFF, label="churners warned"
    )
    bottom.set_ylabel("share of churners warned")
    right = bottom.twinx()
    right.plot(
        c["share_lit"], c["lighting_median_warning_weeks"], color="black", lw=0.8,
        label="median warning (weeks)",
    )  # fmt: skip
    right.set_ylabel("median warning (weeks)")
    for ax, col in ((top, "lighting_precision"), (bottom, "churners_warned_share")):
        ax.axvline(result.settings.max_share_lit, color="grey", ls="--", lw=0.8)
        if len(chosen):
            ax.scatter(chosen["share_lit"], chosen[col], s=110, facecolor="none",
                       edgecolor="black", zorder=4, label="threshold used")  # fmt: skip
    if len(chosen):
        row = chosen.iloc[0]
        top.annotate(
            f"{result.hypothesis.indicator} {'<' if result.hypothesis.direction == 'low' else '>'}"
            f" {row['threshold']:g}", (row["share_lit"], row["lighting_precision"]),
            xytext=(8, 8), textcoords="offset points", fontsize="small",
        )  # fmt: skip
    bottom.set_xlabel(
        f"share of account-weeks lit (budget {result.settings.max_share_lit:g}, dashed)"
    )
    top.legend(loc="best", fontsize="small")
    bottom.legend(loc="upper left", fontsize="small")
    right.legend(loc="lower right", fontsize="small")
    top.set_title(
        f"{result.hypothesis.id}: threshold trade-off ({result.record['threshold_method']})"
    )
    return fig


def plot_landmark_km(result: Exploration) -> Figure:
    """Kaplan-Meier survival after each landmark week, lamp on vs off at the landmark, with
    95% CIs and the log-rank p-value in each title."""
    km, tests = result.landmark_km, result.landmark_tests
    marks = sorted(km["landmark_week"].unique()) if len(km) else []
    fig, axes = _figure(None, size=(3.3 * max(len(marks), 1), 3.4), cols=max(len(marks), 1),
                        sharey=True)  # fmt: skip
    if not marks:
        _empty(axes[0], "no landmark curves (too few accounts at the landmarks)")
        return fig
    for ax, mark in zip(axes, marks, strict=True):
        for state, color in (("on", ON), ("off", OFF)):
            c = km[(km["landmark_week"] == mark) & (km["lamp"] == state)]
            if c.empty:
                continue
            ax.step(c["weeks_since_landmark"], c["survival"], where="post", color=color,
                    label=f"lamp {state} (n={int(c['at_risk'].iloc[0])})")  # fmt: skip
            ax.fill_between(c["weeks_since_landmark"], c["ci_low"], c["ci_high"], step="post",
                            color=color, alpha=0.15, lw=0)  # fmt: skip
        t = tests[tests["landmark_week"] == mark]
        p = t["logrank_p"].iloc[0] if len(t) else None
        ax.set_title(f"week {mark}" + ("" if p is None or pd.isna(p) else f" (log-rank p {p:.2g})"))
        ax.set_xlabel("weeks after the landmark")
        ax.legend(loc="lower left", fontsize="small")
    axes[0].set_ylabel("still a customer")
    return fig


def plot_account_history(history: pd.DataFrame, indicators: list[str] | None = None) -> Figure:
    """One account's weeks: health score with its band (if scored), the chosen indicators,
    the lamps (a row per lamp, dark = on), and contract events / churn as vertical lines.

    Args:
        history: `churnlab.explore.account_history`'s frame.
        indicators: indicator columns to draw (default: the lamps' indicators).
    """
    lamps = [c for c in history.columns if c.startswith("lamp:")]
    if indicators is None:
        indicators = list(dict.fromkeys(history.attrs.get("lamp_indicators", [])))
    indicators = [i for i in indicators if i in history.columns][:4]
    scored = "score" in history.columns and history["score"].notna().any()
    rows = int(scored) + len(indicators) + int(bool(lamps))
    fig, axes = _figure(None, size=(8.0, 1.7 * max(rows, 1) + 0.6), rows=max(rows, 1),
                        sharex=True)  # fmt: skip
    x = pd.to_datetime(history["week_start"])
    i = 0
    if scored:
        ax = axes[i]
        i += 1
        ax.plot(x, history["score"], color="black", lw=1)
        for band, color in BAND_COLORS.items():
            part = history["band"] == band
            ax.scatter(x[part], history["score"][part], s=12, color=color, label=band, zorder=3)
        ax.set_ylabel("health score")
        ax.legend(loc="best", fontsize="x-small", ncol=3)
    for ind in indicators:
        ax = axes[i]
        i += 1
        ax.plot(x, history[ind], color=OFF, lw=1)
        ax.set_ylabel(ind, fontsize="small")
    if lamps:
        ax = axes[i]
        grid = history[lamps].to_numpy(dtype=float).T
        # week edges as matplotlib dates: each cell spans its week
        edges = date2num(pd.DatetimeIndex([*x, x.iloc[-1] + pd.Timedelta(weeks=1)]))
        ax.pcolormesh(edges, np.arange(len(lamps) + 1), grid, cmap="Reds", vmin=0, vmax=1.4)
        ax.set_yticks(np.arange(len(lamps)) + 0.5, [c.removeprefix("lamp:") for c in lamps],
                      fontsize="small")  # fmt: skip
        ax.invert_yaxis()
    marked = history[history["events"].fillna("") != ""] if "events" in history else history[:0]
    for ax in axes:
        for when, what in zip(pd.to_datetime(marked["week_start"]), marked["events"], strict=True):
            ax.axvline(when, color=ON if "churn" in what else "grey", lw=0.8, ls="--")
    for when, what in zip(pd.to_datetime(marked["week_start"]), marked["events"], strict=True):
        axes[0].annotate(what, (when, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                         va="top", ha="right", fontsize="x-small")  # fmt: skip
    locator = AutoDateLocator()
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(ConciseDateFormatter(locator))
    fig.suptitle(f"account {history.attrs.get('account_id', '')}")
    return fig
