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
title = "Hypothesis verdicts"
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
    language, models_dir, processed_dir, interim_dir, reports_dir, metrics_dir, PARTS["hypotheses"]
)
show(pages.header(data, language, title))

# %%
# One row per hypothesis of models/hypotheses.json, in verdict order (every field).
hypotheses = frames.sort_hypotheses(frames.hypotheses_table(data.hypotheses))
show(pages.hypotheses_intro(hypotheses, language))

# %%
# The verdict table: a DataFrame with the page's headers, e.g.
# style(verdicts.sort_values(verdicts.columns[3], ascending=False))
verdicts = pages.verdict_table(hypotheses, data, language)
show(pages.verdict_section(verdicts, data, language))

# %%
# One section per hypothesis. For one of them: show(pages.hypothesis_section(data, language, "H1"))
# or its figures, e.g.
# fig = plotting.lead_profile(frames.lead_profile(data.hypotheses, "H1"), "label", language)
show(pages.heading(language, "sec.per_hypothesis"))
for hypothesis_id in hypotheses["id"] if len(hypotheses) else []:
    show(pages.hypothesis_section(data, language, hypothesis_id))

# %%
show(pages.footer(data, language))
