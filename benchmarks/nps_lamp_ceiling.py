"""What the simulated world lets the NPS-unanswered lamp reach (issue 14's precision target).

    python benchmarks/nps_lamp_ceiling.py      # in a project whose data/ the pipeline built

The simulator sends quarterly NPS surveys; a survey that lands in a *cooling* relationship goes
unanswered (95%) and raises the churn hazard, while 15% of the others go unanswered for no
reason (background non-response). Both look the same in the data: an unanswered survey. This
script redraws the simulator's hidden `cooling` flag per survey (same seed and blocks as the
simulate stage), joins it to each lighting of the lamp (off -> on) in the panel, and prints the
precision (churn within the horizon after the lighting) and lift (precision / base rate of
churn within the horizon of any account-week) of the two kinds. The lamp's own lift is their
mixture; no threshold on survey answers can separate them.
"""

import math

import numpy as np
import pandas as pd

from churnlab.config import load_params
from churnlab.simulate.company import STREAM_COMPANY, latent_block
from churnlab.simulate.spec import CHUNK, spec_from_params
from churnlab.simulate.timegrid import make_grid
from churnlab.simulate.world import NPS_ANSWER_DAYS


def cooling_by_survey(params: dict) -> pd.DataFrame:
    """survey_id -> the simulator's hidden `cooling` flag, redrawn from the same seed/blocks."""
    spec = spec_from_params(params)
    grid = make_grid(spec)
    parts = []
    for number in range(math.ceil(spec.n_accounts / CHUNK)):
        block, _, _ = latent_block(spec, grid, STREAM_COMPANY, number)
        sv = block.surveys
        idx = block.accounts["idx"].to_numpy()[sv["acct"].to_numpy()]
        ids = [f"S{i + 1:06d}-{k + 1:02d}" for i, k in zip(idx, sv["seq"], strict=True)]
        parts.append(pd.DataFrame({"survey_id": ids, "cooling": sv["cooling"].to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def naive(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s)
    return s.dt.tz_localize(None) if s.dt.tz is not None else s


def lightings(panel: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, float]:
    """(one row per off -> on switch of the lamp with `churn_within`, base rate)."""
    p = panel.sort_values(["account_id", "spell", "start"]).reset_index(drop=True)
    subj = p.groupby(["account_id", "spell"], sort=False).ngroup().to_numpy()
    by = pd.Series(p["start"].to_numpy()).groupby(subj)
    last = by.transform("max").to_numpy()
    ended = pd.Series(p["event"].to_numpy()).groupby(subj).transform("max").to_numpy() == 1
    churn_within = ended & (last - p["start"].to_numpy() < horizon)
    lit = p["nps_unanswered"].fillna(0).to_numpy() > 0.5
    before = np.r_[False, lit[:-1]]
    before[np.r_[True, subj[1:] != subj[:-1]]] = False  # a spell's first week has no "before"
    switch = lit & ~before
    out = pd.DataFrame(
        {
            "account_id": p.loc[switch, "account_id"].to_numpy(),
            "week_start": naive(p.loc[switch, "week_start"]).to_numpy(),
            "churn_within": churn_within[switch],
        }
    )
    return out, float(churn_within.mean())


def main() -> None:
    params = load_params("params.yaml")
    horizon = int(params["hypotheses"].get("horizon_weeks", 12))
    surveys = pd.read_parquet("data/raw/surveys.parquet").merge(
        cooling_by_survey(params), on="survey_id", how="left"
    )
    unanswered = surveys[surveys["answered_at"].isna()].copy()
    # the non-answer is visible NPS_ANSWER_DAYS after sending: the lamp's source survey is the
    # account's latest one visible at the lighting week's start
    unanswered["visible"] = naive(unanswered["sent_at"]) + pd.Timedelta(days=NPS_ANSWER_DAYS)
    print(
        f"{len(surveys)} surveys, {len(unanswered)} unanswered, "
        f"{unanswered['cooling'].mean():.1%} of those from a cooling relationship"
    )
    panel = pd.read_parquet(
        "data/processed/panel.parquet",
        columns=["account_id", "spell", "week_start", "start", "event", "nps_unanswered"],
    )
    lit, base = lightings(panel, horizon)
    m = pd.merge_asof(
        lit.sort_values("week_start"),
        unanswered.sort_values("visible")[["account_id", "visible", "cooling"]],
        left_on="week_start", right_on="visible", by="account_id", direction="backward",
    )  # fmt: skip
    print(f"base rate (churn within {horizon} weeks of an account-week): {base:.4f}")
    rows = [("all lightings", m)] + [
        (f"cooling={k}", g) for k, g in m.groupby(m["cooling"].astype("string").fillna("?"))
    ]
    for name, g in rows:
        prec = g["churn_within"].mean()
        print(f"{name:>14}: {len(g):5d} ({len(g) / len(m):6.1%}) precision {prec:.4f} "
              f"lift {prec / base:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
