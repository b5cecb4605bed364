# ---
# jupyter:
#   kernelspec:
#     display_name: Python (churnlab)
#     language: python
#     name: churnlab
# ---

# %% tags=["parameters"]
# Parameters: papermill injects the real values (from params.yaml) after this cell.
# Relative paths are read from the project root, wherever the notebook runs (JupyterLab
# opens it in notebooks/, the renderer in the project root).
language = "en"
title = "Segment report"
dimension = ""
value = ""
models_dir = "models"
processed_dir = "data/processed"
interim_dir = "data/interim"
reports_dir = "reports"
metrics_dir = "metrics"

# %%
# The sections live in churnlab.reports.pages (tested). Cells hold DataFrames and matplotlib
# figures: filter, sort or restyle them and show them again with show(...) / style(df) / fig.
# A missing input stops here with the file and the stage that makes it (`dvc repro ...`).
# ruff: noqa: E402 (papermill's parameters cell comes first)
# Another group: set dimension = "segment" or "customer_goal" and value = its label.
from churnlab.reports import frames, pages, plotting  # noqa: F401 (for your own cells)
from churnlab.reports.catalog import PARTS
from churnlab.reports.notebook import setup, show, style  # noqa: F401

data = setup(
    language,
    models_dir,
    processed_dir,
    interim_dir,
    reports_dir,
    metrics_dir,
    PARTS[dimension or "segment"],
)
show(pages.header(data, language, title))

# %%
# The group's accounts and frames: group.panel, group.lifetimes, group.scores, group.monthly ...
group = pages.group_frames(data, dimension, value)
show(pages.group_headline(data, group, language))

# %%
show(pages.heading(language, "sec.churn_trend"))
fig = plotting.churn_trend(group.monthly, language)

# %%
show(pages.heading(language, "sec.retention"))
fig = pages.group_retention(data, group, language)

# %%
show(pages.heading(language, "sec.health_trend"))
fig = plotting.band_shares(group.shares, language)

# %%
show(pages.top_actions(data, language, group.ids))

# %%
show(pages.footer(data, language))
