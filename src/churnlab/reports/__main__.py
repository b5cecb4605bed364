"""`python -m churnlab.reports ...`: the finer-grained commands dvc.yaml's report stages call.

  python -m churnlab.reports render segment_smb [...]   render named reports only
  python -m churnlab.reports groups                     every segment / customer-goal page
                                                        into reports/html/groups/
  python -m churnlab.reports core                       the four core reports + index.html
  python -m churnlab.reports index                      index.html only
  python -m churnlab.reports list                       print every report key and its page
(`churnlab reports` renders everything.)
"""

from __future__ import annotations

import argparse
import sys
import warnings

from churnlab.config import load_params
from churnlab.errors import ConfigWarning, UserError
from churnlab.reports import catalog, stage

PREFIX = "churnlab reports"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m churnlab.reports")
    parser.add_argument("--params", default="params.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("render").add_argument("keys", nargs="+")
    sub.add_parser("groups")
    sub.add_parser("core")
    sub.add_parser("index")
    sub.add_parser("list")
    args = parser.parse_args(argv)
    # As `churnlab <stage>` (cli._run_stage): one line per problem on stderr, exit 2; a
    # ConfigWarning (e.g. an unknown params key) one line, once per text.
    plain_show = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if issubclass(category, ConfigWarning):
            print(f"{PREFIX}: warning: {message}", file=sys.stderr)
        else:
            plain_show(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("once", ConfigWarning)
        warnings.showwarning = show
        try:
            _run(args)
        except UserError as exc:
            for line in str(exc).splitlines() or [type(exc).__name__]:
                print(f"{PREFIX}: {line}", file=sys.stderr)
            return 2
    return 0


def _run(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    if args.command == "render":
        stage.render_reports(params, args.keys)
    elif args.command == "groups":
        stage.render_groups(params)
    elif args.command == "core":
        stage.render_core(params)
        stage.write_index(params)
    elif args.command == "index":
        stage.write_index(params)
    else:
        reports = catalog.all_reports(params, stage.attributes(params))
        print("\n".join(f"{r.key}\t{r.html_name}" for r in reports))


if __name__ == "__main__":
    sys.exit(main())
