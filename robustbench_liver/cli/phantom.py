"""`robustbench-liver phantom`: write the built-in phantom as NIfTI files and a picture."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from robustbench_liver.display import (
    SOFT_TISSUE_WINDOW,
    axial,
    axial_aspect,
    coronal,
    coronal_aspect,
)

EXAMPLE = """\
example:
  robustbench-liver phantom --seed 7 --out phantom7/

writes phantom7/ct.nii.gz (HU), labels.nii.gz (organs, see labels.json; 2 is kept free
for tumors), liver.nii.gz (the liver mask the suite uses, intrahepatic vessels included),
phantom.png (an axial and a coronal slice) and phantom.json (the sampled anatomy).
Reload it with: load_scan("ct.nii.gz", labels="labels.nii.gz", liver="liver.nii.gz",
vessel_labels=(3, 4, 5))
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "phantom",
        help="write the built-in phantom abdomen (NIfTI + PNG)",
        description="Write the built-in procedural abdomen: a healthy-liver base scan.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=0, help="anatomy and noise seed (default 0)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--shape", type=int, nargs=3, metavar=("X", "Y", "Z"), help="grid size")
    parser.add_argument("--spacing", type=float, nargs=3, metavar=("SX", "SY", "SZ"), help="mm")
    parser.add_argument("--liver-volume-ml", type=float, help="target liver volume (ml)")
    parser.add_argument("--noise-std", type=float, help="image noise (HU standard deviation)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.io import save_nifti
    from robustbench_liver.sources.phantom import LABELS, generate_phantom

    options = {
        key: value
        for key, value in {
            "shape": tuple(args.shape) if args.shape else None,
            "spacing": tuple(args.spacing) if args.spacing else None,
            "liver_volume_ml": args.liver_volume_ml,
            "noise_std": args.noise_std,
        }.items()
        if value is not None
    }
    phantom = generate_phantom(args.seed, **options)
    scan = phantom.scan
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    save_nifti(out / "ct.nii.gz", scan.image, scan.affine)
    save_nifti(out / "labels.nii.gz", phantom.labels, scan.affine, kind="label")
    save_nifti(out / "liver.nii.gz", scan.liver.astype(np.uint8), scan.affine, kind="label")
    (out / "labels.json").write_text(json.dumps(LABELS, indent=2) + "\n")
    (out / "phantom.json").write_text(
        json.dumps(dict(scan.provenance), indent=2, default=str) + "\n"
    )
    save_picture(scan.image, scan.liver, scan.spacing, out / "phantom.png", title=scan.id)
    median = float(np.median(scan.image[scan.liver]))
    print(
        f"{scan.id}: grid {scan.shape} at {scan.spacing} mm, liver {scan.liver_volume_ml:.0f} ml "
        f"at median {median:.0f} HU -> {out}"
    )
    return 0


def save_picture(image, liver, spacing, path: Path, title: str = "") -> None:
    """An axial slice through the liver's widest part and a coronal slice through its centre."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = int(np.argmax(liver.sum(axis=(0, 1))))
    j = int(np.round(np.nonzero(liver)[1].mean()))
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), gridspec_kw={"width_ratios": [1, 1]})
    lo, hi = SOFT_TISSUE_WINDOW
    axes[0].imshow(axial(image, k), cmap="gray", vmin=lo, vmax=hi, aspect=axial_aspect(spacing))
    axes[0].set_title(f"axial, slice {k}")
    axes[1].imshow(coronal(image, j), cmap="gray", vmin=lo, vmax=hi, aspect=coronal_aspect(spacing))
    axes[1].set_title(f"coronal, row {j}")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.01, 0.5, "R", transform=ax.transAxes, color="yellow", va="center")
        ax.text(0.97, 0.5, "L", transform=ax.transAxes, color="yellow", va="center")
    fig.suptitle(f"{title}   window [{lo:.0f}, {hi:.0f}] HU")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
