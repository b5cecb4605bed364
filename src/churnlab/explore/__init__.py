"""The exploration bench: try a hypothesis on the cached panel with the hypotheses stage's
statistics, see it as DataFrames and matplotlib figures, promote it to hypotheses.yaml; and
one account's weekly history (notebooks/explore_hypothesis.ipynb).

    ws = open_workspace()                     # panel, meta, params: once per session
    result = try_hypothesis(idea, ws)         # idea: a hypotheses.yaml entry (dict / YAML)
    result.verdict, result.lead_profile, ...  # DataFrames
    plot_lead_profile(result)                 # matplotlib Figures
    print(yaml_entry(idea, ws)); append_to_hypotheses(idea, ws)
    account_history(account_id, ws); plot_account_history(history)
"""

from churnlab.errors import ConfigError, UserError
from churnlab.explore.account import account_history, reddest_account, score_lamps_of
from churnlab.explore.bench import Exploration, parse_idea, try_hypothesis
from churnlab.explore.plots import (
    plot_account_history,
    plot_landmark_km,
    plot_lead_profile,
    plot_threshold_tradeoff,
)
from churnlab.explore.promote import append_to_hypotheses, yaml_entry
from churnlab.explore.workspace import Workspace, open_workspace

__all__ = [
    "ConfigError",
    "UserError",
    "Exploration",
    "Workspace",
    "account_history",
    "append_to_hypotheses",
    "open_workspace",
    "parse_idea",
    "plot_account_history",
    "plot_landmark_km",
    "plot_lead_profile",
    "plot_threshold_tradeoff",
    "reddest_account",
    "score_lamps_of",
    "try_hypothesis",
    "yaml_entry",
]
