"""What a report notebook calls: set-up (project, style, data) and `show` for blocks.

A report notebook runs in two places: in JupyterLab, where the working directory is
`notebooks/`, and under the renderer (papermill, working directory the project root). Both
must read the same files, so `setup` resolves the parameter paths against the project root
(`churnlab.project.project_root`: the nearest folder upward holding dvc.yaml and params.yaml,
or $CHURNLAB_PROJECT), and a missing required input stops the notebook with an error naming
the file and the stage that writes it (`dvc repro hypotheses`) instead of an empty page.

Figures are shown by the kernel's inline backend (a PNG without metadata, so a re-render is
byte-identical); tables are DataFrames shown through `style` (pandas Styler, the report's
look).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from churnlab.reports import plotting
from churnlab.reports.i18n import check_language
from churnlab.reports.loaders import Paths, ReportData, load
from churnlab.reports.style import style

__all__ = ["paths", "setup", "show", "style"]

# PNG as the reports embed it: fixed dpi (the figure's), tight box, no Software/date chunks
PRINT_FIGURE_KWARGS = {"bbox_inches": "tight", "metadata": {"Software": None}}


def _inline_backend() -> None:
    """In a Jupyter kernel: figures shown inline as metadata-free PNG. Elsewhere: nothing."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    from matplotlib_inline.config import InlineBackend

    shell.run_line_magic("matplotlib", "inline")
    config = InlineBackend.instance(parent=shell)
    config.figure_formats = {"png"}
    config.print_figure_kwargs = dict(PRINT_FIGURE_KWARGS)  # re-registers the PNG formatter


def paths(
    models_dir: str,
    processed_dir: str,
    interim_dir: str,
    reports_dir: str,
    metrics_dir: str = "metrics",
    root: str | Path | None = None,
) -> Paths:
    """The report inputs, relative parameter paths resolved against the project root."""
    return Paths.in_project(
        models_dir, processed_dir, interim_dir, reports_dir, metrics_dir, root=root
    )


def setup(
    language: str,
    models_dir: str,
    processed_dir: str,
    interim_dir: str,
    reports_dir: str,
    metrics_dir: str,
    parts: set[str],
    root: str | Path | None = None,
) -> ReportData:
    """Apply the shared plot style for `language` and load the inputs this report needs.

    Raises:
        UserError: the working directory is not inside a churnlab project.
        MissingInputError: a required input of `parts` is missing (the message names the
            file and `dvc repro <stage>`).
    """
    check_language(language)
    # stakeholders read the HTML; library chatter belongs in the stage log, not the page
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    _inline_backend()
    plotting.apply_style(language)  # after the inline backend, which sets its own rcParams
    return load(
        paths(models_dir, processed_dir, interim_dir, reports_dir, metrics_dir, root), parts
    )


def show(blocks) -> None:
    """Display blocks in order: HTML strings, report tables (DataFrames, styled), Figures.

    A figure is displayed, then closed, so the inline backend does not show it a second time
    at the end of the cell (the Figure object stays usable: `fig` in a later cell shows it).
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML, Image, display
    from matplotlib.figure import Figure

    for block in [blocks] if isinstance(blocks, str | pd.DataFrame | Figure) else blocks:
        if isinstance(block, pd.DataFrame):
            display(style(block))
        elif isinstance(block, Figure):
            display(block)
            plt.close(block)
        elif isinstance(block, bytes):
            display(Image(data=block, format="png"))
        else:
            display(HTML(block))
