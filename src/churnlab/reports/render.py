"""Notebook -> executed notebook -> self-contained HTML, deterministically and offline.

papermill runs a report notebook with explicit parameters on a named kernel; we then strip
everything that changes from run to run (timestamps, durations, papermill metadata, random
cell ids, execution counts) and export with our own nbconvert template, which has no
<script> and fetches nothing (nbconvert's lab template pulls require.js/MathJax from a CDN).
"""

from __future__ import annotations

import copy
import re
import tempfile
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
    """Run `notebook` with papermill and return the executed notebook (not written anywhere).

    Parameters go through papermill's Python API as typed values, so a string id such as
    "01" stays a string (the CLI's `-p` would turn it into the integer 1). On failure the
    executed notebook, with its traceback, is saved to `failed_copy`.
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
) -> str:
    """Execute one report notebook and write its HTML; returns the notebook's stderr text."""
    executed = execute(
        notebook,
        parameters,
        kernel_name,
        cwd,
        failed_dir / f"{html_path.stem}.ipynb",
        start_timeout=start_timeout,
    )
    clean = normalize(executed, title)
    errors = error_outputs(clean)
    if errors:
        raise RenderError(f"{notebook}: error outputs {errors}")
    html = to_html(without_stderr(clean), language)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(html, encoding="utf-8")
    return stderr_text(clean)
