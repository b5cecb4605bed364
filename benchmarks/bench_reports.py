"""Benchmark report rendering: fixed cost (kernel start + imports) and cost per extra page,
one kernel per page (before) against many pages on one kernel (after), in the same run.

    python benchmarks/bench_reports.py [--pages 6] [--repeats 3] [--project PATH]
                                       [--workdir /tmp/churnlab-bench-reports]

The project is a copy-free read of PATH (a churnlab project with its report inputs, e.g. a
clone pointed at the default company's models/ and data/), or by default the hand-made
fixture project of tests/reports (six accounts: page costs are then nearly all boilerplate).
Group pages (segment / customer goal, the report_groups stage) are rendered N times over,
cycling through the project's groups, each run in a fresh subprocess:
- before: each page as the stage rendered it until now: papermill starts a kernel, runs the
  notebook, shuts the kernel down (render.execute), then normalise + HTML export;
- after:  render.render_pages with one worker: one kernel for all pages;
- start:  one render.Kernel started (preloading the report modules) and shut down.
CPU = user + system seconds of the subprocess and everything it waited for (its kernels),
from resource.getrusage(RUSAGE_CHILDREN); medians over the repeats, before and after
alternating so a drifting machine affects both. From 1 page and N pages:
  per extra page = (cpu(N) - cpu(1)) / (N - 1),   fixed = cpu(1) - per extra page.
On a shared machine trust CPU seconds and the ratios, not wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys
from pathlib import Path
from churnlab.config import load_params
from churnlab.reports import catalog, render, stage
mode, n, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
params = load_params("params.yaml")
kernel = catalog.settings(params)["kernel"]
if mode == "start":
    with render.Kernel(kernel, Path.cwd()):
        pass
    sys.exit(0)
groups, _ = catalog.group_reports(params, stage.attributes(params))
pages = []
for i in range(n):
    p = stage._page(params, groups[i % len(groups)])
    html = out / f"{i:03d}-{p.html_path.name}"
    pages.append(render.Page(p.notebook, p.parameters, p.title, p.language, html))
if mode == "before":
    for p in pages:
        nb = render.execute(p.notebook, p.parameters, kernel, Path.cwd(), out / "failed.ipynb")
        clean = render.normalize(nb, p.title)
        assert not render.error_outputs(clean)
        p.html_path.write_text(render.to_html(render.without_stderr(clean), p.language))
else:
    render.render_pages(pages, kernel_name=kernel, cwd=Path.cwd(), failed_dir=out, workers=1)
"""


def run_child(project: Path, mode: str, n: int, out: Path) -> tuple[float, float]:
    """(cpu seconds, wall seconds) of one subprocess rendering `n` pages in `mode`."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {**os.environ, "CI": "1"}  # no progress bar in the figures
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(n), str(out)], cwd=project, env=env, check=True
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def fixture_project(workdir: Path) -> Path:
    """The hand-made project of tests/reports (every report input, six accounts)."""
    sys.path.insert(0, str(REPO / "tests" / "reports"))
    import reports_fixture_project as fx

    root = workdir / "project"
    shutil.rmtree(root, ignore_errors=True)
    old = Path.cwd()
    os.chdir(REPO)  # the fixture copies params.yaml and notebooks/ from the repo
    try:
        fx.write_project(root, segments=None, goals=None)
    finally:
        os.chdir(old)
    if not (root / "dvc.yaml").exists():  # notebooks find the project by its dvc.yaml
        (root / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=6, help="group pages per run (N >= 2)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--project", type=Path, help="a churnlab project (default: the fixture)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/churnlab-bench-reports"))
    args = ap.parse_args(argv)
    if args.pages < 2:
        ap.error("--pages must be at least 2")
    args.workdir.mkdir(parents=True, exist_ok=True)
    project = args.project.resolve() if args.project else fixture_project(args.workdir)
    print(f"project {project}, N = {args.pages} group pages, {args.repeats} repeats")

    runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    plan = [
        ("start", 0),
        ("before", 1),
        ("after", 1),
        ("before", args.pages),
        ("after", args.pages),
    ]
    for r in range(args.repeats):
        for mode, n in plan:
            cpu, wall = run_child(project, mode, n, args.workdir / "out")
            runs.setdefault((mode, n), []).append((cpu, wall))
            print(f"  run {r + 1}: {mode:6s} {n:3d} pages  cpu {cpu:7.2f} s  wall {wall:7.2f} s")

    def med(mode: str, n: int, i: int = 0) -> float:
        return statistics.median(x[i] for x in runs[(mode, n)])

    n = args.pages
    print()
    print(f"{'mode':8s} {'pages':>5s} {'cpu s (median)':>15s} {'min-max':>15s} {'wall s':>8s}")
    for mode, k in plan:
        cpus = [x[0] for x in runs[(mode, k)]]
        print(
            f"{mode:8s} {k:5d} {med(mode, k):15.2f} {min(cpus):7.2f}-{max(cpus):<7.2f}"
            f" {med(mode, k, 1):8.2f}"
        )
    derived = {}
    for mode in ("before", "after"):
        per_page = (med(mode, n) - med(mode, 1)) / (n - 1)
        derived[mode] = (med(mode, 1) - per_page, per_page)
    print()
    print(f"{'':8s} {'fixed cpu s':>12s} {'per extra page cpu s':>21s}")
    for mode, (fixed, per_page) in derived.items():
        print(f"{mode:8s} {fixed:12.2f} {per_page:21.2f}")
    print(f"kernel start + preload alone (after's fixed part): {med('start', 0):.2f} s CPU")
    print()
    print(
        f"after / before, {n} pages: {med('after', n) / med('before', n):.2f} of the CPU; "
        f"per extra page {derived['after'][1] / derived['before'][1]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
