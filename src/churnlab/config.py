"""Loading `params.yaml` and resolving the paths it names.

Stage entry points call `load_params()` once and pass plain dicts/values down; analysis
functions never read params or files themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from churnlab.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read params.yaml (relative to the working directory, the DVC project root)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found (run churnlab from the project root)")
    with path.open(encoding="utf-8") as fh:
        params = yaml.safe_load(fh) or {}
    if not isinstance(params, dict) or "base" not in params:
        raise ConfigError(f"{path}: expected a mapping with a 'base' section")
    return params


def base_path(params: dict[str, Any], key: str) -> Path:
    """A directory from the `base` section, e.g. base_path(p, "raw_dir")."""
    try:
        return Path(params["base"][key])
    except KeyError as exc:
        raise ConfigError(f"params.yaml: base.{key} is missing") from exc


def metrics_path(stage: str) -> Path:
    """Where a stage writes its small DVC metrics JSON."""
    return Path("metrics") / f"{stage}.json"
