"""`robustbench-liver turing export|score`: a blinded visual Turing test of synthetic tumors."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from robustbench_liver.cli.progress import Progress

if TYPE_CHECKING:
    from robustbench_liver.types import Scan

EXAMPLE = """\
examples:
  robustbench-liver turing export --real-dataset data/Task03_Liver --tumors mix \\
      --base-scan healthy/ct.nii.gz healthy/labels.nii.gz --base-liver-label 5 --out study/
  robustbench-liver turing score --key study/key.json answers/*.json --out study/score

`export` writes study/study.html (send it to the readers: it holds the images only) and
study/key.json (the answers: keep it). Readers open the page in a browser, mark each tumor
real or synthetic with a confidence of 1-5 and download their answers as JSON; `score`
reads those files.
"""

EXPORT_EXAMPLE = """\
example (20 real LiTS tumors and 30 synthetic ones in 3 phantoms, as in the paper):
  robustbench-liver turing export --real-dataset data/Task03_Liver --out study/ --seed 812

Every crop is made by one rule: an axial slab through the lesion's largest cross-section,
a square of --fov-scale x its diameter, the same detail grid, matched noise, one window
width. Synthetic tumors are sized like the real ones shown (--no-size-match: the config's).
Keep --seed private (or leave it out: a random one is drawn and kept in key.json).
"""

SCORE_EXAMPLE = """\
example:
  robustbench-liver turing score --key study/key.json answers/*.json --out study/score

Writes score.md and score.json: accuracy, sensitivity (synthetic called synthetic) and
specificity (real called real) per reader and pooled, with exact Clopper-Pearson intervals.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "turing",
        help="visual Turing test: export a blinded reader study, score the answers",
        description="A reader study of real and synthetic tumors (the paper's validation).",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="turing_command", metavar="VERB")
    _export_parser(verbs)
    _score_parser(verbs)
    parser.set_defaults(func=lambda args: _help(parser))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _export_parser(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "export",
        help="write study.html (for readers) and key.json (for you)",
        description="Write a blinded reader study of real and synthetic tumor crops.",
        epilog=EXPORT_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--force", action="store_true", help="replace an existing key.json in --out")
    p.add_argument(
        "--seed", type=int, metavar="N", help="seed of every random choice (default: random)"
    )
    real = p.add_argument_group("real tumors")
    real.add_argument(
        "--real-scan",
        nargs=2,
        action="append",
        default=[],
        metavar=("IMAGE", "LABELS"),
        help="a CT with tumor labels (repeatable)",
    )
    real.add_argument(
        "--real-dataset",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="an MSD / nnU-Net folder (imagesTr/, labelsTr/) (repeatable)",
    )
    real.add_argument(
        "--tumor-label", type=int, default=2, metavar="N", help="tumor label value (default 2)"
    )
    real.add_argument(
        "--liver-label", type=int, default=1, metavar="N", help="liver label value (default 1)"
    )
    real.add_argument(
        "--n-real", type=int, default=20, metavar="N", help="real tumors shown (default 20)"
    )
    real.add_argument(
        "--min-diameter-mm",
        type=float,
        default=10.0,
        metavar="MM",
        help="smallest cross-section of a real lesion shown (default 10)",
    )
    syn = p.add_argument_group("synthetic tumors")
    syn.add_argument(
        "--tumors",
        default="medium",
        metavar="LEVEL|SCENARIO",
        help="a level name (tiny, small, medium, large, mix) or a scenario YAML whose tumor "
        "config is used (default medium)",
    )
    syn.add_argument(
        "--condition", metavar="ID", help="the scenario's condition (default: its reference)"
    )
    syn.add_argument(
        "--n-synthetic",
        type=int,
        default=30,
        metavar="N",
        help="synthetic tumors shown (default 30)",
    )
    syn.add_argument(
        "--base-scan",
        nargs=2,
        action="append",
        default=[],
        metavar=("IMAGE", "LABELS"),
        help="a healthy CT and its label map to synthesize into (repeatable; default: phantoms)",
    )
    syn.add_argument(
        "--base-liver-label",
        type=int,
        metavar="N",
        help="liver value in the base scans' labels (TotalSegmentator 5; default: recognised)",
    )
    syn.add_argument(
        "--phantoms",
        type=int,
        default=3,
        metavar="N",
        help="built-in phantoms used without --base-scan (3)",
    )
    syn.add_argument(
        "--phantom-shape", type=int, nargs=3, metavar=("X", "Y", "Z"), help="phantom voxels"
    )
    syn.add_argument(
        "--phantom-spacing", type=float, nargs=3, metavar=("X", "Y", "Z"), help="phantom mm"
    )
    syn.add_argument(
        "--no-size-match",
        action="store_true",
        help="use the config's sizes instead of the real tumors' (largest tumor of each case)",
    )
    crop = p.add_argument_group("crops (one rule for every image)")
    crop.add_argument(
        "--fov-scale", type=float, default=3.0, metavar="K", help="crop side / lesion diameter (3)"
    )
    crop.add_argument("--fov-mm", type=float, metavar="MM", help="a fixed crop side in mm instead")
    crop.add_argument(
        "--min-fov-mm", type=float, default=30.0, metavar="MM", help="smallest crop side (30)"
    )
    crop.add_argument(
        "--pixels", type=int, default=256, metavar="N", help="image side in pixels (256)"
    )
    crop.add_argument(
        "--detail-pixels",
        type=int,
        metavar="N",
        help="detail grid (default: the coarsest crop's pixels)",
    )
    crop.add_argument(
        "--slab-mm", type=float, metavar="MM", help="slab thickness (default: thickest slice)"
    )
    crop.add_argument(
        "--window",
        choices=("liver", "fixed"),
        default="liver",
        help="level from each crop's liver (default) or --window-hu for all",
    )
    crop.add_argument(
        "--window-width", type=float, default=400.0, metavar="HU", help="liver window (400)"
    )
    crop.add_argument(
        "--window-hu",
        type=float,
        nargs=2,
        default=(-160.0, 240.0),
        metavar=("LOW", "HIGH"),
        help="fixed window (-160 240)",
    )
    crop.add_argument("--no-match-noise", action="store_true", help="add no matching noise")
    p.set_defaults(func=run_export)


def _score_parser(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "score",
        help="score readers' answers against key.json",
        description="Per-reader and pooled accuracy, sensitivity and specificity, exact CIs.",
        epilog=SCORE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("answers", type=Path, nargs="+", metavar="ANSWERS", help="answers JSON files")
    p.add_argument("--key", type=Path, required=True, help="the study's key.json")
    p.add_argument("--out", type=Path, required=True, help="folder for score.md and score.json")
    p.add_argument(
        "--allow-missing", action="store_true", help="score readers who left items unanswered"
    )
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    p.set_defaults(func=run_score)


def run_export(args: argparse.Namespace) -> int:
    from robustbench_liver.turing import StudyOptions, TuringWarning, export_study
    from robustbench_liver.turing.lesions import msd_pairs
    from robustbench_liver.turing.study import check_out
    from robustbench_liver.turing.synthetic import tumor_config

    check_out(args.out, args.force)  # before minutes of work

    options = StudyOptions(
        n_real=args.n_real,
        n_synthetic=args.n_synthetic,
        seed=args.seed,
        tumor_label=args.tumor_label,
        liver_label=args.liver_label,
        min_diameter_mm=args.min_diameter_mm,
        fov_scale=args.fov_scale,
        fov_mm=args.fov_mm,
        min_fov_mm=args.min_fov_mm,
        pixels=args.pixels,
        detail_pixels=args.detail_pixels,
        slab_mm=args.slab_mm,
        window=args.window,
        window_width_hu=args.window_width,
        window_hu=tuple(args.window_hu),
        match_noise=not args.no_match_noise,
        size_match=not args.no_size_match,
    )
    config, described = tumor_config(args.tumors, args.condition)
    real = [(Path(i), Path(lab)) for i, lab in args.real_scan]
    for folder in args.real_dataset:
        real += msd_pairs(folder)
    bases = _bases(args) if options.n_synthetic else []
    reporter = _Bars()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TuringWarning)
        try:
            study = export_study(
                real, bases, config, args.out, options, described, reporter, args.force
            )
        finally:
            reporter.close()
    for w in caught:
        if issubclass(w.category, TuringWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    print(
        f"study {study.study_id}: {study.n_real} real and {study.n_synthetic} synthetic tumors, "
        f"{study.detail_pixels} detail pixels across each crop, {study.slab_mm:g} mm slabs\n"
        f"  for readers: {study.page}\n  answer key (keep it from readers): {study.key}"
    )
    return 0


class _Bars:
    """A progress bar per stage of the export."""

    def __init__(self) -> None:
        self.bar: Progress | None = None

    def stage(self, label: str, total: int) -> None:
        self.close()
        self.bar = Progress(total, label).__enter__()

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _bases(args: argparse.Namespace) -> list[Scan]:
    if args.base_scan:
        from robustbench_liver.io import load_scan

        return [
            load_scan(image, labels, liver_label=args.base_liver_label)
            for image, labels in args.base_scan
        ]
    from robustbench_liver.sources.phantom import make_phantom

    options = {}
    if args.phantom_shape:
        options["shape"] = tuple(args.phantom_shape)
    if args.phantom_spacing:
        options["spacing"] = tuple(args.phantom_spacing)
    if args.phantoms < 1:
        from robustbench_liver.turing import TuringError

        raise TuringError(f"--phantoms must be at least 1, got {args.phantoms}")
    return [make_phantom(seed, **options) for seed in range(args.phantoms)]


def run_score(args: argparse.Namespace) -> int:
    from robustbench_liver.turing import read_all, read_key, score_study
    from robustbench_liver.turing.score import write

    key = read_key(args.key)
    readers = read_all(args.answers, key, args.allow_missing)
    score = score_study(key, readers, args.confidence)
    json_path, md_path = write(score, args.out)
    for line in score.statements:
        print(line)
    print(f"-> {md_path}, {json_path}")
    return 0
