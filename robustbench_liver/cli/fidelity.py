"""`robustbench-liver fidelity`: real tumors vs size-matched synthetic ones, feature by
feature, and a classifier that tries to tell them apart."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustbench_liver.cli import add_data_root

if TYPE_CHECKING:  # the command's imports stay lazy: `--help` loads nothing heavy
    from robustbench_liver.fidelity.calibration_file import Calibrated
    from robustbench_liver.fidelity.lesions import ScanFrame
    from robustbench_liver.fidelity.study import TumorModel

EXAMPLE = """\
example:
  robustbench-liver fidelity --real ../shared/data/lits-tiny --tumors scenarios/quickstart.yaml \\
      --per-lesion 10 --seed 0 --out fidelity/lits-tiny

--real: a folder of labelled scans (MSD / nnU-Net imagesTr + labelsTr, LiTS volume-N +
segmentation-N, or ct.nii.gz + labels.nii.gz in the folder or its subfolders), or a scenario
whose base scans are label maps (with --data-root). --tumors: a scenario (its reference
condition's tumors, or --condition) or a level (tiny, small, medium, large, mix).
Writes fidelity.md, fidelity.html, figures/, lesions.csv/.parquet (one row per lesion, real
and synthetic, naming the real data and the tumor model), distances.csv, classifier.json.

calibration (--model, repeatable): each model also runs on the real cases and on twin cases
(the same scans with one size-matched synthetic tumor per real lesion, --per-lesion twin
cases per scan); the report gains each model's synthetic - real gap in local DSC, case DSC
and lesion sensitivity with CIs, and whether the models rank alike on both; calibration.json
is what `report --calibration` and `leaderboard --calibration` show beside phantom scores:
  robustbench-liver fidelity --real ../shared/data/lits-tiny --tumors scenarios/quickstart.yaml \\
      --model hu-threshold --model unet-synth --per-lesion 4 --out fidelity/lits-tiny
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "fidelity",
        help="compare real tumors with size-matched synthetic ones",
        description="Measure real tumors and size-matched synthetic tumors of a tumor model "
        "with the same per-lesion features; report per-feature distances with CIs and the "
        "cross-validated AUC of a classifier telling them apart (0.5 = indistinguishable).",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--real", required=True, metavar="DIR_OR_SCENARIO", help="real tumors")
    parser.add_argument("--tumor-label", type=int, default=2, help="tumor value (default 2)")
    parser.add_argument(
        "--liver-label",
        type=int,
        default=None,
        help="liver value (default: the scenario's, else 1 as in LiTS / MSD)",
    )
    parser.add_argument(
        "--tumors",
        required=True,
        metavar="SCENARIO_OR_LEVEL",
        help="tumor model: a scenario .yaml or a level name",
    )
    parser.add_argument("--condition", help="the scenario's condition (default: its reference)")
    parser.add_argument(
        "--base",
        metavar="DIR_OR_SCENARIO",
        help="healthy scans to synthesize into (default: each real lesion's own scan, real "
        "tumors masked out); the calibration's twin cases always use the real scans",
    )
    parser.add_argument(
        "--per-lesion",
        type=_positive,
        default=10,
        help="synthetic tumors per real lesion (default 10)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    parser.add_argument(
        "--min-diameter-voxels",
        type=float,
        default=2.0,
        help="measure lesions whose equivalent diameter spans at least this many of the "
        "largest voxel side (default 2)",
    )
    parser.add_argument(
        "--resamples",
        type=_positive,
        default=2000,
        help="bootstrap resamples of the distances (default 2000)",
    )
    parser.add_argument(
        "--classifier-resamples",
        type=_positive,
        default=500,
        help="bootstrap resamples of the classifier AUC, each rerunning the cross-validation "
        "(default 500)",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME_OR_SPEC",
        help="calibrate this model (repeatable; as `run --model` takes it): its score on the "
        "real tumors against that on size-matched synthetic twins in the same scans",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds per prediction in the calibration; a model past it is killed and that "
        "case counts as a miss",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_data_root(parser, "folder the scenarios' file sources are read from")
    parser.set_defaults(func=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number is needed, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.cli.progress import Progress
    from robustbench_liver.fidelity.inputs import base_frames, real_frames, tumor_model
    from robustbench_liver.fidelity.lesions import find_lesions
    from robustbench_liver.fidelity.realdata import find_scans
    from robustbench_liver.fidelity.report import write_report
    from robustbench_liver.fidelity.study import run_study, summary

    model = tumor_model(args.tumors, args.condition)
    data = find_scans(args.real, args.data_root, args.liver_label)
    frames = real_frames(data, args.tumor_label)
    base = []
    if args.base:
        base = base_frames(find_scans(args.base, args.data_root))
    found = [find_lesions(f, args.min_diameter_voxels)[1] for f in frames]
    measured = sum(les.measured for lesions in found for les in lesions)
    calibrated_scans = sum(any(les.measured for les in lesions) for lesions in found)
    models = list(dict.fromkeys(args.model))
    total = measured * (1 + args.per_lesion)
    total += calibrated_scans * (1 + args.per_lesion) * len(models)
    calibrated = None
    with Progress(total, "fidelity", unit="steps") as bar:
        if models:  # first: a model that cannot load is said before the long part
            calibrated = _calibrate(args, frames, model, data.name, models, bar.advance)
        study = run_study(
            frames,
            model,
            data.name,
            per_lesion=args.per_lesion,
            seed=args.seed,
            min_diameter_voxels=args.min_diameter_voxels,
            base=base,
            resamples=args.resamples,
            classifier_resamples=args.classifier_resamples,
            progress=lambda _note: bar.advance(),
        )
    page = write_report(
        study,
        args.out,
        extra={
            "real": str(args.real),
            "tumors": str(args.tumors),
            "condition": args.condition,
            "tumor_label": args.tumor_label,
            "liver_labels": sorted({s.liver_label for s in data.scans}),
            "tumor_config": model.config.to_dict(),
            "models": models,
        },
        calibrated=calibrated,
    )
    for line in summary(study):
        print(line)
    for row in study.distances.itertuples(index=False):
        print(f"  {_distance_line(row)}")
    if calibrated is not None:
        from robustbench_liver.fidelity.calibration_report import summary_lines

        for line in summary_lines(*calibrated):
            print(line)
    print(f"report: {page}")
    return 0


def _calibrate(
    args: argparse.Namespace,
    frames: list[ScanFrame],
    tumors: TumorModel,
    real_data: str,
    models: list[str],
    tick: Callable[[], None],
) -> Calibrated:
    """Every model on the real and the twin cases, and the gaps (fidelity.calibrate)."""
    from robustbench_liver.fidelity.calibrate import run_calibration
    from robustbench_liver.fidelity.calibration_stats import summarize

    cal = run_calibration(
        frames,
        tumors,
        real_data,
        models,
        per_lesion=args.per_lesion,
        seed=args.seed,
        min_diameter_voxels=args.min_diameter_voxels,
        timeout_s=args.timeout,
        progress=lambda _note: tick(),
    )
    return cal, summarize(cal, resamples=args.resamples, seed=args.seed)


def _distance_line(r: Any) -> str:
    """One feature's row of `distances.csv` as a line: medians and SMD with its CI."""
    from robustbench_liver.fidelity.report import number

    ci = f" [{number(r.smd_low)}, {number(r.smd_high)}]" if r.smd_low == r.smd_low else ""
    return (
        f"{r.feature:<20} real {number(r.real_median):>7}  "
        f"synthetic {number(r.synthetic_median):>7}  SMD {number(r.smd)}{ci}"
    )
