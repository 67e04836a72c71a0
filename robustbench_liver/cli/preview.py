"""`robustbench-liver preview`: synthesize tumors on a scan and show them, before and after."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from robustbench_liver.display import SOFT_TISSUE_WINDOW, axial
from robustbench_liver.errors import DataError
from robustbench_liver.types import Case, Scan

if TYPE_CHECKING:
    from matplotlib.figure import Figure

EXAMPLE = """\
examples:
  robustbench-liver preview --source phantom --level medium --seed 1 --out medium.png
  robustbench-liver preview --source ct.nii.gz --labels labels.nii.gz --liver-label 5 \\
      --vessel-labels 64 63 --level mix --seed 0 --out mix.png

One row per tumor (up to --max-tumors, largest first): an axial slice through its centre
before and after synthesis, radiological display (patient right on the left, anterior at
the top), window [-160, 240] HU. PATH is a NIfTI file or a DICOM series folder.
"""

LEVEL_CHOICES = ("tiny", "small", "medium", "large", "mix")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "preview",
        help="synthesize tumors on a scan and draw them, before and after",
        description="Synthesize tumors of one level on a scan and draw axial slices through each.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--source", required=True, help="'phantom' or PATH to a CT (NIfTI / DICOM folder)"
    )
    parser.add_argument("--labels", type=Path, help="label map of PATH (holds the liver)")
    parser.add_argument(
        "--liver-label",
        type=int,
        default=None,
        help="liver value in --labels (default: recognised from the label map, said aloud; "
        "TotalSegmentator 5, LiTS/MSD 1)",
    )
    parser.add_argument(
        "--vessel-labels",
        type=int,
        nargs="*",
        default=(),
        help="vessel values in --labels (e.g. 64 63)",
    )
    parser.add_argument("--level", choices=LEVEL_CHOICES, default="medium", help="tumor size level")
    parser.add_argument("--seed", type=int, default=0, help="synthesis seed (default 0)")
    parser.add_argument("--phantom-seed", type=int, default=0, help="anatomy seed of the phantom")
    parser.add_argument("--max-tumors", type=int, default=8, help="rows to draw (default 8)")
    parser.add_argument(
        "--if-no-place",
        choices=("skip", "overlap", "error"),
        default="skip",
        help="a tumor with no place clear of the others: leave it out (default), let it "
        "overlap them (they may merge into one lesion), or fail",
    )
    parser.add_argument("--contours", action="store_true", help="outline the tumor label (after)")
    parser.add_argument("--out", type=Path, required=True, help="output PNG")
    parser.set_defaults(func=run)


def load_source(args: argparse.Namespace) -> Scan:
    """The scan named by --source (and --labels / --liver-label / --vessel-labels)."""
    if args.source == "phantom":
        try:
            from robustbench_liver.sources.phantom import make_phantom
        except ImportError:
            raise DataError("the built-in phantom is not available in this installation") from None
        return make_phantom(args.phantom_seed)
    from robustbench_liver.io import load_scan

    if args.labels is None:
        raise DataError("a CT path needs --labels (the label map with the liver)", args.source)
    return load_scan(
        args.source,
        labels=args.labels,
        liver_label=args.liver_label,
        vessel_labels=tuple(args.vessel_labels or ()),
    )


def run(args: argparse.Namespace) -> int:
    import warnings

    from robustbench_liver.synthesis import TumorConfig, synthesize

    if args.max_tumors < 1:
        raise DataError(f"--max-tumors must be at least 1, got {args.max_tumors}")
    scan = load_source(args)
    config = TumorConfig.level(args.level, if_no_place=args.if_no_place)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        case = synthesize(scan, config, np.random.default_rng(args.seed))
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    title = f"{scan.id}: level {args.level}, seed {args.seed}"
    draw(scan, case, args.out, title=title, max_tumors=args.max_tumors, contours=args.contours)
    shown = min(len(case.tumors), args.max_tumors)
    print(f"{args.out}: {len(case.tumors)} tumors ({shown} shown)")
    return 0


def draw(
    scan: Scan,
    case: Case,
    path: Path,
    title: str = "",
    max_tumors: int = 8,
    contours: bool = False,
) -> None:
    """Before/after axial slices through each tumor (largest first) into a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = preview_figure(scan, case, title, max_tumors, contours)
    FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def preview_figure(
    scan: Scan, case: Case, title: str = "", max_tumors: int = 8, contours: bool = False
) -> Figure:
    """The Figure of `draw`: columns 'before' and 'after', the title above all panels
    (constrained layout makes room for it; no pyplot state)."""
    from matplotlib.figure import Figure

    tumors = sorted(case.tumors, key=lambda t: -(t.volume_mm3 or 0.0))[:max_tumors]
    rows = max(1, len(tumors))
    fig = Figure(figsize=(7.2, 3.5 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, 2, squeeze=False)
    lo, hi = SOFT_TISSUE_WINDOW
    spacing = np.asarray(scan.spacing)
    for row, tumor in enumerate(tumors):
        cx, cy, k = tumor.center_vox
        half_mm = max(24.0, 2.6 * max(tumor.semi_axes_mm))
        hx, hy = (int(np.ceil(half_mm / s)) for s in spacing[:2])
        xs = slice(max(cx - hx, 0), min(cx + hx + 1, scan.shape[0]))
        ys = slice(max(cy - hy, 0), min(cy + hy + 1, scan.shape[1]))
        before = axial(scan.image[xs, ys, :], k)
        after = axial(case.image[xs, ys, :], k)
        extent = (0, before.shape[1] * spacing[0], before.shape[0] * spacing[1], 0)
        for col, (img, name) in enumerate(((before, "before"), (after, "after"))):
            ax = axes[row, col]
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(0.02, 0.5, "R", transform=ax.transAxes, color="yellow", va="center", fontsize=8)
            ax.text(0.95, 0.5, "L", transform=ax.transAxes, color="yellow", va="center", fontsize=8)
            if col == 0:
                where = f"#{tumor.index} {tumor.size_class}, {tumor.liver_region}"
                ax.set_title(f"{name}: {where}", fontsize=9)
            else:
                r = tumor.equivalent_radius_mm or 0.0
                dhu = tumor.mean_hu_change if tumor.mean_hu_change is not None else float("nan")
                ax.set_title(f"{name}: r = {r:.1f} mm, {dhu:+.0f} HU", fontsize=9)
        if contours:
            tumor_mask = axial(case.label[xs, ys, :], k) == 2
            axes[row, 1].contour(
                tumor_mask,
                levels=[0.5],
                colors="red",
                linewidths=0.6,
                extent=(0, before.shape[1] * spacing[0], 0, before.shape[0] * spacing[1]),
                origin="upper",
            )
    if not tumors:
        axes[0, 0].set_title("no tumors")
    fig.suptitle(
        f"{title}\nwindow [{lo:.0f}, {hi:.0f}] HU, "
        f"spacing {tuple(round(s, 2) for s in scan.spacing)} mm",
        fontsize=10,
    )
    return fig
