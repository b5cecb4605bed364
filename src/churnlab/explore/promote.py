"""Promote an idea from the bench to hypotheses.yaml, so `dvc repro` tests it.

The entry is validated exactly as the hypotheses stage validates the file, and appended as
text: the rest of the file (its comments, its order, its quoting) is left byte for byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from churnlab.errors import ConfigError
from churnlab.explore.bench import BENCH_FIELDS, idea_dict, parse_idea
from churnlab.explore.workspace import Workspace, open_workspace
from churnlab.hypotheses.spec import FIELDS, parse_hypotheses


def yaml_entry(idea: str | dict[str, Any], ws: Workspace | None = None) -> str:
    """The idea as a hypotheses.yaml list item (two-space indent, fields in the file's
    order, `threshold: suggest` kept as written), ready to paste under `hypotheses:`.

    Bench-only fields (`lags`) are left out: the stage tests every hypothesis at
    params.yaml's hypotheses.lags.

    Raises:
        ConfigError: the idea is invalid (unknown indicator, missing field, ...), or its id
            is already in the hypotheses file.
    """
    ws = ws if ws is not None else open_workspace()
    parse_idea(idea, ws)  # the stage's validation, with the panel's indicators
    raw = idea_dict(idea)
    taken = _ids(ws.hypotheses_file)
    if str(raw["id"]) in taken:
        raise ConfigError(
            f"{ws.hypotheses_file}: hypothesis '{raw['id']}', field 'id': already in the file "
            "(pick another id, or edit that entry there)"
        )
    entry = {k: raw[k] for k in FIELDS if k in raw and k not in BENCH_FIELDS}
    text = yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, width=100)
    return "".join(f"  {line}" if line.strip() else line for line in text.splitlines(True))


def append_to_hypotheses(idea: str | dict[str, Any], ws: Workspace | None = None) -> Path:
    """Append the idea's entry to the hypotheses file (params.yaml `hypotheses.file`) and
    return its path. The file with the entry is parsed and validated before anything is
    written, and the entry must land as the last item of `hypotheses:`.

    Raises:
        ConfigError: the idea is invalid or its id is taken (see `yaml_entry`), the file is
            missing, or appending text would not add it to the `hypotheses:` list (another
            top-level key follows the list: paste `yaml_entry(...)` by hand).
    """
    ws = ws if ws is not None else open_workspace()
    path = ws.hypotheses_file
    if not path.exists():
        raise ConfigError(f"{path}: hypotheses file not found (params.yaml hypotheses.file)")
    entry = yaml_entry(idea, ws)
    old = path.read_text(encoding="utf-8")
    new = old + ("" if old.endswith("\n") or not old else "\n") + "\n" + entry
    hid = str(idea_dict(idea)["id"])
    cannot = ConfigError(
        f"{path}: cannot append '{hid}': the file does not end with the 'hypotheses:' list; "
        "paste the entry from yaml_entry() into the list by hand"
    )
    try:
        raw = yaml.safe_load(new)
    except yaml.YAMLError as exc:
        raise cannot from exc
    items = raw.get("hypotheses") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items or str(items[-1].get("id")) != hid:
        raise cannot
    parse_hypotheses(raw, str(path), ws.known)  # the whole file still passes the stage
    path.write_text(new, encoding="utf-8")
    return path


def _ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = raw.get("hypotheses") if isinstance(raw, dict) else raw
    return {str(h.get("id")) for h in items or [] if isinstance(h, dict)}
