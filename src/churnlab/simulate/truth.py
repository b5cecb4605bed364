"""`ground_truth.json`: what really drives churn in the simulated company.

Schema (CONTRACTS.md §1; keys of `indicators` are the canonical indicator ids of §3):

    schema_version   1
    seed             base.seed the data was generated with
    params           the `simulate:` settings (public_params)
    indicators       {id: {role, direction, lead_weeks, hazard_ratio, threshold, persistent,
                          window_weeks, correlated_with, description}}
        role           "leading" | "coincident" | "decoy"
        direction      "low" | "high": which side of the indicator carries the risk
        lead_weeks     lag (panel weeks) at which the indicator's lamp lines up with the raised
                       hazard: the value seen at week w (data before w) predicts churn in week
                       w + lead_weeks; null for decoys. Persistent drivers use 12 (= informative
                       at least 12 weeks ahead, the longest lag tested).
        hazard_ratio   true conditional hazard ratio of the driver in the generator (1.0 for
                       decoys; null for the coincident signal, which is a consequence of the
                       decision to leave, not a cause)
        threshold      true lamp threshold where the mechanism has one, else null
        persistent     true if the raised hazard lasts as long as the condition holds
        window_weeks   for episodic drivers: how many weeks the hazard stays raised
        correlated_with decoys: what they correlate with ("segment"), else null
    covariates       hazard ratios of the adjusted covariates (segment, billing period)
    proxies          {id: why}: indicators with no causal role that still move with churn
                     through a shared cause (informational; not part of `indicators`)
    churn            realised churn: monthly_logo_churn (churned / account-months at risk in
                     the window), by_billing_period, churned_accounts, target, hazard_scale
    trajectories     realised shares of fast / slow_starter / sluggish accounts
    data_window      first and last day of the activity tables
    vocabulary       (added by stage.py) the words the tables are written in:
        name           "default" | "foreign" (simulate.vocabulary)
        labels         {column: {canonical label: written label}} for segment, customer_goal,
                       plan, billing_period, role, event_type, kind, milestone, category
                       (identity maps for "default"); ground truth itself stays canonical
        params         the `vocabulary:` params block (meaning -> [labels]) = vocabulary.yaml
        unknown_goal_accounts  accounts whose goal is written "unknown" (foreign only)
        key_person_event_type  {canonical, written, share_of_key_person_events}: the event
                       type key persons emit most (null in the snapshot shape: no events)
    history          (added by stage.py) contract histories, from the simulator's own state:
        shape          "history" | "snapshot" | "log_ends_mid_term" (simulate.shape)
        churn_dates    {account_id: YYYY-MM-DD} true churn date of every churned first spell
                       (in a snapshot the file dates them all the export day)
        upgrades       {count, eligible_accounts, share_of_eligible, dates: {account_id: day
                       the overlapping upgrade row starts}}
        reactivations  {count, eligible_churns (return day inside the window),
                       share_of_eligible, dates: {account_id: start of the returning spell}}
        monthly_record [{month: YYYY-MM, active_accounts_end, mrr_end (in force on the month's
                       last day, the last month: end_date), new_accounts, new_mrr (first
                       spells started, MRR at start), churned_accounts, churned_mrr (churned
                       spells ending in the month, MRR in force the day before),
                       reactivations, reactivated_mrr}], from the grid origin's month to
                       end_date's month
"""

from __future__ import annotations

from typing import Any

from churnlab.simulate.spec import TRAJECTORIES, Spec
from churnlab.simulate.world import NPS_ANSWER_DAYS, ONBOARDING_PERIOD_WEEKS

SCHEMA_VERSION = 1


