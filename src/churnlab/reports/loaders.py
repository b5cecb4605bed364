"""Reading the report inputs (CONTRACTS.md §2–§4) into one `ReportData` bundle.

Reports read only these JSON / Parquet / CSV files, never other notebooks or HTML. Two kinds
of input, kept apart on purpose (see `REQUIRED` / `OPTIONAL`):

- a REQUIRED input is written by a stage every run (kpis.json, hypotheses.json, ...). If it
  is missing the stage has not run: `load` raises `MissingInputError` naming the file and
  the stage (`dvc repro hypotheses`), so a page never says "none" about data it never read;
- an OPTIONAL input is one a company may lack (quarantined rows, an older run's opportunity
  list, the kpis stage's curve tables): absent, it loads as an empty frame / dict and the
  page says "not available" for that section.
"""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from churnlab.io import read_json
from churnlab.project import project_root, require_input, resolve

PANEL_COLUMNS = [
    "account_id",
    "spell",
    "week_start",
    "stop",
    "event",
    "segment",
    "customer_goal",
    "billing_period",
    "plan",
    "mrr",
]
GROUP_COLUMNS = ("segment", "customer_goal")


@dataclass(frozen=True)
class Paths:
    """Every input file of the reports, derived from the base directories."""

    models_dir: Path
    processed_dir: Path
    interim_dir: Path
    reports_dir: Path
    metrics_dir: Path = Path("metrics")

    @classmethod
    def from_dirs(
        cls, models_dir, processed_dir, interim_dir, reports_dir, metrics_dir="metrics"
    ) -> Paths:
        return cls(
            Path(models_dir),
            Path(processed_dir),
            Path(interim_dir),
            Path(reports_dir),
            Path(metrics_dir),
        )

    @classmethod
    def in_project(
        cls,
        models_dir,
        processed_dir,
        interim_dir,
        reports_dir,
        metrics_dir="metrics",
        root: str | Path | None = None,
    ) -> Paths:
        """The same paths, relative ones resolved against the project root (found upward
        from the working directory by `project.project_root` unless `root` is given), so a
        notebook opened in `notebooks/` reads the same files as one run from the root."""
        base = Path(root) if root is not None else project_root()
        dirs = (models_dir, processed_dir, interim_dir, reports_dir, metrics_dir)
        return cls(*(resolve(d, base) for d in dirs))

    @property
    def kpis(self) -> Path:
        return self.models_dir / "kpis.json"

    @property
    def hypotheses(self) -> Path:
        return self.models_dir / "hypotheses.json"

    @property
    def health(self) -> Path:
        return self.models_dir / "health_score.json"

    @property
    def kpi_tables(self) -> Path:
        return self.processed_dir / "kpi_tables"

    @property
    def hypothesis_tables(self) -> Path:
        return self.processed_dir / "hypothesis_tables"

    @property
    def health_scores(self) -> Path:
        return self.processed_dir / "health_scores.parquet"

    @property
    def panel(self) -> Path:
        return self.processed_dir / "panel.parquet"

    @property
    def panel_meta(self) -> Path:
        return self.processed_dir / "panel_meta.json"

    @property
    def action_list(self) -> Path:
        return self.reports_dir / "action_list.csv"

    @property
    def opportunity_list(self) -> Path:
        return self.reports_dir / "opportunity_list.csv"

    @property
    def tables_json(self) -> Path:
        return self.interim_dir / "tables.json"

    @property
    def quarantine_dir(self) -> Path:
        return self.interim_dir / "quarantine"

    @property
    def ingest_metrics(self) -> Path:
        return self.metrics_dir / "ingest.json"


def json_or_empty(path: Path) -> dict:
    return read_json(path) if path.exists() else {}


