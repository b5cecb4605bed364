"""One plotting style for every report, and the report plots themselves.

Okabe–Ito colours (safe for the common colour-vision deficiencies), titles, axis labels with
units and legends on every plot. Each plot function returns a matplotlib Figure (a notebook
shows it inline; an analyst can restyle it); `png_bytes` and the notebooks' inline backend
(`notebook.PRINT_FIGURE_KWARGS`) write PNG with a fixed dpi and no metadata, so the same data
gives byte-identical images (no dates, no version strings).
"""

from __future__ import annotations

import io
import logging
import math
import sys

import matplotlib

if "ipykernel" not in sys.modules:  # scripts and tests: headless; a kernel keeps its inline backend
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib_fontja  # noqa: E402,F401  (registers IPAexGothic, bundled from PyPI)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    Formatter,
    FuncFormatter,
    Locator,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    PercentFormatter,
)

from churnlab.reports.i18n import t  # noqa: E402

OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
CYCLE = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black")]
BAND_COLOURS = {
    "red": OKABE_ITO["vermillion"],
    "amber": OKABE_ITO["orange"],
    "green": OKABE_ITO["green"],
}
LAMP_COLOURS = {True: OKABE_ITO["vermillion"], False: OKABE_ITO["blue"]}
DPI = 100


def apply_style(lang: str) -> None:
    """Shared rcParams; Japanese text uses IPAexGothic, Latin glyphs fall back per glyph."""
    # IPAexGothic has no bold face; matplotlib logs that for every bold title otherwise
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    families = ["IPAexGothic", "DejaVu Sans"] if lang == "ja" else ["DejaVu Sans", "IPAexGothic"]
    plt.rcParams.update(
        {
            "font.family": families,
            "font.size": 10,
            "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.titlesize": 12,
            "axes.titleweight": "bold",
            "legend.frameon": False,
            "figure.figsize": (8, 4),
            # the inline backend makes figures transparent; reports are drawn on white
            "figure.facecolor": "white",
            "figure.edgecolor": "white",
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            "svg.hashsalt": "churnlab",  # stable ids should anyone save SVG
            "axes.unicode_minus": False,  # IPAexGothic lacks U+2212
        }
    )


def png_bytes(fig: Figure) -> bytes:
    """PNG of `fig` without metadata (no Software/date chunks), then close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _month_axis(ax) -> None:
    """Dates as concise month labels (no day-of-month ticks on a monthly series)."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


class FewLogLocator(Locator):
    """Major ticks on a log axis that never crowd: 1-2-5 per decade over a short span, 1-3
    over a few decades, powers of ten beyond (every other one over a very long span)."""

    def __call__(self):
        vmin, vmax = sorted(self.axis.get_view_interval())
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin, vmax):
        vmin, vmax = max(float(vmin), 1e-300), max(float(vmax), 1e-300)
        if vmax <= vmin:
            return np.array([vmin])
        decades = math.log10(vmax / vmin)
        subs = (1, 2, 5) if decades <= 1.5 else (1, 3) if decades <= 3 else (1,)
        step = max(1, math.ceil(decades / 6)) if decades > 3 else 1
        lo, hi = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
        ticks = [
            s * 10.0**e for e in range(lo, hi + 1) if (e - lo) % step == 0 for s in subs
        ]  # fmt: skip
        inside = [v for v in ticks if vmin * (1 - 1e-9) <= v <= vmax * (1 + 1e-9)]
        if len(inside) >= 2:
            return np.array(inside)
        # under a decade without two 1-2-5 values: a few evenly spaced round numbers
        linear = MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(vmin, vmax)
        return linear[(linear > 0) & (linear >= vmin * (1 - 1e-9)) & (linear <= vmax * (1 + 1e-9))]


def _plain_log_ticks(axis) -> None:
    """Log-scale axes labelled 0.5, 1, 2 rather than 10^0 and 2x10^0, with few labelled major
    ticks (FewLogLocator) and unlabelled minor ticks, so labels never print over each other."""
    axis.set_major_locator(FewLogLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10), numticks=12))
    axis.set_minor_formatter(NullFormatter())


