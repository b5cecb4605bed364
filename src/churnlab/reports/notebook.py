"""What a report notebook calls: set-up (style, data) and `show` for blocks.

Kept tiny on purpose: notebooks are thin, the sections live in `pages`.
"""

from __future__ import annotations

import warnings

from churnlab.reports import plotting
from churnlab.reports.i18n import check_language
from churnlab.reports.loaders import Paths, ReportData, load


def setup(
    language: str,
    models_dir: str,
    processed_dir: str,
    interim_dir: str,
    reports_dir: str,
    metrics_dir: str,
    parts: set[str],
) -> ReportData:
    """Apply the shared plot style for `language` and load the inputs this report needs."""
    check_language(language)
    # stakeholders read the HTML; library chatter belongs in the stage log, not the page
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    plotting.apply_style(language)
    return load(
        Paths.from_dirs(models_dir, processed_dir, interim_dir, reports_dir, metrics_dir), parts
    )


def show(blocks) -> None:
    """Display HTML strings and PNG bytes in order."""
    from IPython.display import HTML, Image, display

    for block in blocks:
        display(Image(data=block, format="png") if isinstance(block, bytes) else HTML(block))
