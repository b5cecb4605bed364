"""The `reports` stage: render the report notebooks to self-contained HTML plus an index.

`run(params)` renders every report (core, one per segment and per customer goal that occurs
in the data) and `reports/index.html`. dvc.yaml splits the same work into two stages:
`python -m churnlab.reports groups` writes every group page into the directory
`reports/html/groups/` (one output, however many labels the data has), and
`python -m churnlab.reports core` the four core pages and the index.

Pages are rendered by `render.render_pages`: `reports.workers` kernels, each rendering page
after page (a kernel start and the imports are paid once per worker, not once per page), with
HTML byte-identical to a kernel per page.
"""

from __future__ import annotations

import sys
from pathlib import Path

from churnlab.config import base_path
from churnlab.errors import UserError
from churnlab.reports import catalog, render
from churnlab.reports.index import index_html
from churnlab.reports.loaders import Paths, load, occurring_values

HTML_SUBDIR = "html"


def _paths(params: dict) -> Paths:
    return Paths.from_dirs(
        base_path(params, "models_dir"),
        base_path(params, "processed_dir"),
        base_path(params, "interim_dir"),
        base_path(params, "reports_dir"),
    )


def check_inputs(paths: Paths, parts: set[str]) -> None:
    """The inputs the chosen reports need; a missing one names the stage that writes it.

    Optional inputs (kpi/hypothesis tables, action lists, quarantine) may be absent: the
    report then says "not available" for that section.
    """
    required = {paths.panel_meta: "panel"}
    by_part = {
        "kpis": {paths.kpis: "kpis"},
        "hypotheses": {paths.hypotheses: "hypotheses"},
        "health": {paths.health: "health-score", paths.health_scores: "health-score"},
        "panel": {paths.panel: "panel"},
    }
    for part in sorted(parts):
        required.update(by_part.get(part, {}))
    for path, stage in required.items():
        if not path.exists():
            raise UserError(f"{path}: not found; run `churnlab {stage}` (or `dvc repro`) first")
    if "quality" in parts and not paths.tables_json.exists() and not paths.ingest_metrics.exists():
        raise UserError(f"{paths.tables_json}: not found; run `churnlab ingest` first")


def _page(params: dict, report: catalog.Report) -> render.Page:
    rep = catalog.settings(params)
    return render.Page(
        notebook=Path(rep.get("notebooks_dir", "notebooks")) / report.notebook,
        parameters=catalog.notebook_parameters(params, report),
        title=report.title(rep["language"]),
        language=rep["language"],
        html_path=base_path(params, "reports_dir") / HTML_SUBDIR / report.html_name,
    )


def attributes(params: dict) -> dict[str, list[str]]:
    """Segment and customer-goal labels that occur in the panel (see loaders.occurring_values)."""
    paths = _paths(params)
    if not paths.panel_meta.exists() and not paths.panel.exists():
        raise UserError(
            f"{paths.panel_meta}: not found; run `churnlab panel` (or `dvc repro`) first"
        )
    return occurring_values(paths)


FAILED_DIR = Path("reports/failed")  # executed copies of notebooks that raised (git-ignored)


def _render(params: dict, reports: list[catalog.Report]) -> None:
    """Render reports on `reports.workers` kernels, each kernel rendering many pages
    (`reports.pages_per_kernel`: null = no limit, 1 = a kernel per page)."""
    if not reports:
        return
    rep = catalog.settings(params)
    render.check_kernel(rep["kernel"])
    check_inputs(_paths(params), set().union(*(catalog.PARTS[r.kind] for r in reports)))
    stderrs = render.render_pages(
        [_page(params, r) for r in reports],
        kernel_name=rep["kernel"],
        cwd=Path.cwd(),
        # The project's own folder, not one in the system temp dir: two projects rendering at
        # once would overwrite each other's failed copies there.
        failed_dir=FAILED_DIR,
        workers=int(rep["workers"]),
        pages_per_kernel=rep.get("pages_per_kernel"),
        start_timeout=int(rep["start_timeout"]),
    )
    for report, stderr in zip(reports, stderrs, strict=True):
        if stderr.strip():
            print(f"churnlab reports: {report.key} wrote to stderr:\n{stderr}", file=sys.stderr)


def render_reports(params: dict, keys: list[str]) -> None:
    """Render the named reports (keys as `python -m churnlab.reports list` prints them)."""
    attrs = attributes(params)
    _render(params, [catalog.find(params, k, attrs) for k in keys])


def _remove_stale(directory: Path, wanted: set[str]) -> None:
    for stale in sorted(directory.glob("*.html")):
        if stale.name not in wanted:
            stale.unlink()


def _groups_dir(params: dict) -> Path:
    return base_path(params, "reports_dir") / HTML_SUBDIR / catalog.GROUPS_SUBDIR


def render_groups(params: dict) -> Path:
    """Every group page into reports/html/groups/ (a DVC directory output); pages of labels
    no longer in the data or in `reports.segments` / `reports.customer_goals` are removed."""
    reports, _ = catalog.group_reports(params, attributes(params))
    out = _groups_dir(params)
    out.mkdir(parents=True, exist_ok=True)
    _render(params, reports)
    _remove_stale(out, {Path(r.html_name).name for r in reports})
    return out


def render_core(params: dict) -> None:
    _render(params, catalog.core_reports())


def write_index(params: dict) -> Path:
    """reports/index.html linking every report, and noting configured labels not in the data."""
    rep = catalog.settings(params)
    paths = _paths(params)
    parts = {"kpis", "hypotheses", "health", "actions", "panel", "quality"}
    check_inputs(paths, parts)
    data = load(paths, parts)
    groups, skipped = catalog.group_reports(params, attributes(params))
    html = index_html(catalog.core_reports() + groups, data, rep["language"], HTML_SUBDIR, skipped)
    out = paths.reports_dir / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


def run(params: dict) -> None:
    """Render every report (one worker pool) and the index; remove pages no longer wanted."""
    groups, _ = catalog.group_reports(params, attributes(params))
    _groups_dir(params).mkdir(parents=True, exist_ok=True)
    _render(params, catalog.core_reports() + groups)
    _remove_stale(_groups_dir(params), {Path(r.html_name).name for r in groups})
    # group pages used to sit next to the core pages: clear any left from an older run
    html_dir = base_path(params, "reports_dir") / HTML_SUBDIR
    _remove_stale(html_dir, {r.html_name for r in catalog.core_reports()})
    write_index(params)