def distinct_decimals(values, most: int = 3) -> int:
    """Fewest decimals (<= most) that print every value exactly and all differently."""
    locs = np.asarray(values if len(values) else [0.0], dtype=float)
    for decimals in range(most + 1):
        exact = np.allclose(np.round(locs, decimals), locs, atol=1e-9, rtol=0)
        if exact and len({f"{v:.{decimals}f}" for v in locs}) == len(locs):
            return decimals
    return most


class DistinctPercentFormatter(Formatter):
    """Percent tick labels with as few decimals as make every label distinct and exact.

    A fixed `PercentFormatter(decimals=0)` labels ticks 98.0, 98.2, 98.4 ... all "98%" when
    GRR/NRR move within a point; here the decimals follow the tick spacing (at most 3)."""

    def __init__(self) -> None:
        self.decimals = 0

    def format_ticks(self, values):
        self.decimals = distinct_decimals(values)
        return [self(v) for v in values]

    def __call__(self, x, pos=None):
        return f"{x:.{self.decimals}f}%"


def percent_axis(axis) -> None:
    """A percent axis (values already x100) with round ticks and distinct labels."""
    axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    axis.set_major_formatter(DistinctPercentFormatter())


def _empty_axes(ax, lang: str, what: str) -> None:
    ax.text(0.5, 0.5, t(lang, "empty", what=what), ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def churn_trend(monthly: pd.DataFrame, lang: str) -> Figure:
    """GRR and NRR (left axis, %) with monthly logo churn (right axis, %) by month.

    Without revenue series (segment pages) logo churn gets the only, left axis.
    """
    fig, ax = plt.subplots()
    if monthly.empty or "logo_churn_rate" not in monthly:
        ax.set_title(t(lang, "plot.churn_trend"))
        _empty_axes(ax, lang, t(lang, "empty.input"))
        return fig
    x = pd.to_datetime(monthly["month"])
    lines = []
    revenue = [
        (col, key, colour)
        for col, key, colour in (("grr", "plot.grr", "blue"), ("nrr", "plot.nrr", "green"))
        if col in monthly and monthly[col].notna().any()
    ]
    for col, key, colour in revenue:
        lines += ax.plot(
            x, monthly[col] * 100, marker="o", ms=3, color=OKABE_ITO[colour], label=t(lang, key)
        )
    ax.set_xlabel(t(lang, "plot.month"))
    churn_ax = ax
    if revenue:
        ax.set_title(t(lang, "plot.churn_trend"))
        ax.set_ylabel(t(lang, "plot.rate_pct"))
        percent_axis(ax.yaxis)
        churn_ax = ax.twinx()
        churn_ax.grid(False)
        churn_ax.spines["right"].set_visible(True)
        churn_label = t(lang, "plot.logo_churn")
    else:
        ax.set_title(t(lang, "plot.churn_only"))
        churn_label = t(lang, "plot.logo_churn_left")
    lines += churn_ax.plot(
        x,
        monthly["logo_churn_rate"] * 100,
        marker="s",
        ms=3,
        ls="--",
        color=OKABE_ITO["vermillion"],
        label=churn_label,
    )
    churn_ax.set_ylabel(churn_label)
    percent_axis(churn_ax.yaxis)
    churn_ax.set_ylim(bottom=0)
    ax.legend(lines, [ln.get_label() for ln in lines], loc="lower left")
    _month_axis(ax)
    return fig


def retention_curves(
    curves: pd.DataFrame, lang: str, group_label: str, time_col: str = "weeks"
) -> Figure:
    """Kaplan–Meier retention (% still customers) vs time since first contract, one line per group.

    `time_col` is "weeks" (panel-based curves) or "months" (kpis stage's km_curves).
    """
    fig, ax = plt.subplots()
    ax.set_title(t(lang, "plot.retention", group=group_label))
    if curves.empty:
        _empty_axes(ax, lang, t(lang, "empty.input"))
        return fig
    for i, (group, g) in enumerate(curves.groupby("group", sort=True)):
        g = g.sort_values(time_col)
        colour = CYCLE[i % len(CYCLE)]
        ax.step(g[time_col], g["survival"] * 100, where="post", color=colour, label=str(group))
        if {"ci_low", "ci_high"} <= set(g.columns) and g["ci_low"].notna().any():
            ax.fill_between(
                g[time_col],
                g["ci_low"] * 100,
                g["ci_high"] * 100,
                step="post",
                color=colour,
                alpha=0.12,
            )
    ax.set_xlabel(t(lang, "plot.tenure_months" if time_col == "months" else "plot.tenure_weeks"))
    ax.set_ylabel(t(lang, "plot.retention_pct"))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_ylim(0, 101)
    ax.legend(loc="lower left")
    return fig


def cohort_heatmap(matrix: pd.DataFrame, lang: str) -> Figure:
    """Share of each signup cohort still a customer N months later (cividis: colour-blind safe)."""
    fig, ax = plt.subplots(figsize=(8, 0.28 * max(len(matrix), 8) + 1.5))
    ax.set_title(t(lang, "plot.cohort_title"))
    if matrix.empty:
        _empty_axes(ax, lang, t(lang, "empty.input"))
        return fig
    values = matrix.to_numpy(dtype=float) * 100
    im = ax.imshow(values, aspect="auto", cmap="cividis", vmin=0, vmax=100)
    ax.set_xticks(np.arange(matrix.shape[1]), [str(int(c)) for c in matrix.columns])
    ax.set_yticks(np.arange(matrix.shape[0]), list(matrix.index))
    ax.set_xlabel(t(lang, "plot.months_since"))
    ax.set_ylabel(t(lang, "plot.cohort"))
    ax.grid(False)
    cbar = fig.colorbar(im, ax=ax)
    cbar.set_label(t(lang, "plot.retention_pct"))
    return fig


def band_shares(shares: pd.DataFrame, lang: str) -> Figure:
    """Stacked area of red / amber / green share of scored accounts per week."""
    fig, ax = plt.subplots()
    ax.set_title(t(lang, "plot.health_trend"))
    if shares.empty:
        _empty_axes(ax, lang, t(lang, "empty.input"))
        return fig
    bands = [b for b in ("red", "amber", "green") if b in shares]
    ax.stackplot(
        pd.to_datetime(shares["week_start"]),
        *[shares[b] * 100 for b in bands],
        labels=[t(lang, f"band.{b}") for b in bands],
        colors=[BAND_COLOURS[b] for b in bands],
        alpha=0.85,
    )
    ax.set_xlabel(t(lang, "plot.week"))
    ax.set_ylabel(t(lang, "plot.share_pct"))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_ylim(0, 100)
    ax.legend(loc="upper left", ncol=3)
    _month_axis(ax)
    return fig


def lead_profile(profile: pd.DataFrame, name: str, lang: str) -> Figure:
    """Hazard ratio with 95% CI against the lag (weeks before churn), log scale, HR = 1 marked."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.set_title(t(lang, "plot.lead_profile", name=name))
    prof = profile.dropna(subset=["hazard_ratio"]) if not profile.empty else profile
    if prof.empty:
        _empty_axes(ax, lang, t(lang, "empty.input"))
        return fig
    prof = prof.sort_values("lag_weeks")
    lo = (prof["hazard_ratio"] - prof["ci_low"]).clip(lower=0).fillna(0).to_numpy()
    hi = (prof["ci_high"] - prof["hazard_ratio"]).clip(lower=0).fillna(0).to_numpy()
    ax.errorbar(
        prof["lag_weeks"].to_numpy(dtype=float),
        prof["hazard_ratio"].to_numpy(dtype=float),
        yerr=[lo, hi],
        fmt="o-",
        color=OKABE_ITO["blue"],
        capsize=4,
        label=t(lang, "col.hr"),
    )
    ax.axhline(1.0, color=OKABE_ITO["black"], lw=1, ls=":", label=t(lang, "plot.no_effect"))
    ax.set_yscale("log")
    _plain_log_ticks(ax.yaxis)
    ax.set_xlabel(t(lang, "plot.lag_weeks"))
    ax.set_ylabel(t(lang, "plot.hazard_ratio"))
    ax.set_xticks(sorted(prof["lag_weeks"].unique()))
    ax.legend(loc="best")
    return fig


def km_by_lamp(km: pd.DataFrame, name: str, lang: str, max_panels: int = 4) -> Figure:
    """Landmark Kaplan–Meier retention, lamp on vs off at the landmark; one panel per landmark.

    Accounts are grouped by the lamp's state at the landmark week only (no "ever on"
    grouping, which would give the lamp-on group immortal time).
    """
    landmarks = sorted(km["landmark_week"].unique())[:max_panels] if not km.empty else []
    n = max(len(landmarks), 1)
    fig, axes = plt.subplots(
        1, n, figsize=(min(4.2 * n, 12), 3.8), sharey=True, squeeze=False, layout="constrained"
    )
    fig.suptitle(t(lang, "plot.km_title", name=name), fontweight="bold")
    if not landmarks:
        _empty_axes(axes[0][0], lang, t(lang, "empty.input"))
        return fig
    for ax, week in zip(axes[0], landmarks, strict=False):
        sub = km[km["landmark_week"] == week]
        for lamp in (False, True):
            g = sub[sub["lamp_on"] == lamp].sort_values("weeks")
            if g.empty:
                continue
            n_start = int(g["at_risk"].iloc[0]) if g["at_risk"].notna().any() else None
            label = t(lang, "plot.lamp_on" if lamp else "plot.lamp_off")
            label += f" (n={n_start})" if n_start is not None else ""
            ax.step(
                g["weeks"], g["survival"] * 100, where="post", color=LAMP_COLOURS[lamp], label=label
            )
            if g["ci_low"].notna().any():
                ax.fill_between(
                    g["weeks"],
                    g["ci_low"] * 100,
                    g["ci_high"] * 100,
                    step="post",
                    color=LAMP_COLOURS[lamp],
                    alpha=0.15,
                )
        ax.set_title(t(lang, "plot.landmark", week=int(week)), fontsize=10)
        ax.set_xlabel(t(lang, "plot.weeks_after_landmark"))
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.legend(loc="lower left", fontsize=8)
    axes[0][0].set_ylabel(t(lang, "plot.retention_pct"))
    return fig


def threshold_curve(
    curve: pd.DataFrame, chosen: float | None, unit: str, name: str, lang: str
) -> Figure:
    """Precision and recall (left axis, %) and lift (right axis) at each candidate threshold."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.set_title(t(lang, "plot.threshold_title", name=name))
    if curve.empty:
        _empty_axes(ax, lang, t(lang, "empty.input"))
        return fig
    curve = curve.sort_values("threshold")
    lines = []
    for col, key, colour, ls in (
        ("precision", "plot.precision", "blue", "-"),
        ("recall", "plot.recall", "orange", "--"),
    ):
        if curve[col].notna().any():
            lines += ax.plot(
                curve["threshold"],
                curve[col] * 100,
                marker="o",
                ms=3,  # a configured threshold is a single point: still visible
                ls=ls,
                color=OKABE_ITO[colour],
                label=t(lang, key),
            )
    ax.set_xlabel(t(lang, "plot.threshold", unit=unit))
    ax.set_ylabel(t(lang, "plot.share_axis"))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_ylim(0, 100)
    if curve["lift"].notna().any():
        ax2 = ax.twinx()
        ax2.grid(False)
        ax2.spines["right"].set_visible(True)
        lines += ax2.plot(
            curve["threshold"],
            curve["lift"],
            ls=":",
            marker=".",
            color=OKABE_ITO["green"],
            label=t(lang, "plot.lift"),
        )
        ax2.set_ylabel(t(lang, "plot.lift_axis"))
        ax2.set_ylim(bottom=0)
    if chosen is not None and np.isfinite(chosen):
        lines.append(
            ax.axvline(chosen, color=OKABE_ITO["vermillion"], lw=1.5, label=t(lang, "plot.chosen"))
        )
    ax.legend(lines, [ln.get_label() for ln in lines], loc="best", fontsize=8)
    return fig


