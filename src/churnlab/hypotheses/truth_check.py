"""Compare verdicts with the simulator's ground truth (data/raw/ground_truth.json).

    python -m churnlab.hypotheses.truth_check models/hypotheses.json data/raw/ground_truth.json

Only risk hypotheses whose indicator and direction match a truth entry are scored:
- leading: recovered if `leads churn` with best lag within `tolerance` weeks of the truth;
- coincident: right if `too late to act on`;
- decoy: a false discovery if `leads churn`.
"""

from __future__ import annotations

import sys

import pandas as pd

from churnlab.io import read_json

SIGNALS = ("leads churn", "too late to act on", "opposite direction")


def score_against_truth(hypotheses: list[dict], truth: dict, tolerance: int = 2) -> pd.DataFrame:
    rows = []
    for h in hypotheses:
        t = truth.get("indicators", {}).get(h["indicator"])
        if t is None or h.get("kind") != "risk" or h["direction"] != t["direction"]:
            continue
        verdict, lag = h["verdict"], h.get("best_lag_weeks")
        role = t["role"]
        if role == "leading":
            ok = (
                verdict == "leads churn"
                and lag is not None
                and abs(lag - t["lead_weeks"]) <= tolerance
            )
        elif role == "coincident":
            ok = verdict == "too late to act on"
        else:
            ok = verdict != "leads churn"
        rows.append(
            {
                "id": h["id"],
                "indicator": h["indicator"],
                "role": role,
                "true_lead_weeks": t.get("lead_weeks"),
                "verdict": verdict,
                "best_lag_weeks": lag,
                "correct": ok,
            }  # fmt: skip
        )
    return pd.DataFrame(rows)


def summary(scored: pd.DataFrame) -> dict:
    lead = scored[scored["role"] == "leading"]
    decoy = scored[scored["role"] == "decoy"]
    coin = scored[scored["role"] == "coincident"]
    return {
        "leaders_tested": len(lead),
        "power": float(lead["correct"].mean()) if len(lead) else None,
        "decoys_tested": len(decoy),
        "false_discovery_share": float((~decoy["correct"]).mean()) if len(decoy) else None,
        # stricter: a decoy with any significant verdict (also "too late" or "opposite")
        "decoy_any_signal_share": float(decoy["verdict"].isin(SIGNALS).mean())
        if len(decoy)
        else None,
        "coincident_too_late": int(coin["correct"].sum()),
        "coincident_tested": len(coin),
    }


def main(argv: list[str]) -> None:  # pragma: no cover - thin CLI
    scored = score_against_truth(read_json(argv[0])["hypotheses"], read_json(argv[1]))
    print(scored.to_string(index=False))
    print(summary(scored))


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
