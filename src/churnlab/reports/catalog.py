"""Which reports exist, which notebook renders each, and the parameters it gets.

Core reports are fixed. Group reports (one per segment and per customer goal) follow the
data: one page per value that occurs in the panel (`panel_meta.json` "attributes", else the
panel's distinct values), titled with the user's own label. `reports.segments` /
`reports.customer_goals` null = every occurring value; a list restricts and orders them
(values that do not occur are skipped and listed on the index).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from churnlab.config import base_path
from churnlab.errors import ConfigError, UserError
from churnlab.reports.i18n import check_language, t

CORE = ("executive_summary", "hypotheses", "data_quality", "action_list")
GROUP_KINDS = ("segment", "customer_goal")
GROUPS_SUBDIR = "groups"  # group pages live in reports/html/groups/ (one DVC directory output)
PARAM_KEYS = {"segment": "segments", "customer_goal": "customer_goals"}
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

# A label used verbatim in a file name: lower-case ASCII letters, digits and `_` only (no `-`,
# so it can never look like a hashed name; lower case only, so two names never differ by case
# alone on a case-insensitive file system), at most 40 characters.
_PLAIN_LABEL = re.compile(r"[a-z0-9][a-z0-9_]{0,39}")
SLUG_CHARS = 40


def file_slug(label: str) -> str:
    """A safe, stable file-name part for any label.

    A plain label (`smb`, `done_for_me`) is used as it is. Any other label (`Public sector`,
    `公共部門`, `a/b`, `<script>`) becomes `<ascii-slug>-<first 8 hex of sha1(label, UTF-8)>`:
    the slug keeps it readable, the hash keeps two labels with the same slug apart
    (`Public sector` and `public-sector` get different names). Depends on the label only.
    """
    if _PLAIN_LABEL.fullmatch(label):
        return label
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:SLUG_CHARS].strip("_")
    digest = hashlib.sha1(label.encode("utf-8")).hexdigest()[:8]
    return f"{slug or 'value'}-{digest}"


@dataclass(frozen=True)
class Report:
    kind: str
    value: str | None = None  # the user's label as written (group reports only)

    @property
    def key(self) -> str:
        """File stem, e.g. `segment_smb` or `segment_public_sector-1a2b3c4d`."""
        return self.kind if self.value is None else f"{self.kind}_{file_slug(self.value)}"

    @property
    def html_name(self) -> str:
        """Path of the page relative to reports/html/."""
        if self.value is None:
            return f"{self.key}.html"
        return f"{GROUPS_SUBDIR}/{self.key}.html"

    @property
    def notebook(self) -> str:
        return NOTEBOOKS[self.kind]

    def title(self, lang: str) -> str:
        return (
            t(lang, f"title.{self.kind}", value=self.value)
            if self.value is not None
            else t(lang, f"title.{self.kind}")
        )


@dataclass(frozen=True)
class Skipped:
    """A configured group value that does not occur in the data (no page; noted on the index)."""

    kind: str
    value: str


def settings(params: dict) -> dict[str, Any]:
    """The `reports` section with defaults, validated."""
    rep = dict(params.get("reports") or {})
    rep.setdefault("language", "en")
    rep.setdefault("kernel", "churnlab")
    rep.setdefault("segments", None)
    rep.setdefault("customer_goals", None)
    rep.setdefault("workers", 2)
    rep.setdefault("start_timeout", 300)
    check_language(rep["language"])
    for key in PARAM_KEYS.values():
        value = rep[key]
        if value is not None and not isinstance(value, list):
            raise ConfigError(
                f"params.yaml reports.{key}: expected null (every value in the data) or a list "
                f"of labels, got {value!r}"
            )
    return rep


def _norm(label: object) -> str:
    """Labels match trimmed and case-insensitively (the vocabulary rule of params.yaml)."""
    return str(label).strip().casefold()


def group_reports(
    params: dict, attributes: dict[str, list[str]]
) -> tuple[list[Report], list[Skipped]]:
    """Group pages for the values that occur, and the configured values that do not.

    attributes: {"segment": [labels in the data], "customer_goal": [...]} (sorted).
    A configured value matches a label in the data trimmed and case-insensitively; the page
    then uses the data's label. Raises UserError if two labels would share a file name.
    """
    rep = settings(params)
    reports: list[Report] = []
    skipped: list[Skipped] = []
    for kind in GROUP_KINDS:
        occurring = [str(v) for v in attributes.get(kind) or [] if v is not None and str(v) != ""]
        wanted = rep[PARAM_KEYS[kind]]
        if wanted is None:
            chosen = occurring
        else:
            by_norm: dict[str, str] = {}
            for label in occurring:
                by_norm.setdefault(_norm(label), label)
            chosen = []
            for value in wanted:
                label = by_norm.get(_norm(value))
                if label is None:
                    skipped.append(Skipped(kind, str(value)))
                elif label not in chosen:
                    chosen.append(label)
        reports += [Report(kind, label) for label in dict.fromkeys(chosen)]
    seen: dict[str, Report] = {}
    for report in reports:
        other = seen.setdefault(report.key, report)
        if other is not report:  # 8 hex digits of sha1: never seen in practice, but say so
            raise UserError(
                f"reports: {report.kind} labels {other.value!r} and {report.value!r} would share "
                f"the file name {report.html_name}; rename one of them in the data"
            )
    return reports, skipped


def core_reports() -> list[Report]:
    return [Report(kind) for kind in CORE]


def all_reports(params: dict, attributes: dict[str, list[str]]) -> list[Report]:
    return core_reports() + group_reports(params, attributes)[0]


def find(params: dict, key: str, attributes: dict[str, list[str]]) -> Report:
    for report in all_reports(params, attributes):
        if report.key == key:
            return report
    known = [r.key for r in all_reports(params, attributes)]
    raise ConfigError(f"params.yaml reports: no report '{key}' (known: {known})")


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