def indicator_truth(spec: Spec) -> dict[str, dict[str, Any]]:
    eff = spec.effects
    kp, nps, csm = (
        eff["key_person_activity_change"],
        eff["nps_unanswered"],
        eff["csm_changed_recently"],
    )
    lic, onb = eff["license_activation_rate"], eff["days_to_onboarding"]
    base = {"persistent": False, "window_weeks": None, "correlated_with": None, "threshold": None}
    return {
        "key_person_activity_change": {
            **base,
            "role": "leading",
            "direction": "low",
            "lead_weeks": int(kp["lead_weeks"]),
            "hazard_ratio": kp["hazard_ratio"],
            "window_weeks": int(kp["window_weeks"]),
            "description": (
                "Key-person disengagement episodes: from week T0 the key person goes silent "
                "(no events until the risk window ends). The drop is visible as a large negative "
                "change of the key person's events last week vs their trailing 4-week mean from "
                f"T0+1; the churn hazard is x{kp['hazard_ratio']} in weeks "
                f"[T0+1+{int(kp['lead_weeks'])}, T0+1+{int(kp['lead_weeks'] + kp['window_weeks'])}). "
                "About 0.3-0.8 episodes per account-year (sluggish accounts most). Vacation weeks cause harmless drops."
            ),
        },
        "nps_unanswered": {
            **base,
            "role": "leading",
            "direction": "high",
            "lead_weeks": int(nps["lead_weeks"]),
            "hazard_ratio": nps["hazard_ratio"],
            "window_weeks": int(nps["window_weeks"]),
            "description": (
                "Quarterly NPS surveys to the key person. A survey sent into a cooling relationship "
                "goes unanswered (95%; otherwise 15% go unanswered). The non-answer is visible "
                f"{NPS_ANSWER_DAYS} days after sending (week S, so the lamp is on from S+1 until the "
                f"next survey, ~13 weeks); the hazard is x{nps['hazard_ratio']} in weeks "
                f"[S+1+{int(nps['lead_weeks'])}, S+1+{int(nps['lead_weeks'] + nps['window_weeks'])}). "
                f"Lags 0..{int(nps['lead_weeks'])} all see it; {int(nps['lead_weeks'])} is the longest."
            ),
        },
        "csm_changed_recently": {
            **base,
            "role": "leading",
            "direction": "high",
            "lead_weeks": int(csm["lead_weeks"]),
            "hazard_ratio": csm["hazard_ratio"],
            "window_weeks": int(csm["window_weeks"]),
            "description": (
                "CSM reassignments (about one per 65 weeks, at random; the first assignment at "
                f"signup is not a change). A change in week C raises the hazard x{csm['hazard_ratio']} "
                f"in weeks [C+1+{int(csm['lead_weeks'])}, C+1+{int(csm['lead_weeks'] + csm['window_weeks'])}), "
                "matching a lamp 'CSM changed in the last 8 weeks'."
            ),
        },
        "license_activation_rate": {
            **base,
            "role": "leading",
            "direction": "low",
            "lead_weeks": 12,
            "hazard_ratio": lic["hazard_ratio"],
            "threshold": lic["threshold"],
            "persistent": True,
            "description": (
                "Activated users (activated_at before the week) / seats of the contract in force, "
                f"from tenure week {ONBOARDING_PERIOD_WEEKS} on: below {lic['threshold']} the hazard "
                f"is x{lic['hazard_ratio']} for as long as it stays below. Mostly sluggish accounts "
                "and slow starters before take-off."
            ),
        },
        "days_to_onboarding": {
            **base,
            "role": "leading",
            "direction": "high",
            "lead_weeks": 12,
            "hazard_ratio": onb["hazard_ratio"],
            "threshold": onb["threshold"],
            "persistent": True,
            "description": (
                "Days from signup_date to the onboarding_complete milestone (running count while "
                f"not complete). Accounts not onboarded within {onb['threshold']:g} days have hazard "
                f"x{onb['hazard_ratio']} for the rest of their life, from day {onb['threshold']:g} on."
            ),
        },
        "data_exports": {
            **base,
            "role": "coincident",
            "direction": "high",
            "lead_weeks": 1,
            "hazard_ratio": None,
            "description": (
                "data_export events: 3% of ordinary account-weeks have one or two; 85% of churning "
                "accounts export in bursts (about 4 each week) in the two weeks before the churn "
                "date. A consequence of the decision to leave: informative at lags 0-1 only."
            ),
        },
        "event_participation": {
            **base,
            "role": "decoy",
            "direction": "low",
            "lead_weeks": None,
            "hazard_ratio": 1.0,
            "correlated_with": "segment",
            "description": (
                "event_attendance touchpoints: rate depends only on segment (enterprise 8x smb) "
                "and a per-account taste. Enterprises also churn less, so the raw association "
                "vanishes once segment is adjusted for."
            ),
        },
        "feature_feedback_tickets": {
            **base,
            "role": "decoy",
            "direction": "high",
            "lead_weeks": None,
            "hazard_ratio": 1.0,
            "correlated_with": "segment",
            "description": "feature_request tickets: 15% of tickets, whose volume depends on segment only.",
        },
        "tickets_opened": {
            **base,
            "role": "decoy",
            "direction": "high",
            "lead_weeks": None,
            "hazard_ratio": 1.0,
            "correlated_with": "segment",
            "description": "Ticket volume: Poisson per week with a rate set by segment only.",
        },
        "first_response_hours": {
            **base,
            "role": "decoy",
            "direction": "high",
            "lead_weeks": None,
            "hazard_ratio": 1.0,
            "description": "Hours to first response: lognormal (median 4 h), independent of everything.",
        },
    }


# Indicators with no role of their own that still move with churn, because they share a cause
# with a true driver (mostly the adoption trajectory). A marginal test may call them leaders;
# they are proxies, not causes. Listed so a reader of the verdicts can tell.
PROXIES = {
    "onboarding_complete": "same event as days_to_onboarding (not complete = slow onboarding)",
    "feature_breadth": "sluggish accounts use fewer features; they also activate fewer licences",
    "weekly_active_users": "adoption trajectory (drives license_activation_rate)",
    "seat_utilisation": "adoption trajectory (drives license_activation_rate)",
    "goal_achieved": "fast adopters reach their goal more often; they rarely hit the drivers",
    "nps_last_score": "sluggish accounts and cooling relationships score lower",
    "key_person_active": "silent during key-person episodes, for longer than the risk window",
    "mrr_change": "contractions happen mostly to accounts with low licence activation",
    "weeks_since_last_login": "key-person silence and low adoption",
}


def ground_truth(spec: Spec, churn: dict[str, Any], trajectories: dict[str, int], window) -> dict:
    total = sum(trajectories.values())
    seg = spec.segment_hazard
    return {
        "schema_version": SCHEMA_VERSION,
        "seed": spec.seed,
        "params": spec.public_params(),
        "indicators": indicator_truth(spec),
        "covariates": {
            "segment": {k: v / seg["mid_market"] for k, v in seg.items()},
            "billing_period": {
                "monthly": 1.0,
                "annual": "churn only at the end of a 12-month term; per renewal hazard "
                f"12 x {spec.annual_relative_churn} x the monthly one",
            },
        },
        "proxies": PROXIES,
        "churn": churn,
        "trajectories": {k: trajectories.get(k, 0) / max(total, 1) for k in TRAJECTORIES},
        "data_window": window,
    }
