"""The `reports` stage: render the report notebooks to self-contained HTML plus an index.

`run(params)` renders every report (core, one per segment, one per customer goal) and
`reports/index.html`. dvc.yaml splits the same work into stages (`python -m churnlab.reports
render <key>` per segment / goal via foreach, then `python -m churnlab.reports core`) so a new
segment value renders only its own page.
"""

from __future__ import annotations

import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from churnlab.config import base_path
from churnlab.errors import UserError
from churnlab.reports import catalog, render
from churnlab.reports.index import index_html
from churnlab.reports.loaders import Paths, load

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


def _render_one(params: dict, report: catalog.Report) -> tuple[str, str]:
    rep = catalog.settings(params)
    reports_dir = base_path(params, "reports_dir")
    stderr = render.render_notebook(
        Path(rep.get("notebooks_dir", "notebooks")) / report.notebook,
        catalog.notebook_parameters(params, report),
        title=report.title(rep["language"]),
        language=rep["language"],
        kernel_name=rep["kernel"],
        cwd=Path.cwd(),
        html_path=reports_dir / HTML_SUBDIR / report.html_name,
        failed_dir=Path(tempfile.gettempdir()) / "churnlab-reports-failed",
        start_timeout=int(rep["start_timeout"]),
    )
    return report.key, stderr


def render_reports(params: dict, keys: list[str]) -> None:
    """Render the named reports (in parallel processes, `reports.workers` at a time)."""
    rep = catalog.settings(params)
    render.check_kernel(rep["kernel"])
    reports = [catalog.find(params, k) for k in keys]
    check_inputs(_paths(params), set().union(*(catalog.PARTS[r.kind] for r in reports)))
    workers = max(1, min(int(rep["workers"]), len(reports)))
    if workers == 1:
        results = [_render_one(params, r) for r in reports]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_render_one, [params] * len(reports), reports))
    for key, stderr in results:
        if stderr.strip():
            print(f"churnlab reports: {key} wrote to stderr:\n{stderr}", file=sys.stderr)


def write_index(params: dict) -> Path:
    """reports/index.html linking every report of the catalog."""
    rep = catalog.settings(params)
    paths = _paths(params)
    parts = {"kpis", "hypotheses", "health", "actions", "panel", "quality"}
    check_inputs(paths, parts)
    data = load(paths, parts)
    html = index_html(catalog.all_reports(params), data, rep["language"], HTML_SUBDIR)
    out = paths.reports_dir / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


def run(params: dict) -> None:
    """Render every report and the index; remove pages of reports no longer configured."""
    reports = catalog.all_reports(params)
    render_reports(params, [r.key for r in reports])
    html_dir = base_path(params, "reports_dir") / HTML_SUBDIR
    wanted = {r.html_name for r in reports}
    for stale in sorted(html_dir.glob("*.html")):
        if stale.name not in wanted:
            stale.unlink()
    write_index(params)
