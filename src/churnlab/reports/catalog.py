"""Which reports exist, which notebook renders each, and the parameters it gets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from churnlab.config import base_path
from churnlab.errors import ConfigError
from churnlab.reports.i18n import check_language, t

CORE = ("executive_summary", "hypotheses", "data_quality", "action_list")
NOTEBOOKS = {
    "executive_summary": "executive_summary.ipynb",
    "hypotheses": "hypothesis_verdicts.ipynb",
    "data_quality": "data_quality.ipynb",
    "action_list": "action_list.ipynb",
    "segment": "cohort.ipynb",
    "customer_goal": "cohort.ipynb",
}
# Which inputs each kind of report loads (see loaders.load).
PARTS = {
    "executive_summary": {"kpis", "hypotheses", "health", "panel"},
    "hypotheses": {"hypotheses"},
    "data_quality": {"quality"},
    "action_list": {"health", "actions"},
    "segment": {"kpis", "health", "actions", "panel"},
    "customer_goal": {"kpis", "health", "actions", "panel"},
}


@dataclass(frozen=True)
class Report:
    kind: str
    value: str | None = None

    @property
    def key(self) -> str:
        """File stem, e.g. `segment_smb`; values are ids from params.yaml, kept verbatim."""
        return self.kind if self.value is None else f"{self.kind}_{self.value}"

    @property
    def html_name(self) -> str:
        return f"{self.key}.html"

    @property
    def notebook(self) -> str:
        return NOTEBOOKS[self.kind]

    def title(self, lang: str) -> str:
        return (
            t(lang, f"title.{self.kind}", value=self.value)
            if self.value is not None
            else t(lang, f"title.{self.kind}")
        )


def _safe_value(kind: str, value: Any) -> str:
    text = str(value)
    if not text or any(ch in text for ch in "/\\") or text.startswith("."):
        raise ConfigError(f"params.yaml reports.{kind}s: '{text}' cannot be used in a file name")
    return text


def settings(params: dict) -> dict[str, Any]:
    """The `reports` section with defaults, validated."""
    rep = dict(params.get("reports") or {})
    rep.setdefault("language", "en")
    rep.setdefault("kernel", "churnlab")
    rep.setdefault("segments", [])
    rep.setdefault("customer_goals", [])
    rep.setdefault("workers", 2)
    rep.setdefault("start_timeout", 300)
    check_language(rep["language"])
    for key in ("segments", "customer_goals"):
        if not isinstance(rep[key], list):
            raise ConfigError(f"params.yaml reports.{key}: expected a list, got {rep[key]!r}")
    return rep


def all_reports(params: dict) -> list[Report]:
    rep = settings(params)
    out = [Report(kind) for kind in CORE]
    out += [Report("segment", _safe_value("segment", v)) for v in rep["segments"]]
    out += [Report("customer_goal", _safe_value("customer_goal", v)) for v in rep["customer_goals"]]
    return out


def find(params: dict, key: str) -> Report:
    for report in all_reports(params):
        if report.key == key:
            return report
    raise ConfigError(
        f"params.yaml reports: no report '{key}' (known: {[r.key for r in all_reports(params)]})"
    )


def notebook_parameters(params: dict, report: Report) -> dict[str, Any]:
    """Everything the notebook's `parameters` cell receives (all strings: ids stay ids)."""
    rep = settings(params)
    return {
        "language": rep["language"],
        "title": report.title(rep["language"]),
        "dimension": report.kind if report.value is not None else "",
        "value": report.value or "",
        "models_dir": str(base_path(params, "models_dir")),
        "processed_dir": str(base_path(params, "processed_dir")),
        "interim_dir": str(base_path(params, "interim_dir")),
        "reports_dir": str(base_path(params, "reports_dir")),
        "metrics_dir": "metrics",
    }
