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
title = "Data quality"
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
    PARTS["data_quality"],
)
show(pages.header(data, language, title))

# %%
show(pages.data_quality_notes(data, language))

# %%
# Rows read (counted by the file readers), accepted and quarantined per table
# (data/interim/tables.json), then each file read with its delimiter.
counts = frames.quarantine_counts(data.tables)
show([pages.heading(language, "sec.per_table"), pages.quarantine_table(counts, language)])
if "rows_read_by_file" in data.tables:
    show(pages.note(language, "rows.note"))
fig = plotting.quarantine_bars(counts, language)

# %%
show(pages.files_section(data, language))

# %%
# Quarantined rows per table, reason (in words) and column; the column comes from the
# quarantined rows themselves (data/interim/quarantine/*.parquet).
reasons = frames.quarantine_reasons(data.tables, data.quarantine)
show([pages.heading(language, "sec.reasons"), pages.reasons_table(reasons, language)])
if not reasons.empty:
    fig = plotting.reason_bars(pages.reason_labels(reasons, language), language)

# %%
# Rows of other tables quarantined because their account's own row was.
show(pages.cascade_section(data, language))

# %%
# Open-ended end dates, implausible dates and daylight-saving adjustments.
show(pages.read_by_rule_section(data, language))

# %%
show(pages.data_quality_details(data, language))

# %%
show(pages.footer(data, language))