def parquet_or_empty(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet file or folder; only the requested columns that exist."""
    if not path.exists():
        return pd.DataFrame(columns=columns or [])
    if columns is not None:
        import pyarrow.parquet as pq

        names = set(pq.read_schema(path).names) if path.is_file() else None
        if names is not None:
            columns = [c for c in columns if c in names]
    return pd.read_parquet(path, columns=columns)


def csv_or_empty(path: Path) -> pd.DataFrame:
    # ids stay strings ("007" must not become 7); empty file -> empty frame
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def table_dir(path: Path) -> dict[str, pd.DataFrame]:
    """All `<name>.parquet` files of a folder, keyed by name (sorted)."""
    if not path.is_dir():
        return {}
    return {p.stem: pd.read_parquet(p) for p in sorted(path.glob("*.parquet"))}


def quarantine_rows(path: Path) -> pd.DataFrame:
    """All quarantined rows of every table, as strings (missing = <NA>), with `_table`."""
    parts = []
    for table, df in table_dir(path).items():
        parts.append(df.astype("string").assign(_table=table))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@dataclass
class ReportData:
    """Everything a report may show, loaded once per notebook."""

    kpis: dict = field(default_factory=dict)
    hypotheses: dict = field(default_factory=dict)
    health: dict = field(default_factory=dict)
    panel_meta: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    kpi_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    hypothesis_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    panel: pd.DataFrame = field(default_factory=pd.DataFrame)
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    actions: pd.DataFrame = field(default_factory=pd.DataFrame)
    opportunities: pd.DataFrame = field(default_factory=pd.DataFrame)
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    # {dimension: {meaning: the user's label}} for labels churnlab maps to a meaning
    # (params.yaml vocabulary: billing_period, role, event_type, ...); see `display_labels`
    labels: dict = field(default_factory=dict)


# Which inputs each part needs, as (Paths attribute, stage that writes it). A report loads the
# union of its parts (catalog.PARTS). Stage names are those of dvc.yaml.
REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "kpis": (("kpis", "kpis"),),
    "hypotheses": (("hypotheses", "hypotheses"), ("panel_meta", "panel")),
    "health": (("health", "health_score"), ("health_scores", "health_score")),
    "actions": (("action_list", "health_score"),),
    "panel": (("panel", "panel"), ("panel_meta", "panel")),
    "quality": (("tables_json", "ingest"),),
}
# Inputs a company may lack; absent, the section says "not available".
OPTIONAL: dict[str, tuple[str, ...]] = {
    "always": ("panel_meta", "tables_json", "ingest_metrics"),  # as-of date and warnings
    "kpis": ("kpi_tables",),  # older kpis runs: retention from the panel instead
    "hypotheses": ("hypothesis_tables",),  # no curves for a snapshot company
    "actions": ("opportunity_list",),  # runs before opportunities existed
    "quality": ("quarantine_dir",),  # nothing quarantined
}


def required_inputs(paths: Paths, parts: set[str]) -> dict[Path, str]:
    """{input file: stage that writes it} for every required input of `parts`."""
    out: dict[Path, str] = {}
    for part in sorted(parts):
        for attr, stage in REQUIRED.get(part, ()):
            out.setdefault(getattr(paths, attr), stage)
    return out


def check_required(paths: Paths, parts: set[str]) -> None:
    """Raise `MissingInputError` ("<file>: missing - ... run `dvc repro <stage>`") for the
    first missing required input of `parts`. data/interim/tables.json may be replaced by
    metrics/ingest.json (an older ingest) for the data-quality report."""
    for path, stage in required_inputs(paths, parts).items():
        if path == paths.tables_json and paths.ingest_metrics.exists():
            continue
        require_input(path, stage)


def _stamp(path: Path) -> tuple:
    """What identifies the current content of a file or folder of files (mtime + size)."""
    if path.is_dir():
        return tuple(
            (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(path.glob("*"))
        )
    try:
        st = path.stat()
    except FileNotFoundError:
        return ()
    return (st.st_mtime_ns, st.st_size)


_CACHE: OrderedDict[tuple, ReportData] = OrderedDict()
CACHE_SIZE = 4  # reports of one project use a few part sets; the panel dominates memory


def _copy(data: ReportData) -> ReportData:
    """A copy a notebook may change freely without changing the cached inputs."""
    out = {}
    for f in fields(data):
        value = getattr(data, f.name)
        if isinstance(value, pd.DataFrame):
            out[f.name] = value.copy()
        elif isinstance(value, dict):
            out[f.name] = {
                k: v.copy() if isinstance(v, pd.DataFrame) else copy.deepcopy(v)
                for k, v in value.items()
            }
        else:
            out[f.name] = copy.deepcopy(value)
    return ReportData(**out)


def load(paths: Paths, parts: set[str], check: bool = True) -> ReportData:
    """Load the inputs named in `parts` (each report needs only some of them).

    Raises `MissingInputError` naming the file and its stage when a required input of
    `parts` is missing (`check=False` skips that, for callers that checked already).
    Repeated calls in one process with the same resolved paths, parts and unchanged files
    (mtime and size) return a copy of the first result without reading again, so one kernel
    can render many pages cheaply.
    """
    if check:
        check_required(paths, parts)
    files = {
        attr
        for part in ("always", *sorted(parts))
        for attr in OPTIONAL.get(part, ()) + tuple(a for a, _ in REQUIRED.get(part, ()))
    }
    files |= {"opportunity_list"} if "actions" in parts else set()
    resolved = tuple(
        (attr, os.path.abspath(getattr(paths, attr)), _stamp(getattr(paths, attr)))
        for attr in sorted(files)
    )
    key = (tuple(sorted(parts)), resolved)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _copy(_CACHE[key])
    data = _read(paths, parts)
    _CACHE[key] = data
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return _copy(data)


def clear_cache() -> None:
    _CACHE.clear()


def _read(paths: Paths, parts: set[str]) -> ReportData:
    # tables.json is small and every report states its as-of date and warnings: always read
    data = ReportData(
        panel_meta=json_or_empty(paths.panel_meta),
        tables=json_or_empty(paths.tables_json) or json_or_empty(paths.ingest_metrics),
    )
    if "kpis" in parts:
        data.kpis = json_or_empty(paths.kpis)
        data.kpi_tables = table_dir(paths.kpi_tables)
    if "hypotheses" in parts:
        data.hypotheses = json_or_empty(paths.hypotheses)
        data.hypothesis_tables = table_dir(paths.hypothesis_tables)
    if "health" in parts:
        data.health = json_or_empty(paths.health)
        data.scores = parquet_or_empty(
            paths.health_scores, ["account_id", "week_start", "score", "band"]
        )
    if "actions" in parts:
        data.actions = csv_or_empty(paths.action_list)
        data.opportunities = csv_or_empty(paths.opportunity_list)
    if "panel" in parts:
        data.panel = parquet_or_empty(paths.panel, PANEL_COLUMNS)
    if "quality" in parts:
        data.quarantine = quarantine_rows(paths.quarantine_dir)
    return data


def as_of(data: ReportData) -> str:
    """The pipeline's one as-of date (YYYY-MM-DD), or "–" when no input states it.

    Sources in order: models/kpis.json, data/interim/tables.json (ingest decides it),
    panel_meta.json, models/health_score.json; they agree when the stages ran together.
    """
    for value in (
        data.kpis.get("as_of"),
        (data.kpis.get("headline") or {}).get("as_of"),
        data.tables.get("as_of"),
        data.panel_meta.get("as_of"),
        data.health.get("as_of"),
    ):
        if value:
            return str(value)[:10]
    return "–"


def as_of_source(data: ReportData) -> str | None:
    """How ingest chose the as-of date (tables.json "as_of_source"), if it says."""
    source = data.tables.get("as_of_source")
    return str(source) if source else None


def occurring_values(paths: Paths) -> dict[str, list[str]]:
    """The segment and customer-goal labels that occur in the panel, sorted.

    From panel_meta.json "attributes" when the panel stage wrote it, else the distinct
    non-null values of the panel's columns (an older panel).
    """
    meta = json_or_empty(paths.panel_meta)
    attrs = meta.get("attributes") if isinstance(meta.get("attributes"), dict) else {}
    out: dict[str, list[str]] = {}
    missing = [c for c in GROUP_COLUMNS if not isinstance(attrs.get(c), list)]
    panel = parquet_or_empty(paths.panel, missing) if missing else pd.DataFrame()
    for col in GROUP_COLUMNS:
        if col not in missing:
            values = attrs[col]
        elif col in panel:
            values = panel[col].dropna().astype(str).unique().tolist()
        else:
            values = []
        out[col] = sorted({str(v) for v in values if v is not None and str(v) != ""})
    return out


# Vocabulary kinds whose meanings churnlab names in its own texts (indicator labels, the
# action list's "why"): params.yaml `vocabulary:` beside billing_period.
WORD_KINDS = ("role", "event_type", "touchpoint_kind", "milestone", "ticket_category")


def display_labels(vocabulary: object) -> dict[str, dict[str, str]]:
    """{kind: {meaning: the user's label}} from params.yaml's `vocabulary` section, so pages
    speak the user's words where they mapped their own.

    billing_period: the user's label where exactly one label maps to a meaning
    (`monthly: [Monthly]`; it names a group in charts, so several labels, or none, leave
    churnlab's word). The kinds of WORD_KINDS (role, event_type, ...): the user's labels
    joined by " / " (`key_person: [Champion, Owner]` -> "Champion / Owner"), for wording
    such as "Key-person activity change" (`i18n.own_words`). A label equal to its meaning
    (the defaults) is left out."""
    out: dict[str, dict[str, str]] = {}
    if not isinstance(vocabulary, dict):
        return out
    for kind in ("billing_period", *WORD_KINDS):
        section = vocabulary.get(kind)
        for meaning, labels in section.items() if isinstance(section, dict) else ():
            labels = [labels] if isinstance(labels, str) else labels
            if not isinstance(labels, list):
                continue
            labels = [str(v).strip() for v in labels if str(v).strip()]
            if not labels or (kind == "billing_period" and len(labels) != 1):
                continue
            text = " / ".join(labels)
            if text != str(meaning):
                out.setdefault(kind, {})[str(meaning)] = text
    return out


def project_labels(root: Path) -> dict[str, dict[str, str]]:
    """`display_labels` of the project's params.yaml (`root`/params.yaml); {} when it is
    missing or unreadable (the stages validate it; a report falls back to meanings)."""
    import yaml

    try:
        params = yaml.safe_load((Path(root) / "params.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return display_labels((params or {}).get("vocabulary") if isinstance(params, dict) else None)
