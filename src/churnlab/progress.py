"""Progress bars for long stages: a bar on a terminal, silence in CI logs and pipes.

A thin wrapper over tqdm so every stage shows progress the same way:

    from churnlab.progress import progress

    for hypothesis in progress(hypotheses, desc="hypotheses", unit="hypothesis"):
        ...

    with progress(total=len(pages), desc="reports", unit="page") as bar:
        ...              # from any thread
        bar.update(1)

A bar is drawn only when the stream it writes to (stderr by default) is a terminal and the
`CI` environment variable is unset (or "", "0", "false", "no"): `dvc repro` in a terminal
shows bars, CI logs, `make ... > log` and captured test output get nothing at all (no
carriage-return lines). Otherwise the returned object is a disabled tqdm: it iterates and
accepts `update()` / `set_postfix()` and prints nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import IO, Any

from tqdm import tqdm

_FALSE = ("", "0", "false", "no")


def enabled(stream: IO[str] | None = None) -> bool:
    """True when a bar should be drawn on `stream` (default stderr): a TTY outside CI."""
    if os.environ.get("CI", "").strip().lower() not in _FALSE:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress(
    iterable: Iterable | None = None,
    *,
    desc: str | None = None,
    total: float | None = None,
    unit: str = "it",
    leave: bool = True,
    file: IO[str] | None = None,
    **tqdm_kwargs: Any,
) -> tqdm:
    """A tqdm bar over `iterable` (or a manual one with `total`), shown only if `enabled`.

    Arguments are tqdm's (desc: label before the bar; total: expected count, taken from
    `len(iterable)` when omitted; unit: what one step is; leave: keep the finished bar on the
    screen). Returns the tqdm object: iterate it, or use it as a context manager and call
    `update(n)` (thread-safe).
    """
    stream = sys.stderr if file is None else file
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        leave=leave,
        file=stream,
        disable=not enabled(stream),
        dynamic_ncols=True,
        **tqdm_kwargs,
    )
