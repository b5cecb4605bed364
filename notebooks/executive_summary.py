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
title = "Executive summary"
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
    language,
    models_dir,
    processed_dir,
    interim_dir,
    reports_dir,
    metrics_dir,
    PARTS["executive_summary"],
)
show(pages.header(data, language, title))

# %%
# Ingest's warnings, the headline figures (models/kpis.json) and the takeaways.
show(pages.warnings_section(data, language))
show(pages.headline_section(data, language))

# %%
# One row per month: logo_churn_rate, grr, nrr, mrr bridge columns (models/kpis.json).
monthly = frames.kpi_monthly(data.kpis)
show(pages.heading(language, "sec.churn_trend"))
fig = plotting.churn_trend(monthly, language)

# %%
show(pages.mrr_bridge_section(data, language, frames.kpi_headline(data.kpis, monthly)))

# %%
show(pages.retention_section(data, language))
show(pages.cohort_section(data, language))

# %%
# Share of active accounts per health band, by week.
shares = frames.band_share_by_week(data.scores, data.panel)
show(pages.heading(language, "sec.health_trend"))
fig = plotting.band_shares(shares, language)

# %%
show(pages.validation_section(data, language))

# %%
# The three indicators that lead churn most strongly (lamps that warn first).
top = frames.top_leading(frames.hypotheses_table(data.hypotheses), 3)
show(pages.heading(language, "sec.top_hypotheses"))
fig = plotting.top_hazard_ratios(pages.with_indicator_labels(top, data, language), language)

# %%
top_verdicts = pages.verdict_table(top, data, language)
show(pages.verdict_section(top_verdicts, data, language))

# %%
show(pages.footer(data, language))
