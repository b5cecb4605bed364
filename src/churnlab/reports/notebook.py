"""What a report notebook calls: set-up (project, style, data) and `show` for blocks.

A report notebook runs in two places: in JupyterLab, where the working directory is
`notebooks/`, and under the renderer (papermill, working directory the project root). Both
must read the same files, so `setup` resolves the parameter paths against the project root
(`churnlab.project.project_root`: the nearest folder upward holding params.yaml,
or $CHURNLAB_PROJECT), and a missing required input stops the notebook with an error naming
the file and the stage that writes it (`dvc repro hypotheses`) instead of an empty page.

Figures are shown by the kernel's inline backend (a PNG without metadata, so a re-render is
byte-identical); tables are DataFrames shown through `style` (pandas Styler, the report's
look).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd

from churnlab.project import project_root
from churnlab.reports import plotting
from churnlab.reports.i18n import check_language
from churnlab.reports.loaders import Paths, ReportData, load, project_labels
from churnlab.reports.style import style

__all__ = ["paths", "setup", "show", "style"]

# PNG as the reports embed it: fixed dpi (the figure's), tight box, no Software/date chunks
PRINT_FIGURE_KWARGS = {"bbox_inches": "tight", "metadata": {"Software": None}}


def _inline_backend() -> bool:
    """In a Jupyter kernel: figures shown inline as metadata-free PNG (True). Elsewhere:
    nothing (False)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    from matplotlib_inline.config import InlineBackend

    shell.run_line_magic("matplotlib", "inline")
    config = InlineBackend.instance(parent=shell)
    config.figure_formats = {"png"}
    config.print_figure_kwargs = dict(PRINT_FIGURE_KWARGS)  # re-registers the PNG formatter
    return True


# Where JupyterLab (and the classic notebook) put a cell's HTML output: the report's rules
# apply there only, never to JupyterLab's own interface.
CSS_SCOPES = (".jp-OutputArea-output", ".output_html")
# Page-level rules of the report stylesheet that must not restyle a notebook: its body,
# page box, printing and Jupyter-wrapper overrides.
_PAGE_ONLY = re.compile(r"^(html|body|main\.report|@media|\.jp-|footer\.cl-footer)")
CSS_METADATA = "churnlab_report_css"  # render.normalize drops outputs marked with it


def report_css(scopes: tuple[str, ...] = CSS_SCOPES) -> str:
    """The reports' stylesheet (templates/churnlab_offline/report.css) for a notebook: page-
    level rules left out, every other selector prefixed with each of `scopes`, `:root`
    colour variables set on the scopes. So verdict and band pills, tables and KPI cards look
    in JupyterLab as in the rendered HTML."""
    from churnlab.reports.render import TEMPLATE_DIR, TEMPLATE_NAME

    css = (TEMPLATE_DIR / TEMPLATE_NAME / "report.css").read_text(encoding="utf-8")
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules = []
    depth_free = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", css)
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", depth_free):
        selectors = selectors.strip()
        if not selectors or _PAGE_ONLY.match(selectors):
            continue
        parts = [p.strip() for p in selectors.split(",")]
        if parts == [":root"]:
            scoped = ", ".join(scopes)
        else:
            scoped = ", ".join(f"{scope} {p}" for scope in scopes for p in parts)
        rules.append(f"{scoped} {{{' '.join(body.split())}}}")
    return "\n".join(rules)


def show_report_css() -> None:
    """Display `report_css` once (in the cell calling `setup`) so a notebook in JupyterLab
    looks like the report. The output is marked (`CSS_METADATA`) and the renderer drops it:
    the rendered page has the whole stylesheet in its <head> already."""
    from IPython.display import HTML, display

    display(HTML(f"<style>{report_css()}</style>"), metadata={CSS_METADATA: True})


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
    if _inline_backend():
        show_report_css()
    plotting.apply_style(language)  # after the inline backend, which sets its own rcParams
    data = load(
        paths(models_dir, processed_dir, interim_dir, reports_dir, metrics_dir, root), parts
    )
    # the user's own billing-period labels (params.yaml vocabulary), read where the
    # notebook runs: JupyterLab and the renderer find the same project root
    data.labels = project_labels(Path(root) if root is not None else project_root())
    return data


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
