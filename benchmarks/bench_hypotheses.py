"""Fit time of one time-varying Cox model vs panel rows, with same-run baselines.

    python benchmarks/bench_hypotheses.py [--accounts 2000 5000 10000] [--weeks 104] [--repeat 3]
        [--panel data/processed/panel.parquet]

For each synthetic weekly panel size it times, on the same rows (lamp + 3 adjusters):
- churnlab's Efron fitter (`churnlab.hypotheses.cox.fit_cox`),
- lifelines' CoxTimeVaryingFitter (the library reference; skipped above --lifelines-max rows),
- the statsmodels cloglog GLM cross-check as the stage runs it (cells pooled, clustered SEs),
- R's survival::coxph (ties = "efron") on the same rows, when `Rscript` with the survival
  package is installed (Debian: `apt-get install r-base-core r-cran-survival`; CRAN is not
  reachable here). Timed inside R with system.time (user + system CPU), so reading the CSV
  is not counted; its coefficients are compared with churnlab's;
- the same model on a case-cohort sample (`--subcohort-fraction`, default 0.2: Barlow
  weights, robust variance clustered on account, as the stage fits above
  `hypotheses.sampling.max_rows`), its CPU and how far its log-HR of the lamp is from the
  full fit's, in full-fit SEs; and the GLM cross-check on the same sample with the same
  weights (`cc_glm_*`: its CPU against the sampled Cox fit's, its log-HR against the full
  GLM's in full-GLM SEs);
and prints CPU seconds (and wall seconds) and CPU-time ratios to churnlab's fitter.
Fits run with one BLAS thread, as in the stage.

    python benchmarks/bench_hypotheses.py --compare FULL.json SAMPLED.json

compares two models/hypotheses.json of the same panel, one fitted on the full cohort and one
on the case-cohort sample (`hypotheses.sampling.max_rows` set below the panel's rows): per
hypothesis the verdicts, and per lag whether the sample's Cox and GLM hazard ratios fall in
the full fit's 95% intervals (the GLM's: exp(coef +- 1.96 se)).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from churnlab.hypotheses.case_cohort import case_cohort_sample
from churnlab.hypotheses.cox import fit_cox
from churnlab.hypotheses.design import adjustment_matrix, lamp
from churnlab.hypotheses.glm_check import fit_cloglog, tenure_bins
from churnlab.hypotheses.synthetic import synthetic_panel


def _best_of(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall and best CPU seconds over `repeat` runs. On a shared machine wall time
    mostly measures the neighbours; CPU time of this (single-BLAS-thread) process does not."""
    wall, cpu, out = np.inf, np.inf, None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    return wall, cpu, out


R_SCRIPT = """
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
best <- Inf
for (i in seq_len(as.integer(args[2]))) {
  t <- system.time(fit <- coxph(Surv(start, stop, event) ~ . , data = d, ties = "efron"))
  best <- min(best, t[["user.self"]] + t[["sys.self"]])
}
cat(best, coef(fit), "\\n")
"""


