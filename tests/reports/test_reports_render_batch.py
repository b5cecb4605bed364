"""Many report pages in one kernel (render.Kernel / render.render_pages) and progress bars.

Tiny hand-made notebooks check what a kernel carries from one page to the next and how it
shuts down; the fixture project checks that real pages rendered in one kernel are byte-identical
to the same pages rendered by papermill in a kernel each.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import nbformat
import pytest
import reports_fixture_project as fx
from page_diff import page_differences

from churnlab import progress as progress_mod
from churnlab.config import load_params
from churnlab.reports import catalog, render, stage

KERNEL = "churnlab"


def _notebook(path: Path, *cells: str) -> Path:
    """A notebook whose first cell is papermill's `parameters` cell (`x = 0`)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": KERNEL, "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 0", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def _pages(tmp_path: Path, notebook: Path, xs: list) -> list[render.Page]:
    return [
        render.Page(notebook, {"x": x}, f"page {i}", "en", tmp_path / "html" / f"p{i}.html")
        for i, x in enumerate(xs)
    ]


def _render(tmp_path, pages, **kw) -> list[str]:
    return render.render_pages(
        pages, kernel_name=KERNEL, cwd=tmp_path, failed_dir=tmp_path / "failed", **kw
    )


def _pids(stderrs: list[str]) -> list[int]:
    return [int(s.split("pid=")[1].split()[0]) for s in stderrs]


PID = "import os, sys; print(f'pid={os.getpid()}', file=sys.stderr)"


def test_pages_share_a_kernel_and_pages_per_kernel_starts_a_fresh_one(tmp_path):
    nb = _notebook(tmp_path / "pid.ipynb", PID)
    pids = _pids(_render(tmp_path, _pages(tmp_path, nb, [1, 2, 3]), workers=1, pages_per_kernel=2))
    assert pids[0] == pids[1] != pids[2]
    assert sorted(p.name for p in (tmp_path / "html").iterdir()) == [
        "p0.html",
        "p1.html",
        "p2.html",
    ]
    for pid in set(pids):  # every kernel was shut down (and reaped)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_page_sees_nothing_the_previous_page_left(tmp_path):
    """Page 1 (x=1) leaves variables, a figure, rcParams, a warning filter, a working
    directory and an environment variable behind; page 2 (x=2) must see none of them,
    must get its own parameter, and must see warnings a fresh kernel would show."""
    (tmp_path / "elsewhere").mkdir()
    leave = """
import os, warnings
import matplotlib
import matplotlib.pyplot as plt
if x == 1:
    left_over = 'page 1'
    plt.switch_backend('agg')  # the inline backend would close the figure after this cell
    plt.figure()
    matplotlib.rcParams['lines.linewidth'] = 9.0
    warnings.simplefilter('ignore', UserWarning)
    os.chdir('elsewhere')
    os.environ['CHURNLAB_LEFT_OVER'] = '1'
"""
    check = """
import os, sys, warnings
import matplotlib
import matplotlib.pyplot as plt
seen = {
    'x': x,
    'left_over': 'left_over' in dir(),
    'figures': len(plt.get_fignums()),
    'linewidth': matplotlib.rcParams['lines.linewidth'],
    'cwd': os.path.basename(os.getcwd()),
    'env': os.environ.get('CHURNLAB_LEFT_OVER'),
}
warnings.warn('shown on every page', UserWarning)
print('seen', seen, file=sys.stderr)
"""
    nb = _notebook(tmp_path / "state.ipynb", leave, check)
    first, second = _render(tmp_path, _pages(tmp_path, nb, [1, 2]), workers=1)
    assert "'left_over': True" in first and "'figures': 1" in first
    assert "shown on every page" not in first  # page 1 ignored UserWarning itself
    assert "'x': 2," in second
    assert "'left_over': False" in second
    assert "'figures': 0" in second
    assert "'linewidth': 1.5" in second  # matplotlib's default
    assert f"'cwd': '{tmp_path.name}'" in second
    assert "'env': None" in second
    assert "shown on every page" in second


def test_a_failed_page_names_its_notebook_and_stops_the_render(tmp_path):
    nb = _notebook(tmp_path / "fails.ipynb", "if x == 2:\n    raise ValueError('bad page')", PID)
    with pytest.raises(render.RenderError, match=r"fails.ipynb: cell \d+ raised ValueError"):
        _render(tmp_path, _pages(tmp_path, nb, [1, 2, 3]), workers=1)
    assert sorted(p.name for p in (tmp_path / "html").iterdir()) == ["p0.html"]
    assert (tmp_path / "failed" / "p1.ipynb").exists()


def test_shutdown_sends_no_interrupt_and_closes_every_socket(tmp_path):
    """jupyter_client's shutdown_kernel() sends SIGINT before the shutdown request; landing
    in the kernel's last message handler it logs 'KeyboardInterrupt caught in kernel'.
    Kernel.close() asks politely only, and destroys both zmq contexts itself."""
    marker = tmp_path / "sigint"
    kernel = render.Kernel(KERNEL, tmp_path)
    kernel.start()
    kernel._run_silently(
        "import signal\n"
        f"signal.signal(signal.SIGINT, lambda *a: open({str(marker)!r}, 'w').close())",
        "install a SIGINT probe",
    )
    km, kc = kernel.km, kernel.kc
    pid = km.provisioner.process.pid
    kernel.close()
    assert not km.has_kernel
    assert km.context.closed and kc.context.closed
    assert kernel.km is None and kernel.kc is None
    time.sleep(0.2)
    assert not marker.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_good_render_prints_nothing_to_stderr(tmp_path, capfd):
    """The kernels' own stderr (their log) is this process's: a good render of several pages
    on two workers, kernels started and shut down, must leave it empty."""
    nb = _notebook(tmp_path / "quiet.ipynb", "import matplotlib.pyplot as plt\nplt.plot([1, 2])")
    capfd.readouterr()
    _render(tmp_path, _pages(tmp_path, nb, [1, 2, 3, 4]), workers=2, pages_per_kernel=2)
    out, err = capfd.readouterr()
    assert err == ""
    assert "Traceback" not in out and "ZMQError" not in out


