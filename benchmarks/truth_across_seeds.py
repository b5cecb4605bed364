"""Power and false discoveries of the hypothesis verdicts across simulated companies.

    python benchmarks/truth_across_seeds.py --seeds 42 7 99 2024 314 --workdir .tmp/seeds

For each seed: simulate -> ingest -> panel (cached in <workdir>/<seed>, reused on later runs),
then the hypotheses stage with the current code and params.yaml, then the verdicts are scored
against that company's ground_truth.json. Prints one line per seed and the pooled power
(true leaders found with their lead within +-2 weeks) and false-discovery share (decoy
hypotheses called `leads churn`). Not a CI test: one seed at the default size takes ~1-2 min.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import time
from pathlib import Path

import pandas as pd

from churnlab.config import load_params
from churnlab.hypotheses import stage as hypotheses_stage
from churnlab.hypotheses.truth_check import SIGNALS, score_against_truth, summary
from churnlab.ingest import stage as ingest_stage
from churnlab.io import read_json
from churnlab.panel import stage as panel_stage
from churnlab.simulate import stage as simulate_stage

ROOT = Path(__file__).resolve().parents[1]


def run_seed(seed: int, workdir: Path, params: dict, n_accounts: int | None) -> pd.DataFrame:
    p = copy.deepcopy(params)
    p["base"]["seed"] = seed
    if n_accounts:
        p["simulate"]["n_accounts"] = n_accounts
    d = workdir / str(seed)
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / p["hypotheses"]["file"], d / p["hypotheses"]["file"])
    here = Path.cwd()
    os.chdir(d)
    try:
        panel_file = Path(p["base"]["processed_dir"]) / "panel.parquet"
        if not panel_file.exists():
            for st in (simulate_stage, ingest_stage, panel_stage):
                st.run(p)
        t0 = time.process_time()
        hypotheses_stage.run(p)
        cpu = time.process_time() - t0
        result = read_json(Path(p["base"]["models_dir"]) / "hypotheses.json")
        truth = read_json(Path(p["base"]["raw_dir"]) / "ground_truth.json")
    finally:
        os.chdir(here)
    scored = score_against_truth(result["hypotheses"], truth)
    print(f"seed {seed}: hypotheses stage {cpu:.1f} s CPU; {summary(scored)}")
    wrong = scored[~scored["correct"]]
    if len(wrong):
        print(wrong.to_string(index=False))
    # the true leaders' lamps judged as alerts (issue 14: a lighting's precision >= 2x the
    # base rate), under the alert design chosen on the tuning half, measured on the test half
    by_id = {h["id"]: h for h in result["hypotheses"]}
    for hid in scored.loc[scored["role"] == "leading", "id"]:
        a, pol = by_id[hid].get("alerts") or {}, by_id[hid].get("alert_policy") or {}
        if a:
            print(
                f"  alert {hid}: on {pol.get('on_weeks', 1)} / off {pol.get('off_weeks', 1)} "
                f"weeks, precision {a['precision']:.3f} vs base {a['base_rate']:.3f} "
                f"(lift {a['lift']:.2f}), churners warned {a['churners_warned_share']:.0%}, "
                f"median warning {a['median_warning_weeks']:g} weeks"
            )
    return scored.assign(seed=seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 99, 2024, 314])
    ap.add_argument("--workdir", type=Path, default=ROOT / ".tmp" / "seeds")
    ap.add_argument("--accounts", type=int, default=None, help="override simulate.n_accounts")
    a = ap.parse_args()
    params = load_params(ROOT / "params.yaml")
    scored = pd.concat([run_seed(s, a.workdir.resolve(), params, a.accounts) for s in a.seeds])
    lead = scored[scored["role"] == "leading"]
    decoy = scored[scored["role"] == "decoy"]
    coin = scored[scored["role"] == "coincident"]
    print(
        f"\nPOOLED over {len(a.seeds)} seeds: power {lead['correct'].sum()}/{len(lead)}, "
        f"false discoveries {(~decoy['correct']).sum()}/{len(decoy)} "
        f"(decoys with any significant verdict: {decoy['verdict'].isin(SIGNALS).sum()}), "
        f"coincident too late {coin['correct'].sum()}/{len(coin)}"
    )


if __name__ == "__main__":
    main()
