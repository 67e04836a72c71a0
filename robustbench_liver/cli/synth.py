"""`robustbench-liver synth`: write a scenario's cases as an MSD / nnU-Net test set, or as
an nnU-Net v2 training set (`--layout nnunet-train`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robustbench_liver.cli import add_data_root, add_limit

EXAMPLE = """\
examples:
  robustbench-liver synth scenarios/quickstart.yaml --out testsets/quickstart --workers 2
  robustbench-liver synth scenarios/size.yaml --layout nnunet-train \\
      --dataset-id 501 --dataset-name LiverSynth --out "$nnUNet_raw"

The default layout (test) writes imagesTs/<case>_0000.nii.gz, labelsTs/<case>.nii.gz
(0 background, 1 liver, 2 tumor), dataset.json and cases.csv (condition, base scan, tumor
records): a test set for `evaluate`. --layout nnunet-train writes the folder
Dataset<ID>_<NAME> inside --out (nnU-Net's nnUNet_raw) with imagesTr/, labelsTr/ and a
dataset.json with numTraining: train on it with `nnUNetv2_plan_and_preprocess -d ID`.
Interrupted? Run the same command again: finished cases are kept. Scenarios with real scans
need --data-root.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "synth",
        help="write a scenario's synthetic cases (NIfTI): a test set, or an nnU-Net training set",
        description="Synthesize a scenario's cases into an MSD / nnU-Net test-set folder, or "
        "into an nnU-Net v2 training set.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", type=Path, metavar="SCENARIO")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--layout",
        choices=("test", "nnunet-train"),
        default="test",
        help="test: imagesTs/labelsTs, numTest (default); nnunet-train: "
        "Dataset<ID>_<NAME>/imagesTr/labelsTr, numTraining, inside --out",
    )
    parser.add_argument(
        "--dataset-id", type=int, metavar="ID", help="nnU-Net dataset id (nnunet-train; e.g. 501)"
    )
    parser.add_argument(
        "--dataset-name",
        metavar="NAME",
        help="nnU-Net dataset name (nnunet-train; letters, digits, _; default: the "
        "scenario's name)",
    )
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
    from robustbench_liver.scenarios.testset import (
        LAYOUTS,
        NNUNET_TRAIN,
        dataset_name_of,
        export,
        nnunet_dataset_dir,
    )

    layout = LAYOUTS[args.layout]
    if layout is not NNUNET_TRAIN and (args.dataset_id is not None or args.dataset_name):
        print(
            "error: --dataset-id and --dataset-name go with --layout nnunet-train", file=sys.stderr
        )
        return 2
    if layout is NNUNET_TRAIN and args.dataset_id is None:
        print(
            "error: --layout nnunet-train needs --dataset-id (nnU-Net finds a dataset by its "
            "id, e.g. --dataset-id 501 --dataset-name LiverSynth)",
            file=sys.stderr,
        )
        return 2
    scenario = load_scenario(args.scenario)
    out = args.out
    if layout is NNUNET_TRAIN:
        try:
            out = nnunet_dataset_dir(
                args.out, args.dataset_id, args.dataset_name or dataset_name_of(scenario.name)
            )
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    plan = make_plan(scenario, base_scans(scenario, args.data_root)).limited(args.limit)
    cache = None if args.no_cache else CaseCache(args.cache)
    reused = 0
    with Progress(len(plan.cases), f"synth {scenario.name}") as bar:

        def advance(row: dict) -> None:
            nonlocal reused
            reused += bool(row.get("_reused"))
            bar.advance()

        rows = export(plan, out, workers=args.workers, progress=advance, cache=cache, layout=layout)
    tumors = sum(r["n_tumors"] for r in rows)
    controls = sum(bool(r["is_control"]) for r in rows)
    print(
        f"{len(rows)} cases ({controls} controls, {tumors} tumors) in "
        f"{len(scenario.conditions)} condition(s), {reused} from the cache -> {out}"
    )
    return 0
