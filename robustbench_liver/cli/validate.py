"""`robustbench-liver validate`: check scenario files without running them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLE = """\
examples:
  robustbench-liver validate scenarios/*.yaml
  robustbench-liver validate --params          # every parameter a sweep can set
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "validate",
        help="check scenario files (exit code 0 when all are valid)",
        description="Check scenario files: schema, tumor model, sweep, reference.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenarios", nargs="*", type=Path, metavar="SCENARIO")
    parser.add_argument("--params", action="store_true", help="list the sweepable parameters")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.errors import RobustBenchError
    from robustbench_liver.scenarios import PARAMS, load_scenario

    if args.params:
        print("\n".join(sorted(PARAMS)))
        if not args.scenarios:
            return 0
    if not args.scenarios:
        print("error: name at least one scenario file", file=sys.stderr)
        return 2
    failed = 0
    for path in args.scenarios:
        try:
            scenario = load_scenario(path)
        except RobustBenchError as err:
            failed += 1
            print(f"INVALID {err}", file=sys.stderr)
            continue
        n = len(scenario.conditions)
        print(
            f"ok {path}: {scenario.name} v{scenario.spec.version}, {n} condition(s), "
            f"reference {scenario.reference}, hash {scenario.hash[:12]}"
        )
    return 1 if failed else 0
