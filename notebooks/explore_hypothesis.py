# ---
# jupyter:
#   kernelspec:
#     display_name: Python (churnlab)
#     language: python
#     name: churnlab
# ---

# %% [markdown]
# # Exploration bench: does my new hypothesis lead churn?
#
# Write a hypothesis in the `idea` cell (the fields of a `hypotheses.yaml` entry; add `lags:`
# to try other lags) and run the notebook. It is analysed on the cached panel with the
# hypotheses stage's own code: same threshold choice (a `suggest` threshold is chosen on a
# random half of the accounts and tested on the other), same lead profile, same guards, and
# the verdict the stage would give once the hypothesis joins the family in
# `models/hypotheses.json` (false discoveries are controlled across all hypotheses).
# Every result is a DataFrame or a matplotlib Figure: filter, sort or restyle it.

# %% tags=["parameters"]
# Parameters (papermill may inject others). The project is found from the working directory
# (JupyterLab opens this notebook in notebooks/) or the CHURNLAB_PROJECT variable.
idea = """
id: login_gap
statement: Accounts whose users stop logging in churn within a couple of months.
stage: adoption
indicator: weeks_since_last_login
direction: high
threshold: suggest
expected_lead_weeks: 4
action: Call the admin; find out who still uses the product and why the others stopped.
kind: risk
"""
family = True  # judge it inside the current family of hypotheses (the stage's verdict)
promote = False  # True: append the idea to hypotheses.yaml (then `dvc repro`)
account_id = ""  # an account to look at; "" = the reddest account of the latest week

# %%
# %matplotlib inline
from churnlab import explore

# A missing input stops here with the file and the stage that makes it (`dvc repro ...`).
ws = explore.open_workspace()
result = explore.try_hypothesis(idea, ws, family=family)
print(f"{result.hypothesis.id}: analysed in {result.cpu_seconds:.1f} s CPU")
for note in result.notes:
    print("-", note)
result.verdict.T

# %% [markdown]
# ## Lead profile: how far ahead does the lamp work?
# Hazard ratio of the lamp read *lag* weeks before each week (Cox, adjusted as the stage
# adjusts), 95% CI, likelihood-ratio p-value, q-value in the family (`q_value`) and alone.

# %%
result.lead_profile

# %%
explore.plot_lead_profile(result)

# %% [markdown]
# ## Threshold trade-off
# Share of account-weeks lit against the precision of a lighting and the churners it warns;
# the marked point is the threshold used (chosen under the alert budget for `suggest`).

# %%
result.threshold_curve

# %%
explore.plot_threshold_tradeoff(result)

# %% [markdown]
# ## The lamp as an alert, and per account-week

# %%
result.alerts.T

# %%
result.performance

# %% [markdown]
# ## Landmark Kaplan-Meier: accounts grouped by the lamp at tenure week 13 / 26 / 52

# %%
result.landmark_tests

# %%
explore.plot_landmark_km(result)

# %% [markdown]
# ## The family: every hypothesis' false-discovery control with this one added

# %%
result.family

# %% [markdown]
# ## Promote it
# The entry to paste under `hypotheses:` in `hypotheses.yaml` - or set `promote = True` to
# append it (validated; the rest of the file is not touched). Then `dvc repro`.

# %%
try:
    print(explore.yaml_entry(idea, ws))
except explore.ConfigError as exc:  # the id is already in hypotheses.yaml (tried as it is)
    print(exc)
if promote:
    print("appended to", explore.append_to_hypotheses(idea, ws))

# %% [markdown]
# ## One account's weekly history
# Indicators, the score's lamps, health score and band, contract events, churn and the CSM.

# %%
account = account_id or explore.reddest_account(ws)
history = explore.account_history(account, ws)
history.tail(12)

# %%
explore.plot_account_history(history)