# --- the fixture project's real pages ----------------------------------------------------


@pytest.fixture(scope="module")
def fixture_project(tmp_path_factory) -> Path:
    root = fx.write_project(
        tmp_path_factory.mktemp("batch"), segments=("smb", fx.JA_SEGMENT), goals=(fx.EVIL_GOAL,)
    )
    if not (root / "dvc.yaml").exists():  # notebooks find the project by its dvc.yaml
        (root / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    return root


def _in(root: Path):
    class _Cwd:
        def __enter__(self):
            self.old = Path.cwd()
            os.chdir(root)

        def __exit__(self, *exc):
            os.chdir(self.old)

    return _Cwd()


def test_pages_in_one_kernel_are_byte_identical_to_a_kernel_each(fixture_project, tmp_path):
    """Group pages (a Japanese label, a label with markup), with the heaviest core page
    between them, in ONE kernel vs papermill's own kernel per page (render.execute, the way
    every page was rendered before)."""
    with _in(fixture_project):
        params = load_params("params.yaml")
        groups, _ = catalog.group_reports(params, stage.attributes(params))
        core = {r.kind: r for r in catalog.core_reports()}
        reports = [groups[0], core["executive_summary"], groups[1], groups[2]]
        pages = [stage._page(params, r) for r in reports]
        shared = [Path(p.html_path.parent, "shared-" + p.html_path.name) for p in pages]
        pages_shared = [
            render.Page(p.notebook, p.parameters, p.title, p.language, h)
            for p, h in zip(pages, shared, strict=True)
        ]
        render.render_pages(
            pages_shared,
            kernel_name=KERNEL,
            cwd=Path.cwd(),
            failed_dir=tmp_path,
            workers=1,
        )
        for page, html in zip(pages, shared, strict=True):
            executed = render.execute(
                page.notebook, page.parameters, KERNEL, Path.cwd(), tmp_path / "x.ipynb"
            )
            alone = render.to_html(
                render.without_stderr(render.normalize(executed, page.title)), page.language
            )
            name = page.html_path.name
            shared = {name: html.read_bytes()}
            assert shared == {name: alone.encode("utf-8")}, page_differences(
                shared, {name: alone.encode("utf-8")}
            )


def test_the_groups_command_writes_the_same_pages_as_before(fixture_project):
    """`python -m churnlab.reports groups` (dvc.yaml's report_groups): the same files in
    reports/html/groups/, a second run byte-identical to the first."""
    from churnlab.reports.__main__ import main as reports_main

    groups_dir = fixture_project / "reports/html/groups"
    with _in(fixture_project):
        assert reports_main(["groups"]) == 0
        first = {p.name: p.read_bytes() for p in groups_dir.glob("*.html")}
        params = load_params("params.yaml")
        expected, _ = catalog.group_reports(params, stage.attributes(params))
        assert sorted(first) == sorted(Path(r.html_name).name for r in expected)
        assert reports_main(["groups"]) == 0
    again = {p.name: p.read_bytes() for p in groups_dir.glob("*.html")}
    assert again == first, page_differences(again, first)


# --- progress bars -----------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_only_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    tty = _Tty()
    assert list(progress_mod.progress(range(3), desc="pages", file=tty)) == [0, 1, 2]
    assert "pages" in tty.getvalue() and "3/3" in tty.getvalue()

    pipe = io.StringIO()  # a log file, `| tee`, captured output
    assert list(progress_mod.progress(range(3), desc="pages", file=pipe)) == [0, 1, 2]
    assert pipe.getvalue() == ""

    for ci in ("true", "1", "yes"):
        monkeypatch.setenv("CI", ci)
        quiet = _Tty()
        with progress_mod.progress(total=2, desc="pages", file=quiet) as bar:
            bar.update(2)
        assert quiet.getvalue() == "", ci
    monkeypatch.setenv("CI", "false")
    assert progress_mod.enabled(_Tty())
    assert not progress_mod.enabled(io.StringIO())


def test_pages_land_in_the_project_whatever_the_process_cwd_is_meanwhile(tmp_path, monkeypatch):
    """papermill os.chdir()s the whole process around its notebook reads and writes, to a
    folder other render threads may have set (seen in CI: a page written to the repository
    root). Simulated here deterministically: while each page renders, the process sits in a
    decoy folder. Pages given with paths relative to `cwd` must still land under `cwd`."""
    project, decoy = tmp_path / "project", tmp_path / "decoy"
    project.mkdir()
    decoy.mkdir()
    _notebook(project / "nb.ipynb", "print(x)")
    real = render.render_notebook

    def in_decoy(*args, **kwargs):
        old = Path.cwd()
        os.chdir(decoy)
        try:
            return real(*args, **kwargs)
        finally:
            os.chdir(old)

    monkeypatch.setattr(render, "render_notebook", in_decoy)
    pages = [
        render.Page(Path("nb.ipynb"), {"x": i}, f"page {i}", "en", Path(f"html/p{i}.html"))
        for i in range(2)
    ]
    monkeypatch.chdir(project)
    render.render_pages(
        pages, kernel_name=KERNEL, cwd=Path("."), failed_dir=Path("failed"), workers=1
    )
    assert sorted(p.name for p in (project / "html").iterdir()) == ["p0.html", "p1.html"]
    assert not (decoy / "html").exists()