def quarantine_bars(counts: pd.DataFrame, lang: str) -> Figure:
    """Quarantined share of rows read, per table (%), each bar labelled 'quarantined / read'.

    Shares, not counts: the events table is orders of magnitude larger than the others and
    would flatten every other bar.
    """
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(counts), 3) + 1.2))
    ax.set_title(t(lang, "plot.quarantine_title"))
    if counts.empty:
        _empty_axes(ax, lang, t(lang, "empty.input"))
        return fig
    y = np.arange(len(counts))
    share = counts["share"].fillna(0).to_numpy(dtype=float) * 100
    ax.barh(y, share, color=OKABE_ITO["vermillion"], label=t(lang, "plot.quarantined"))
    top = max(float(share.max()), 1.0)
    for yi, s_pct, q, n in zip(y, share, counts["quarantined"], counts["read"], strict=True):
        ax.text(s_pct + top * 0.01, yi, f"{int(q):,} / {int(n):,}", va="center", fontsize=8)
    ax.set_yticks(y, counts["table"].astype(str))
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.25)
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=1))
    ax.set_xlabel(t(lang, "plot.quarantined_share"))
    ax.set_ylabel(t(lang, "plot.table"))
    ax.legend(loc="lower right")
    return fig


def reason_bars(reasons: pd.DataFrame, lang: str) -> Figure:
    """Quarantined rows per (table, reason), largest first; bars labelled by the `label`
    column when present (`pages.reason_labels`: reason in words with its column)."""
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(len(reasons), 3) + 1.2))
    ax.set_title(t(lang, "plot.reasons_title"))
    if reasons.empty:
        _empty_axes(ax, lang, t(lang, "empty.no_rows"))
        return fig
    if "label" in reasons:
        labels = reasons["label"].astype(str)
    else:
        labels = reasons["table"].astype(str) + " · " + reasons["reason"].astype(str)
    y = np.arange(len(reasons))
    ax.barh(y, reasons["count"], color=OKABE_ITO["vermillion"], label=t(lang, "plot.quarantined"))
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel(t(lang, "plot.rows"))
    ax.legend(loc="lower right")
    return fig


