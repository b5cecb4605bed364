"""The `churnlab` command line: one command per dvc.yaml stage.

Each command loads params.yaml from the working directory and calls the stage's
`run(params)`; expected user errors are printed as one clear message, not a traceback.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

import typer

from churnlab.config import load_params
from churnlab.errors import ConfigWarning, UserError

app = typer.Typer(
    help="churnlab: test which customer-success hypotheses really lead churn.",
    no_args_is_help=True,
    add_completion=False,
)

PARAMS_OPTION = typer.Option(Path("params.yaml"), "--params", help="Path of params.yaml.")


def _run_stage(module: str, params_path: Path) -> None:
    """Run one stage. A UserError prints one red line per problem (`churnlab <stage>: ...`)
    and exits 2; a ConfigWarning prints one yellow line to stderr, once per text."""
    plain_show = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if issubclass(category, ConfigWarning):
            typer.secho(f"churnlab {module}: warning: {message}", err=True, fg=typer.colors.YELLOW)
        else:
            plain_show(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("once", ConfigWarning)
        warnings.showwarning = show
        try:
            params = load_params(params_path)
            stage = importlib.import_module(f"churnlab.{module}.stage")
            stage.run(params)
        except UserError as exc:
            for line in str(exc).splitlines() or [type(exc).__name__]:
                typer.secho(f"churnlab {module}: {line}", err=True, fg=typer.colors.RED)
            sys.exit(2)


@app.command()
def simulate(params: Path = PARAMS_OPTION) -> None:
    """Write a simulated SaaS company (raw data contract + ground_truth.json) to data/raw/."""
    _run_stage("simulate", params)


@app.command()
def ingest(params: Path = PARAMS_OPTION) -> None:
    """Validate data/raw/ into typed tables in data/interim/, quarantining bad rows."""
    _run_stage("ingest", params)


@app.command()
def panel(params: Path = PARAMS_OPTION) -> None:
    """Build the account x week indicator panel in data/processed/panel.parquet."""
    _run_stage("panel", params)


@app.command()
def kpis(params: Path = PARAMS_OPTION) -> None:
    """Compute subscription KPIs (logo churn, GRR/NRR, cohorts, retention curves)."""
    _run_stage("kpis", params)


@app.command()
def hypotheses(params: Path = PARAMS_OPTION) -> None:
    """Test every hypothesis for lead: lead profile, lamp performance, threshold, verdict."""
    _run_stage("hypotheses", params)


@app.command("health-score")
def health_score(params: Path = PARAMS_OPTION) -> None:
    """Fit and validate the health score; write this week's action lists."""
    _run_stage("health", params)


@app.command()
def reports(params: Path = PARAMS_OPTION) -> None:
    """Render the report notebooks to self-contained HTML under reports/."""
    _run_stage("reports", params)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
