"""`robustbench-liver synth`: write a scenario's cases as an MSD / nnU-Net test set."""

from __future__ import annotations

import argparse
from pathlib import Path

from robustbench_liver.cli import add_data_root, add_limit

EXAMPLE = """\
example:
  robustbench-liver synth scenarios/quickstart.yaml --out testsets/quickstart --workers 2

writes imagesTs/<case>_0000.nii.gz, labelsTs/<case>.nii.gz (0 background, 1 liver, 2 tumor),
dataset.json and cases.csv (condition, base scan, tumor records). Interrupted? Run the same
command again: finished cases are kept. Scenarios with real scans need --data-root.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "synth",
        help="write a scenario's synthetic test set (NIfTI, MSD layout)",
        description="Synthesize a scenario's cases into an MSD / nnU-Net test-set folder.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", type=Path, metavar="SCENARIO")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_limit(parser)
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument(
        "--cache",
        type=Path,
        default=default_cache(),
        help="case cache folder (default: $ROBUSTBENCH_LIVER_CACHE or "
        "~/.cache/robustbench-liver/cases)",
    )
    parser.add_argument("--no-cache", action="store_true", help="build every case afresh")
    add_data_root(parser)
    parser.set_defaults(func=run)


def default_cache() -> Path:
    """The shared case cache `run` uses too (scenarios.cache.default_root)."""
    from robustbench_liver.scenarios.cache import default_root

    return default_root()


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.cli.progress import Progress
    from robustbench_liver.scenarios import base_scans, load_scenario, make_plan
    from robustbench_liver.scenarios.cache import CaseCache
    from robustbench_liver.scenarios.testset import export

    scenario = load_scenario(args.scenario)
    plan = make_plan(scenario, base_scans(scenario, args.data_root)).limited(args.limit)
    cache = None if args.no_cache else CaseCache(args.cache)
    reused = 0
    with Progress(len(plan.cases), f"synth {scenario.name}") as bar:

        def advance(row: dict) -> None:
            nonlocal reused
            reused += bool(row.get("_reused"))
            bar.advance()

        rows = export(plan, args.out, workers=args.workers, progress=advance, cache=cache)
    tumors = sum(r["n_tumors"] for r in rows)
    controls = sum(bool(r["is_control"]) for r in rows)
    print(
        f"{len(rows)} cases ({controls} controls, {tumors} tumors) in "
        f"{len(scenario.conditions)} condition(s), {reused} from the cache -> {args.out}"
    )
    return 0