def top_hazard_ratios(top: pd.DataFrame, lang: str) -> Figure:
    """Forest plot of the strongest leading hypotheses (HR with 95% CI at their best lag)."""
    fig, ax = plt.subplots(figsize=(8, 0.6 * max(len(top), 2) + 1.4))
    ax.set_title(t(lang, "plot.top_hr"))
    if top.empty:
        _empty_axes(ax, lang, t(lang, "takeaway.no_leading"))
        return fig
    y = np.arange(len(top))
    lo = (top["hazard_ratio"] - top["ci_low"]).clip(lower=0).fillna(0).to_numpy()
    hi = (top["ci_high"] - top["hazard_ratio"]).clip(lower=0).fillna(0).to_numpy()
    ax.errorbar(
        top["hazard_ratio"].to_numpy(dtype=float),
        y,
        xerr=[lo, hi],
        fmt="o",
        color=OKABE_ITO["vermillion"],
        capsize=4,
        label=t(lang, "col.hr"),
    )
    ax.axvline(1.0, color=OKABE_ITO["black"], lw=1, ls=":", label=t(lang, "plot.no_effect"))
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    ax.set_yticks(y, top["label"].astype(str))
    ax.invert_yaxis()
    ax.set_xlabel(t(lang, "plot.hazard_ratio"))
    ax.legend(loc="lower right")
    return fig


