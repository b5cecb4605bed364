"""The project's cached inputs, loaded once per notebook session for the exploration bench.

The bench reads exactly what `churnlab hypotheses` reads (params.yaml's `hypotheses` section,
data/processed/panel.parquet and panel_meta.json, the CSM assignments) through the stage's own
functions, so a hypothesis tried here is analysed as the stage would analyse it. Paths are
resolved against the project root (`churnlab.project`), so a notebook in `notebooks/` and a
papermill run from the root read the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from churnlab.config import load_params
from churnlab.errors import UserError
from churnlab.hypotheses.analysis import Settings
from churnlab.hypotheses.lamp_alerts import csm_per_row
from churnlab.hypotheses.spec import KnownIndicators
from churnlab.hypotheses.stage import (
    known_indicators,
    read_panel,
    settings_from_params,
    testable_from_meta,
)
from churnlab.io import read_json
from churnlab.project import project_root, require_input, resolve

# Settings that must be the same in models/hypotheses.json and params.yaml for the family's
# q-values to be the ones `dvc repro hypotheses` would compute with a new hypothesis added.
FAMILY_SETTINGS = (
    "lags", "adjust_for", "horizon_weeks", "min_actionable_lead_weeks", "fdr_alpha",
    "min_effect_hr", "rule_out_hr", "min_events", "min_accounts", "min_state_events",
    "seed", "n_panel_rows", "n_panel_events",
)  # fmt: skip


@dataclass
class Workspace:
    """Everything the bench needs, read once (the panel of the default company takes ~1.5 s).

    Attributes:
        root: the project directory.
        params: params.yaml as a dict.
        settings: the hypotheses stage's Settings (`stage.settings_from_params`).
        panel: the panel as the stage reads it (sorted, validated), with `csm_id` per row
            when data/interim/csm_assignments.parquet exists.
        meta: panel_meta.json.
        known: the indicator ids a hypothesis may name (built-in and user-defined).
        testable: indicator id -> None if testable, else the reason (panel meta).
    """

    root: Path
    params: dict[str, Any]
    settings: Settings
    panel: pd.DataFrame
    meta: dict
    known: KnownIndicators
    testable: dict[str, str | None]
    _family: dict | None = field(default=None, repr=False)

    def path(self, key: str, *parts: str) -> Path:
        """A path under a `base` directory of params.yaml, resolved against the root."""
        return resolve(Path(self.params["base"][key], *parts), self.root)

    @property
    def hypotheses_file(self) -> Path:
        """hypotheses.yaml (params.yaml `hypotheses.file`), resolved against the root."""
        name = (self.params.get("hypotheses") or {}).get("file", "hypotheses.yaml")
        return resolve(name, self.root)

    @property
    def vocabulary_billing(self) -> dict | None:
        return (self.params.get("vocabulary") or {}).get("billing_period")

    def family(self) -> dict:
        """models/hypotheses.json, checked to belong to this panel and these settings.

        Raises:
            MissingInputError: the file is missing (names `dvc repro hypotheses`).
            UserError: it was computed on another panel or with other hypotheses settings
                (its q-values would not be the stage's), naming the first difference.
        """
        if self._family is None:
            path = require_input(self.path("models_dir", "hypotheses.json"), "hypotheses")
            data = read_json(path)
            stored = data.get("settings") or {}
            now = {
                k: getattr(self.settings, k) for k in FAMILY_SETTINGS if hasattr(self.settings, k)
            }
            now.update(n_panel_rows=len(self.panel), n_panel_events=int(self.panel["event"].sum()))
            for key in FAMILY_SETTINGS:
                if key in stored and stored[key] != now.get(key):
                    raise UserError(
                        f"{path}: made with {key} = {stored[key]!r}, but the project now has "
                        f"{now.get(key)!r} - its hypotheses are out of date; run "
                        "`dvc repro hypotheses` (or try the idea with family=False)"
                    )
            self._family = data
        return self._family


def open_workspace(root: str | Path | None = None) -> Workspace:
    """Load the project's panel, panel meta and hypotheses settings for the bench.

    Args:
        root: the project directory; default `churnlab.project.project_root()` (the
            CHURNLAB_PROJECT variable, else the nearest folder above the working directory
            holding params.yaml).

    Raises:
        MissingInputError: data/processed/panel.parquet or panel_meta.json is missing (names
            `dvc repro panel`).
        ConfigError / UserError: params.yaml's hypotheses section or the panel is invalid
            (the stage's own checks).
    """
    root = project_root() if root is None else Path(root).resolve()
    params = load_params(root / "params.yaml")
    settings = settings_from_params(params)
    processed = resolve(params["base"]["processed_dir"], root)
    panel_path = require_input(processed / "panel.parquet", "panel")
    meta = read_json(require_input(processed / "panel_meta.json", "panel"))
    panel = read_panel(panel_path, settings.adjust_for)
    csm_path = resolve(params["base"]["interim_dir"], root) / "csm_assignments.parquet"
    if "csm_id" not in panel.columns and csm_path.exists():
        # the stage does the same: lightings per CSM-week need the CSM in charge each week
        panel["csm_id"] = csm_per_row(panel, pd.read_parquet(csm_path))
    return Workspace(
        root=root,
        params=params,
        settings=settings,
        panel=panel,
        meta=meta,
        known=known_indicators(meta, params),
        testable=testable_from_meta(meta),
    )
