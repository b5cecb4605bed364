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

from churnlab.config import load_params
from churnlab.errors import UserError
from churnlab.reports import catalog, stage


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
    try:
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
    except UserError as exc:
        print(f"churnlab reports: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