def mrr_bridge(bridge: pd.DataFrame, lang: str) -> Figure:
    """Waterfall: MRR at the start, each movement (up green, down vermillion), MRR at the end.

    `bridge` is frames.mrr_bridge (step, amount, first, last); amounts in currency units."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    if bridge.empty:
        ax.set_title(t(lang, "sec.mrr_bridge"))
        _empty_axes(ax, lang, t(lang, "empty.input"))
        return fig
    first = pd.Timestamp(bridge["first"].iloc[0]).strftime("%Y-%m")
    last = pd.Timestamp(bridge["last"].iloc[0]).strftime("%Y-%m")
    ax.set_title(t(lang, "plot.mrr_bridge", first=first, last=last))
    level, bottoms, heights, colours = 0.0, [], [], []
    for step, amount in zip(bridge["step"], bridge["amount"].astype(float), strict=True):
        if step in ("start", "end"):
            bottoms.append(0.0)
            heights.append(amount)
            colours.append(OKABE_ITO["blue"])
            level = amount
        else:
            bottoms.append(level if amount >= 0 else level + amount)
            heights.append(abs(amount))
            colours.append(OKABE_ITO["green"] if amount >= 0 else OKABE_ITO["vermillion"])
            level += amount
    x = np.arange(len(bridge))
    ax.bar(x, heights, bottom=bottoms, color=colours)
    top = max(b + h for b, h in zip(bottoms, heights, strict=True)) or 1.0
    for xi, b, h, amount, step in zip(
        x, bottoms, heights, bridge["amount"], bridge["step"], strict=True
    ):
        sign = "" if step in ("start", "end") else ("+" if amount >= 0 else "-")
        ax.text(xi, b + h + top * 0.01, f"{sign}{abs(amount):,.0f}", ha="center", fontsize=8)
    ax.set_xticks(x, [t(lang, f"bridge.{s}") for s in bridge["step"]], rotation=20, ha="right")
    ax.set_ylabel(t(lang, "plot.mrr"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.set_ylim(0, top * 1.12)
    return fig


def band_mix(counts: pd.Series, lang: str) -> Figure:
    """Accounts per health band in the latest week."""
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.set_title(t(lang, "plot.band_mix_title"))
    bands = [b for b in ("red", "amber", "green") if b in counts.index]
    if not bands:
        _empty_axes(ax, lang, t(lang, "empty.input"))
        return fig
    y = np.arange(len(bands))
    ax.barh(
        y,
        [counts[b] for b in bands],
        color=[BAND_COLOURS[b] for b in bands],
        label=t(lang, "plot.accounts"),
    )
    ax.set_yticks(y, [t(lang, f"band.{b}") for b in bands])
    ax.invert_yaxis()
    ax.set_xlabel(t(lang, "plot.accounts"))
    ax.legend(loc="lower right")
    return fig


def alert_tradeoff(curve: pd.DataFrame, name: str, lang: str) -> Figure:
    """The lamp as an alert at each candidate threshold: x = share of active accounts lit per
    week (the work), y = precision of a lighting and share of churners warned (%), with the
    base rate and the chosen threshold ringed. `curve` is frames.threshold_curve."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.set_title(t(lang, "plot.tradeoff_title", name=name))
    pts = curve.dropna(subset=["share_lit"]).sort_values("share_lit") if not curve.empty else curve
    if pts.empty:
        _empty_axes(ax, lang, t(lang, "empty.input"))
        return fig
    x = pts["share_lit"].to_numpy(dtype=float) * 100
    for col, key, colour, ls in (
        ("precision", "plot.precision_pct", "blue", "-"),
        ("churners_warned_share", "plot.warned", "orange", "--"),
    ):
        if pts[col].notna().any():
            ax.plot(
                x, pts[col].to_numpy(dtype=float) * 100, marker="o", ms=3, ls=ls,
                color=OKABE_ITO[colour], label=t(lang, key),
            )  # fmt: skip
            chosen = pts[pts["chosen"] & pts[col].notna()]
            if not chosen.empty:
                ax.plot(
                    chosen["share_lit"] * 100, chosen[col] * 100, "o", ms=11, mfc="none",
                    mew=1.8, color=OKABE_ITO["vermillion"],
                )  # fmt: skip
    base = pts["base_rate"].dropna()
    if not base.empty:
        ax.axhline(
            float(base.iloc[0]) * 100, color=OKABE_ITO["black"], lw=1, ls=":",
            label=t(lang, "plot.base_rate"),
        )  # fmt: skip
    if pts["chosen"].any():  # a legend entry for the ring
        ax.plot([], [], "o", ms=11, mfc="none", mew=1.8, color=OKABE_ITO["vermillion"],
                label=t(lang, "plot.chosen"))  # fmt: skip
    ax.set_xlabel(t(lang, "plot.share_lit"))
    ax.set_ylabel(t(lang, "plot.tradeoff_y"))
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlim(left=0)
    ax.set_ylim(0, 100)
    ax.legend(loc="best", fontsize=8)
    return fig