def r_coxph(start, stop, event, x: np.ndarray, repeat: int) -> tuple[float, np.ndarray] | None:
    """(best CPU seconds, coefficients) of R coxph on the same rows, or None without R."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data = pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])])
        data.insert(0, "event", event.astype(int))
        data.insert(0, "stop", stop)
        data.insert(0, "start", start)
        data.to_csv(Path(tmp) / "panel.csv", index=False)
        (Path(tmp) / "fit.R").write_text(R_SCRIPT)
        out = subprocess.run(
            ["Rscript", str(Path(tmp) / "fit.R"), str(Path(tmp) / "panel.csv"), str(repeat)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if out.returncode != 0:
        print(f"Rscript failed (is r-cran-survival installed?): {out.stderr.strip()[-300:]}")
        return None
    values = [float(v) for v in out.stdout.split()]
    return values[0], np.array(values[1:])


def bench(
    n_accounts: int,
    n_weeks: int,
    repeat: int,
    lifelines_max: int,
    panel_file: str | None = None,
    fraction: float = 0.2,
) -> dict:
    if panel_file:  # a real panel (e.g. the default company's): lamp = licence activation < 0.5
        panel = pd.read_parquet(panel_file)
        panel = panel[panel["license_activation_rate"].notna()].reset_index(drop=True)
        n_accounts = panel["account_id"].nunique()
        leader = lamp(panel["license_activation_rate"].to_numpy(), "low", 0.5)
    else:
        panel = synthetic_panel(n_accounts=n_accounts, n_weeks=n_weeks, seed=1, base_hazard=0.004)
        leader = lamp(panel["leader"].to_numpy(), "low", 0.65)
    adj, names = adjustment_matrix(panel, ["billing_period", "segment"])
    x = np.column_stack([leader, adj])
    start, stop = panel["start"].to_numpy(float), panel["stop"].to_numpy(float)
    event = panel["event"].to_numpy() == 1
    groups = pd.factorize(panel["account_id"])[0]

    w_own, c_own, fit = _best_of(lambda: fit_cox(start, stop, event, x, ["lamp", *names]), repeat)
    w_glm, c_glm, glm = _best_of(
        lambda: fit_cloglog(event.astype(float), x, groups, tenure_bins(stop, event)), repeat
    )
    sample = case_cohort_sample(panel["account_id"].to_numpy(), event, fraction, 42)
    r_ = sample.rows
    w_cc, c_cc, cc = _best_of(
        lambda: fit_cox(
            start[r_], stop[r_], event[r_], x[r_], weights=sample.weights, cluster=groups[r_]
        ),
        repeat,
    )
    cc_event = event[r_].astype(float)
    w_ccg, c_ccg, ccg = _best_of(
        lambda: fit_cloglog(
            cc_event, x[r_], groups[r_], tenure_bins(stop[r_], event[r_]), weights=sample.weights
        ),
        repeat,
    )
    row = {
        "accounts": n_accounts,
        "rows": len(panel),
        "events": int(event.sum()),
        "cox_cpu_s": c_own,
        "cox_wall_s": w_own,
        "glm_cpu_s": c_glm,
        "glm/cox_cpu": c_glm / c_own,
        "cc_rows": len(r_),
        "cc_cpu_s": c_cc,
        "cc/cox_cpu": c_cc / c_own,
        "cc_coef_diff_in_se": float((cc.coef[0] - fit.coef[0]) / fit.se[0]),
        "cc_glm_cpu_s": c_ccg,
        "cc_glm/cc_cox_cpu": c_ccg / c_cc,
        "cc_glm_coef_diff_in_se": float((ccg["coef"] - glm["coef"]) / glm["se"])
        if ccg["coef"] is not None and glm["coef"] is not None
        else np.nan,
        "lifelines_cpu_s": np.nan,
        "lifelines/cox_cpu": np.nan,
        "lifelines_wall_s": np.nan,
        "max_abs_coef_diff": np.nan,
        "glm_coef_lamp": glm["coef"],
        "cox_coef_lamp": float(fit.coef[0]),
    }
    r = r_coxph(start, stop, event, x, repeat)
    row["r_coxph_cpu_s"] = np.nan if r is None else r[0]
    row["r/cox_cpu"] = np.nan if r is None else r[0] / c_own
    row["r_max_abs_coef_diff"] = np.nan if r is None else float(np.max(np.abs(r[1] - fit.coef)))
    if len(panel) <= lifelines_max:
        from lifelines import CoxTimeVaryingFitter

        df = pd.DataFrame(x, columns=["lamp", *names])
        df["id"], df["start"], df["stop"], df["event"] = groups, start, stop, event
        ctv = CoxTimeVaryingFitter()
        w_ll, c_ll, _ = _best_of(
            lambda: ctv.fit(df, id_col="id", start_col="start", stop_col="stop", event_col="event"),
            max(1, repeat - 2),
        )
        row["lifelines_cpu_s"] = c_ll
        row["lifelines_wall_s"] = w_ll
        row["lifelines/cox_cpu"] = c_ll / c_own
        row["max_abs_coef_diff"] = float(np.max(np.abs(ctv.params_.to_numpy() - fit.coef)))
    return row


def compare_sampled(full_path: str, sampled_path: str) -> pd.DataFrame:
    """One row per (hypothesis, lag) fitted in both files: verdicts, Cox and GLM hazard ratios
    of the full fit (with its 95% interval) and of the sample, and whether each sampled HR is
    inside the full fit's interval."""
    full = {h["id"]: h for h in json.loads(Path(full_path).read_text())["hypotheses"]}
    samp = {h["id"]: h for h in json.loads(Path(sampled_path).read_text())["hypotheses"]}
    rows = []
    for hid, f in full.items():
        s = samp[hid]
        s_lags = {r["lag_weeks"]: r for r in s["lead_profile"]}
        f_glm = {g["lag_weeks"]: g for g in (f.get("glm_check") or {}).get("per_lag", [])}
        s_glm = {g["lag_weeks"]: g for g in (s.get("glm_check") or {}).get("per_lag", [])}
        for fr in f["lead_profile"]:
            sr = s_lags.get(fr["lag_weeks"])
            if sr is None or fr["hazard_ratio"] is None or sr["hazard_ratio"] is None:
                continue
            fg, sg = f_glm.get(fr["lag_weeks"], {}), s_glm.get(fr["lag_weeks"], {})
            row = {
                "id": hid, "lag": fr["lag_weeks"], "verdict_full": f["verdict"],
                "verdict_sampled": s["verdict"], "cox_hr_full": fr["hazard_ratio"],
                "cox_ci_full": f"{fr['ci_low']:.2f}-{fr['ci_high']:.2f}",
                "cox_hr_sampled": sr["hazard_ratio"],
                "cox_in_ci": fr["ci_low"] <= sr["hazard_ratio"] <= fr["ci_high"],
                "glm_hr_full": np.nan, "glm_hr_sampled": np.nan, "glm_in_ci": None,
            }  # fmt: skip
            if fg.get("coef") is not None and sg.get("coef") is not None:
                lo, hi = (np.exp(fg["coef"] + z * 1.959963984540054 * fg["se"]) for z in (-1, 1))
                row.update(
                    glm_hr_full=float(np.exp(fg["coef"])),
                    glm_hr_sampled=float(np.exp(sg["coef"])),
                    glm_in_ci=bool(lo <= np.exp(sg["coef"]) <= hi),
                )
            row["disagreement_sampled"] = sg.get("disagreement")
            rows.append(row)
    out = pd.DataFrame(rows)
    same = sum(full[h]["verdict"] == samp[h]["verdict"] for h in full)
    print(out.to_string(index=False, float_format="%.3f"))
    print(
        f"\nverdicts equal {same}/{len(full)}; Cox HR in the full CI {int(out['cox_in_ci'].sum())}"
        f"/{len(out)}; GLM HR in the full CI {int(out['glm_in_ci'].eq(True).sum())}"
        f"/{int(out['glm_in_ci'].notna().sum())}; sampled GLM fitted at "
        f"{int(out['glm_hr_sampled'].notna().sum())}/{len(out)} lags"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--compare", nargs=2, metavar=("FULL_JSON", "SAMPLED_JSON"))
    ap.add_argument("--accounts", type=int, nargs="+", default=[1000, 2500, 5000, 10000])
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lifelines-max", type=int, default=500_000)
    ap.add_argument("--panel", help="also time a real panel parquet (data/processed/panel.parquet)")
    ap.add_argument("--subcohort-fraction", type=float, default=0.2)
    args = ap.parse_args()
    if args.compare:
        compare_sampled(*args.compare)
        return
    rows = []
    with threadpool_limits(1, "blas"):
        for n in args.accounts:
            rows.append(
                bench(n, args.weeks, args.repeat, args.lifelines_max, None, args.subcohort_fraction)
            )
            print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format="%.4g"), flush=True)
        if args.panel:
            rows.append(
                bench(0, 0, args.repeat, args.lifelines_max, args.panel, args.subcohort_fraction)
            )
            print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format="%.4g"), flush=True)
    print("\nsummary")
    print(pd.DataFrame(rows).to_string(index=False, float_format="%.4g"))


if __name__ == "__main__":
    main()
