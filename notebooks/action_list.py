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
title = "This week's action list"
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
from churnlab.reports import frames, pages, plotting  # noqa: F401 (for your own cells)
from churnlab.reports.catalog import PARTS
from churnlab.reports.notebook import setup, show, style  # noqa: F401

data = setup(
    language, models_dir, processed_dir, interim_dir, reports_dir, metrics_dir, PARTS["action_list"]
)
show(pages.header(data, language, title))

# %%
# Active accounts per health band in the latest week.
bands = frames.latest_bands(data.scores, data.panel)
show(pages.heading(language, "sec.band_mix"))
fig = plotting.band_mix(bands, language)

# %%
# The weekly work list per CSM (reports/action_list.csv; every row is in data.actions), e.g.
# style(pages.action_table(data.actions[data.actions["csm_id"] == "CSM01"], language, "mrr_at_risk", ""))
show(pages.work_list(data, language))

# %%
opportunities = pages.opportunity_table(data, language)
show([pages.heading(language, "sec.opportunities"), opportunities])

# %%
show(pages.footer(data, language))
