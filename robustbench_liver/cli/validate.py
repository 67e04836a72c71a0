"""`robustbench-liver validate`: check scenario files without running them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from robustbench_liver.cli import add_data_root
from robustbench_liver.errors import RobustBenchError

if TYPE_CHECKING:
    from robustbench_liver.scenarios import Scenario

EXAMPLE = """\
examples:
  robustbench-liver validate scenarios/*.yaml
  robustbench-liver validate scenarios/real_scans.yaml --data-root ~/data
                                                # also checks each base scan's headers
  robustbench-liver validate --params          # every parameter a sweep can set
  robustbench-liver validate --design scenarios/size.yaml --models 2
                                                # base scans, controls, CI widths, p floors
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
    parser.add_argument(
        "--params",
        action="store_true",
        help="list every parameter a sweep can set, and the base-scan knobs, with type, unit, "
        "default and allowed values",
    )
    parser.add_argument(
        "--design",
        action="store_true",
        help="plan each scenario and print its study design: base scans and controls per "
        "condition, expected CI half-widths, whether CIs are printed, the smallest p-values",
    )
    parser.add_argument(
        "--models",
        type=int,
        default=1,
        metavar="N",
        help="with --design: models in the report; p-values are adjusted over all (default 1)",
    )
    add_max_conditions(parser)
    add_data_root(parser, "folder that file sources are read from; given, each base scan's "
                  "headers are checked (size, spacing)")  # fmt: skip
    parser.set_defaults(func=run)


def add_max_conditions(parser: argparse.ArgumentParser) -> None:
    """--max-conditions N: the cap on a sweep's size (shared by validate and run)."""
    from robustbench_liver.scenarios.load import MAX_CONDITIONS

    parser.add_argument(
        "--max-conditions",
        type=int,
        default=MAX_CONDITIONS,
        metavar="N",
        help=f"refuse sweeps of more conditions (default {MAX_CONDITIONS}); counted from the "
        "axes' levels before any is built",
    )


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.scenarios import load_scenario
    from robustbench_liver.scenarios.inputs import check_inputs

    if args.params:
        print(params_text())
        if not args.scenarios:
            return 0
    if not args.scenarios:
        print("error: name at least one scenario file", file=sys.stderr)
        return 2
    if args.max_conditions < 1:
        raise RobustBenchError(f"--max-conditions must be at least 1, got {args.max_conditions}")
    failed = 0
    for path in args.scenarios:
        try:
            scenario = load_scenario(path, max_conditions=args.max_conditions)
            files = any(s.source != "phantom" for s in scenario.spec.base_scans)
            checked = len(check_inputs(scenario, args.data_root)) if files and args.data_root else 0
        except RobustBenchError as err:
            failed += 1
            print(f"INVALID {err}", file=sys.stderr)
            continue
        if args.design:
            try:
                text = design_text(scenario, args.data_root, args.models)
            except RobustBenchError as err:
                failed += 1
                print(f"NO DESIGN {err}", file=sys.stderr)
                continue
            print(text + ("\n" if len(args.scenarios) > 1 else ""))
            continue
        n = len(scenario.conditions)
        scans = (
            f", {checked} base scan(s) with their headers checked"
            if checked
            else ", base scan files not checked (pass --data-root)"
            if files
            else ""
        )
        print(
            f"ok {path}: {scenario.name} v{scenario.spec.version}, {n} condition(s), "
            f"reference {scenario.reference}, hash {scenario.hash[:12]}{scans}"
        )
    return 1 if failed else 0


def design_text(scenario: Scenario, data_root: Path | None, models: int) -> str:
    from robustbench_liver.scenarios import base_scans, make_plan
    from robustbench_liver.scenarios.design import design, render

    if models < 1:
        raise RobustBenchError(f"--models must be at least 1, got {models}")
    plan = make_plan(scenario, base_scans(scenario, data_root))
    return render(design(plan, models=models))


def params_text() -> str:
    """The parameter reference, read from TumorConfig, ImageShift and the schema."""
    from robustbench_liver.scenarios.conditions import base_scan_parameters, parameters

    sections = (
        (
            "Sweep parameters: a level sets them by path; `tumors:` and `image:` set the "
            "scenario's base values with the part after the dot.",
            parameters(),
        ),
        ("Base-scan knobs, per source in `base_scans:`.", base_scan_parameters()),
    )
    out: list[str] = []
    for title, rows in sections:
        out += [title, ""]
        for r in rows:
            facts = [r.type, *([f"unit {r.unit}"] if r.unit else []), f"default {r.default}"]
            if r.allowed:
                facts.append(f"allowed {r.allowed}")
            out.append(f"  {r.path}: {'; '.join(facts)}")
            if r.doc:
                out.append(f"      {r.doc}")
        out.append("")
    return "\n".join(out).rstrip()
