"""Where the churnlab project is, and what a missing input means.

Notebooks run with the working directory of the notebook (`notebooks/` in JupyterLab) or of
the caller (the project root under papermill / `dvc repro`). Both must read the same files, so
paths are resolved against the project root found here, never against `Path(__file__)`
(which does not exist in a kernel) nor the bare working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from churnlab.errors import UserError

PROJECT_ENV = "CHURNLAB_PROJECT"
# params.yaml marks the project (every churnlab command reads it from there); dvc.yaml is not
# required: stages may be run by hand (`churnlab panel`) in a folder DVC does not manage.
MARKERS = ("params.yaml",)


class MissingInputError(UserError):
    """A file a notebook or stage reads does not exist; the message names the stage making it."""


def project_root(start: str | Path | None = None) -> Path:
    """The churnlab project directory.

    Order: the `CHURNLAB_PROJECT` environment variable if set; else the nearest directory,
    from `start` (default: the working directory) upward, holding `params.yaml`.

    Raises:
        UserError: the variable names a directory without those files, or no such
            directory exists above `start`.
    """
    env = os.environ.get(PROJECT_ENV)
    if env:
        root = Path(env).expanduser().resolve()
        if not all((root / m).is_file() for m in MARKERS):
            raise UserError(f"{PROJECT_ENV}={env}: no params.yaml there")
        return root
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / m).is_file() for m in MARKERS):
            return folder
    raise UserError(
        f"{here}: not inside a churnlab project (no folder above it holds params.yaml); "
        f"open the notebook from the project, or set {PROJECT_ENV}"
    )


def resolve(path: str | Path, root: str | Path | None = None) -> Path:
    """`path` as given if absolute, else relative to the project root."""
    path = Path(path)
    if path.is_absolute():
        return path
    return Path(root if root is not None else project_root()) / path


def require_input(path: str | Path, stage: str) -> Path:
    """Return `path` if it exists, else raise a one-line error naming the stage that makes it.

    Args:
        path: an input file or directory (already resolved).
        stage: the dvc.yaml stage that writes it, e.g. "hypotheses".

    Raises:
        MissingInputError: "<path>: missing — it is written by the '<stage>' stage; run
            `dvc repro <stage>`".
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError(
            f"{path}: missing - it is written by the '{stage}' stage; run `dvc repro {stage}`"
        )
    return path
