"""Notebook -> executed notebook -> self-contained HTML, deterministically and offline.

papermill runs a report notebook with explicit parameters on a named kernel; `render_pages`
runs many pages on one `Kernel` per worker (a kernel start and the imports cost seconds, a
page far less). We then strip everything that changes from run to run (timestamps,
durations, papermill metadata, random cell ids, execution counts) and export with our own
nbconvert template, which has no <script> and fetches nothing (nbconvert's lab template
pulls require.js/MathJax from a CDN).
"""

from __future__ import annotations

import copy
import logging
import queue
import re
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nbformat

from churnlab.errors import UserError
from churnlab.reports.fonts import embed_cjk_font

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "churnlab_offline"
DEFAULT_START_TIMEOUT = 300  # kernel start on a busy 2-core CI box can exceed papermill's 60 s

# Any reference that would make a browser leave the machine (src=, href=, url(...), @import).
_EXTERNAL_REF = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", re.I
)


class RenderError(RuntimeError):
    """A report notebook failed while executing; the message names the saved notebook."""


def check_kernel(kernel_name: str) -> None:
    """Fail early with a clear message if the Jupyter kernel is not registered."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel as exc:
        raise UserError(
            f"params.yaml reports.kernel: Jupyter kernel '{kernel_name}' is not installed; "
            f"run `make kernel` (python -m ipykernel install --sys-prefix --name {kernel_name})"
        ) from exc


def execute(
    notebook: Path,
    parameters: dict[str, Any],
    kernel_name: str,
    cwd: Path,
    failed_copy: Path,
    start_timeout: int = DEFAULT_START_TIMEOUT,
) -> nbformat.NotebookNode:
    """Run `notebook` with papermill in a kernel of its own (papermill starts and stops it) and
    return the executed notebook (not written anywhere). The reference a shared `Kernel` is
    held to (same HTML) and the "one kernel per page" baseline of benchmarks/bench_reports.py.

    Parameters go through papermill's Python API as typed values, so a string id such as
    "01" stays a string (the CLI's `-p` would turn it into the integer 1). On failure the
    executed notebook, with its traceback, is saved to `failed_copy`.

    Single-threaded use only: papermill `os.chdir()`s the whole process into `cwd` for the
    whole execution, so another thread's relative paths would resolve there meanwhile
    (`render_pages` runs its workers on `Kernel`s with absolute paths instead).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError
    from traitlets.config import Config

    failed_copy.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Kernels talk over IPC sockets in a private directory, not TCP ports: with TCP,
        # jupyter_client picks "free" ports that a kernel started at the same moment by another
        # render worker can take first ("ZMQError: Address already in use", seen in make report).
        with tempfile.TemporaryDirectory(prefix="churnlab-kernel-") as sockets:
            ipc = Config({"KernelManager": {"transport": "ipc", "ip": f"{sockets}/k"}})
            nb = papermill.execute_notebook(
                str(notebook),
                str(failed_copy),
                parameters=parameters,
                kernel_name=kernel_name,
                language="python",
                progress_bar=False,
                start_timeout=start_timeout,
                cwd=str(cwd),
                config=ipc,
            )
    except PapermillExecutionError as exc:
        raise RenderError(
            f"{notebook}: cell {exc.exec_count} raised {exc.ename}: {exc.evalue} "
            f"(executed notebook saved to {failed_copy})"
        ) from exc
    failed_copy.unlink(missing_ok=True)
    return nb


def normalize(nb: nbformat.NotebookNode, title: str) -> nbformat.NotebookNode:
    """Drop every run-dependent field so equal inputs give byte-identical output."""
    nb = copy.deepcopy(nb)
    nb.metadata = nbformat.from_dict(
        {
            "kernelspec": dict(nb.metadata.get("kernelspec", {})),
            "language_info": {"name": "python"},
            "title": title,
        }
    )
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"  # nbformat ids are random; papermill adds its own
        tags = cell.get("metadata", {}).get("tags", [])
        cell["metadata"] = nbformat.from_dict({"tags": list(tags)} if tags else {})
        if cell["cell_type"] != "code":
            continue
        cell["execution_count"] = None
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("metadata", {}).get("churnlab_report_css"):
                continue  # notebook.show_report_css: the page's <head> has the stylesheet
            if out.get("output_type") == "execute_result":
                out["execution_count"] = None
            outputs.append(out)
        cell["outputs"] = outputs
    return nb


def stderr_text(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook wrote to stderr (warnings), for the stage's console."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                parts.append(out.get("text", ""))
    return "".join(parts)


def without_stderr(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Stakeholders should not read Python warnings; the stage echoes them to the console."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell["cell_type"] == "code":
            cell["outputs"] = [
                o
                for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    return nb


def error_outputs(nb: nbformat.NotebookNode) -> list[str]:
    """`ename: evalue` of every error output (should be empty for a published report)."""
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def to_html(nb: nbformat.NotebookNode, language: str) -> str:
    """Export with no input cells, no prompts, images inline (data: URIs), and nothing fetched."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=False,  # plots are already inline PNG outputs; True re-parses the page with bs4 (slow)
        language_code=language,
    )
    body, _ = exporter.from_notebook_node(
        nb, resources={"metadata": {"name": nb.metadata["title"]}}
    )
    body = "\n".join(line.rstrip() for line in body.splitlines()) + "\n"
    body = embed_cjk_font(body)  # Japanese text stays readable where no CJK font is installed
    refs = external_references(body)
    if refs:
        raise RenderError(
            f"report '{nb.metadata['title']}' would fetch from the network: {refs[:3]}"
        )
    return body


def external_references(html: str) -> list[str]:
    """Snippets around every src/href/url/@import that points off the machine."""
    return [html[max(m.start() - 20, 0) : m.end() + 40] for m in _EXTERNAL_REF.finditer(html)]


def render_notebook(
    notebook: Path,
    parameters: dict[str, Any],
    *,
    title: str,
    language: str,
    kernel_name: str,
    cwd: Path,
    html_path: Path,
    failed_dir: Path,
    start_timeout: int = DEFAULT_START_TIMEOUT,
    kernel: Kernel | None = None,
) -> str:
    """Execute one report notebook and write its HTML; returns the notebook's stderr text.

    kernel: a running `Kernel` to execute on (many pages, one kernel start); None starts a
    kernel for this page alone (in `cwd`) and shuts it down afterwards.
    """
    failed_copy = failed_dir / f"{html_path.stem}.ipynb"
    if kernel is None:
        with Kernel(kernel_name, cwd, start_timeout) as own:
            executed = own.execute(notebook, parameters, failed_copy)
    else:
        executed = kernel.execute(notebook, parameters, failed_copy)
    clean = normalize(executed, title)
    errors = error_outputs(clean)
    if errors:
        raise RenderError(f"{notebook}: error outputs {errors}")
    html = to_html(without_stderr(clean), language)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(html, encoding="utf-8")
    return stderr_text(clean)


# --- many pages in one kernel -----------------------------------------------------------------

SHARED_ENGINE = "churnlab-shared-kernel"
# Run silently in a new kernel before its first page: import what every report notebook imports
# (a page's own import cell is then a no-op) and hold the matplotlib style and the warning
# filters as they are right after those imports, so each page can start from exactly there.
_KERNEL_PREPARE = """
def _churnlab_prepare():
    import contextlib, importlib, os, sys, types, warnings
    for name in {preload!r}:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    state = types.ModuleType("_churnlab_render_state")
    state.cwd = os.getcwd()
    state.environ = dict(os.environ)
    state.held = contextlib.ExitStack()
    state.held.enter_context(warnings.catch_warnings())
    if "matplotlib" in sys.modules:
        state.held.enter_context(sys.modules["matplotlib"].rc_context())
    sys.modules[state.__name__] = state
_churnlab_prepare()
del _churnlab_prepare
"""
# Run silently between two pages: what the previous page left behind goes, as if the next page
# ran in a new kernel (imported modules, and the inputs `loaders.load` memoised, stay).
_KERNEL_RESET = """
def _churnlab_reset():
    import contextlib, os, sys, warnings
    state = sys.modules["_churnlab_render_state"]
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    state.held.close()  # warning filters (and their once-registries) and rcParams as prepared
    state.held = contextlib.ExitStack()
    state.held.enter_context(warnings.catch_warnings())
    if "matplotlib" in sys.modules:
        state.held.enter_context(sys.modules["matplotlib"].rc_context())
    if os.getcwd() != state.cwd:
        os.chdir(state.cwd)
    if dict(os.environ) != state.environ:
        os.environ.clear()
        os.environ.update(state.environ)
    get_ipython().reset(new_session=True)  # user namespace, Out/_ caches, execution count 1
_churnlab_reset()
"""
# Imported before the first page (see _KERNEL_PREPARE); a missing one is simply skipped.
PRELOAD = ("churnlab.reports.notebook", "churnlab.reports.pages", "churnlab.reports.catalog")
_ENGINE_LOCK = threading.Lock()


def _shared_kernel_engine() -> str:
    """Register (once) the papermill engine that executes on an already running `Kernel`.

    It is papermill's own nbclient engine (same parameter injection, cell bookkeeping and
    error handling), except that the notebook client is handed our kernel manager and our
    client: nbclient then neither starts nor shuts down a kernel.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    class SharedKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man,
            kernel_name,
            log_output=False,
            stdout_file=None,
            stderr_file=None,
            start_timeout=60,
            execution_timeout=None,
            churnlab_kernel=None,
            **kwargs,
        ):
            client = PapermillNotebookClient(
                nb_man,
                km=churnlab_kernel.km,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logging.getLogger("papermill"),
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            client.kc = churnlab_kernel.kc  # nbclient keeps a client it did not create
            return client.execute()

    from papermill.exceptions import PapermillException

    with _ENGINE_LOCK:
        try:
            papermill_engines.get_engine(SHARED_ENGINE)
        except PapermillException:
            papermill_engines.register(SHARED_ENGINE, SharedKernelEngine)
    return SHARED_ENGINE


class Kernel:
    """One Jupyter kernel that executes report notebooks one after another.

    Starting a kernel and importing pandas/matplotlib/churnlab costs seconds of CPU; a page
    itself costs far less. A `Kernel` is started once (IPC sockets in a private directory,
    in-memory IPython history, working directory `cwd`: as papermill starts one), runs
    `PRELOAD` and then any number of pages; before every page but the first it clears what the
    previous page left (user namespace, open figures, rcParams, warning filters, working
    directory, environment), so each page's HTML is byte-identical to rendering it in a kernel
    of its own (tests/reports/test_reports_render_batch.py checks that).

    Shutdown is ordered so that nothing is left to print a traceback after a good render: the
    client's channels close first, then the kernel is asked to shut down over the control
    channel (no SIGINT first, unlike `KernelManager.shutdown_kernel`, whose interrupt lands in
    the kernel's last handler and logs "KeyboardInterrupt caught in kernel"), is waited for,
    and only then are the manager's sockets and zmq context destroyed and the client's
    context (rather than at garbage collection, possibly at interpreter exit). Use as a
    context manager.
    """

    def __init__(self, kernel_name: str, cwd: Path, start_timeout: int = DEFAULT_START_TIMEOUT):
        self.kernel_name = kernel_name
        self.cwd = Path(cwd)
        self.start_timeout = start_timeout
        self.km = None
        self.kc = None
        self.pages = 0
        self._sockets: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> Kernel:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync
        from traitlets.config import Config

        # IPC sockets, not TCP ports: two workers starting kernels at the same moment could be
        # handed the same "free" port ("ZMQError: Address already in use").
        self._sockets = tempfile.TemporaryDirectory(prefix="churnlab-kernel-")
        ipc = Config({"KernelManager": {"transport": "ipc", "ip": f"{self._sockets.name}/k"}})
        self.km = AsyncKernelManager(kernel_name=self.kernel_name, config=ipc)
        try:
            run_sync(self.km.start_kernel)(
                extra_arguments=["--HistoryManager.hist_file=:memory:"], cwd=str(self.cwd)
            )
            self.kc = self.km.client()
            self.kc.start_channels()
            run_sync(self.kc.wait_for_ready)(timeout=self.start_timeout)
            self.kc.allow_stdin = False
            self._run_silently(_KERNEL_PREPARE.format(preload=PRELOAD), "prepare")
        except BaseException:
            self.close()
            raise

    def _run_silently(self, code: str, what: str) -> None:
        from jupyter_core.utils import run_sync

        reply = run_sync(self.kc.execute_interactive)(
            code,
            silent=True,
            store_history=False,
            timeout=self.start_timeout,
            output_hook=lambda msg: None,
        )
        content = reply["content"]
        if content.get("status") != "ok":
            raise RenderError(
                f"kernel '{self.kernel_name}': {what} step failed: "
                f"{content.get('ename')}: {content.get('evalue')}"
            )

    def execute(
        self, notebook: Path, parameters: dict[str, Any], failed_copy: Path
    ) -> nbformat.NotebookNode:
        """Run `notebook` with papermill on this kernel; see `execute` for the contract."""
        import papermill
        from papermill.exceptions import PapermillExecutionError

        if self.kc is None:
            raise RuntimeError("Kernel.execute before start()")
        if self.pages:
            self._run_silently(_KERNEL_RESET, "reset between pages")
        self.pages += 1
        failed_copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            nb = papermill.execute_notebook(
                str(notebook),
                str(failed_copy),
                parameters=parameters,
                engine_name=_shared_kernel_engine(),
                kernel_name=self.kernel_name,
                language="python",
                progress_bar=False,
                request_save_on_cell_execute=False,  # written once, at the end
                start_timeout=self.start_timeout,
                churnlab_kernel=self,
            )
        except PapermillExecutionError as exc:
            raise RenderError(
                f"{notebook}: cell {exc.exec_count} raised {exc.ename}: {exc.evalue} "
                f"(executed notebook saved to {failed_copy})"
            ) from exc
        failed_copy.unlink(missing_ok=True)
        return nb

    def close(self) -> None:
        """Shut the kernel down in an order that leaves no socket to a late callback."""
        from jupyter_core.utils import run_sync

        kc, km, self.kc, self.km = self.kc, self.km, None, None
        try:
            if kc is not None:
                kc.stop_channels()
            if km is not None and km.has_kernel:
                run_sync(km.request_shutdown)()
                run_sync(km.finish_shutdown)()  # waits, then kills a kernel that hangs
            if km is not None:
                run_sync(km.cleanup_resources)()  # connection file, control socket, context
            if kc is not None and not kc.context.closed:  # the client's own context
                kc.context.destroy(linger=0)
        finally:
            if self._sockets is not None:
                self._sockets.cleanup()
                self._sockets = None


@dataclass(frozen=True)
class Page:
    """One report page to render: a notebook, its parameters and where its HTML goes."""

    notebook: Path
    parameters: dict[str, Any]
    title: str
    language: str
    html_path: Path


def render_pages(
    pages: list[Page],
    *,
    kernel_name: str,
    cwd: Path,
    failed_dir: Path,
    workers: int = 2,
    pages_per_kernel: int | None = None,
    start_timeout: int = DEFAULT_START_TIMEOUT,
    desc: str = "reports",
) -> list[str]:
    """Render `pages` with `workers` kernels; returns each page's stderr text, in page order.

    Each worker (a thread: the notebooks run in the kernels, which are processes) starts one
    `Kernel` and takes the next page from a shared queue until none is left, so the kernel
    start and imports are paid once per worker, not once per page. `pages_per_kernel` (None
    or 0: no limit) starts a fresh kernel after that many pages (1 = one kernel per page, as
    before). The first failure stops the other workers after their current page and is
    raised. A progress bar (churnlab.progress) counts pages on a terminal.
    """
    from churnlab.progress import progress

    # Every path absolute before the worker threads start. papermill's local file handler
    # os.chdir()s the whole process around each notebook it reads or writes, into a working
    # directory kept in a global that concurrent execute_notebook calls set and restore out
    # of order; a relative path used meanwhile by another render thread then lands in (or is
    # read from) another folder. Seen in CI: a group page written to the repository root
    # instead of the project, and a re-rendered page that differed.
    cwd = Path(cwd).resolve()
    failed_dir = cwd / failed_dir
    pages = [replace(p, notebook=cwd / p.notebook, html_path=cwd / p.html_path) for p in pages]
    todo: queue.SimpleQueue[tuple[int, Page]] = queue.SimpleQueue()
    for item in enumerate(pages):
        todo.put(item)
    results: list[str] = [""] * len(pages)
    stop = threading.Event()
    limit = int(pages_per_kernel or 0)

    def worker(bar) -> None:
        kernel: Kernel | None = None
        try:
            while not stop.is_set():
                try:
                    i, page = todo.get_nowait()
                except queue.Empty:
                    return
                if kernel is not None and limit and kernel.pages >= limit:
                    kernel.close()
                    kernel = None
                if kernel is None:
                    kernel = Kernel(kernel_name, cwd, start_timeout)
                    kernel.start()
                results[i] = render_notebook(
                    page.notebook,
                    page.parameters,
                    title=page.title,
                    language=page.language,
                    kernel_name=kernel_name,
                    cwd=cwd,
                    html_path=page.html_path,
                    failed_dir=failed_dir,
                    start_timeout=start_timeout,
                    kernel=kernel,
                )
                bar.update(1)
        except BaseException:
            stop.set()
            raise
        finally:
            if kernel is not None:
                kernel.close()

    n_workers = max(1, min(int(workers), len(pages)))
    with progress(total=len(pages), desc=desc, unit="page") as bar:
        with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="render") as pool:
            futures = [pool.submit(worker, bar) for _ in range(n_workers)]
            try:
                wait(futures)
            except BaseException:  # Ctrl-C: let the workers stop after their current page
                stop.set()
                raise
    for future in futures:
        if future.exception() is not None:
            raise future.exception()
    return results
