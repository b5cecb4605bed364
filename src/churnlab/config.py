"""Loading `params.yaml` and resolving the paths it names.

Stage entry points call `load_params()` once and pass plain dicts/values down; analysis
functions never read params or files themselves.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from churnlab.errors import ConfigError, ConfigWarning
from churnlab.schema import read_yaml, validate_params

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read params.yaml (relative to the working directory, the DVC project root) and
    validate every section and key once (schema: `churnlab.schema.params`).

    Returns the file's content as plain dicts, exactly as written (no defaults filled in:
    each stage applies its own). Unknown keys and sections are issued as `ConfigWarning`s,
    one line each.

    Raises:
        ConfigError: the file is missing, not UTF-8, not valid YAML, or has any invalid
            value; the message holds every problem, one line each (key path, value, what
            was expected).
    """
    path = Path(path)
    raw = read_yaml(path, "run churnlab from the project root")
    problems = validate_params(raw, str(path))
    for line in problems.warnings:
        warnings.warn(line, ConfigWarning, stacklevel=2)
    if problems.errors:
        raise ConfigError("\n".join(problems.errors))
    return raw


def base_path(params: dict[str, Any], key: str) -> Path:
    """A directory from the `base` section, e.g. base_path(p, "raw_dir")."""
    try:
        return Path(params["base"][key])
    except KeyError as exc:
        raise ConfigError(f"params.yaml: base.{key} is missing") from exc


def metrics_path(stage: str) -> Path:
    """Where a stage writes its small DVC metrics JSON."""
    return Path("metrics") / f"{stage}.json"