def calibration_figure(bands: pd.DataFrame, metrics: dict, lang: str) -> Figure:
    """Left: predicted vs observed churn within the horizon per band (observed with its 95%
    account-bootstrap interval; the diagonal is a promise kept). Right: calibration-in-the-
    large (ideal 0) and slope (ideal 1) with 95% intervals, before and after recalibration.
    `bands`: band, mean_predicted, observed, ci_low, ci_high; `metrics`: health_score.json
    validation.calibration_metrics."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    fig.suptitle(t(lang, "plot.calibration_title"))
    ax.set_title(t(lang, "plot.band_calibration"), fontsize=10)
    rows = bands.dropna(subset=["mean_predicted", "observed"]) if not bands.empty else bands
    if rows.empty:
        _empty_axes(ax, lang, t(lang, "empty.input"))
    else:
        top = float(np.nanmax(rows[["mean_predicted", "observed", "ci_high"]].to_numpy(float)))
        top = min(max(top * 1.15, 0.05), 1.0) * 100
        ax.plot([0, top], [0, top], color=OKABE_ITO["black"], lw=1, ls=":",
                label=t(lang, "plot.ideal"))  # fmt: skip
        for r in rows.itertuples(index=False):
            lo = max(r.observed - r.ci_low, 0) if pd.notna(r.ci_low) else 0
            hi = max(r.ci_high - r.observed, 0) if pd.notna(r.ci_high) else 0
            ax.errorbar(
                r.mean_predicted * 100, r.observed * 100, yerr=[[lo * 100], [hi * 100]], fmt="o",
                capsize=4, color=BAND_COLOURS.get(str(r.band), OKABE_ITO["blue"]),
                label=t(lang, f"band.{r.band}") if str(r.band) in BAND_COLOURS else str(r.band),
            )  # fmt: skip
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlabel(t(lang, "plot.predicted_pct"))
    ax.set_ylabel(t(lang, "plot.observed_pct"))
    # right: in-the-large and slope, each against its ideal
    labels = [t(lang, "plot.citl"), t(lang, "plot.slope")]
    ideal = [0.0, 1.0]
    shown = False
    for j, (key, colour, dy) in enumerate(
        (("score_before_recalibration", "sky", 0.12), ("score", "blue", -0.12))
    ):
        block = (metrics or {}).get(key) or {}
        for i, name in enumerate(("calibration_in_the_large", "calibration_slope")):
            m = block.get(name) or {}
            est = m.get("estimate")
            if est is None or not np.isfinite(est):
                continue
            lo, hi = m.get("ci_low"), m.get("ci_high")
            err = (
                [[max(est - lo, 0)], [max(hi - est, 0)]]
                if lo is not None and hi is not None and np.isfinite([lo, hi]).all()
                else None
            )
            ax2.errorbar(
                est - ideal[i], i + dy, xerr=err, fmt="o", capsize=4, color=OKABE_ITO[colour],
                label=t(lang, "plot.after_recal" if j else "plot.before_recal") if i == 0 else None,
            )  # fmt: skip
            shown = True
    ax2.set_title(" / ".join(labels), fontsize=8)
    if not shown:
        _empty_axes(ax2, lang, t(lang, "empty.input"))
    else:
        ax2.axvline(0, color=OKABE_ITO["black"], lw=1, ls=":", label=t(lang, "plot.ideal"))
        ax2.set_yticks([0, 1], labels, fontsize=8)
        ax2.set_ylim(-0.6, 1.6)
        ax2.invert_yaxis()
        ax2.set_xlabel(t(lang, "plot.minus_ideal"))
        ax2.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return fig
