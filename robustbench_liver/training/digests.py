"""Digests of the base scans a model was trained on, for its card's `trained_on_scans`.

`robustbench-liver train` writes them into the card it exports. For weights trained before
the field existed, print them from the training config, without training:

    python -m robustbench_liver.training.digests \\
        robustbench_liver/models/weights/unet_synth.train.yaml --data-root ../shared/data

or digest any image (NIfTI file or DICOM folder; no labels needed) with `--image PATH`.
Paste the printed lines under the card's `trained_on_scans:`. A fine-tuning config
(`init_from`) adds the scans its parent model's card lists.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from robustbench_liver.sources.refs import image_digest, image_file_digest
from robustbench_liver.training.config import TrainConfig, load_config
from robustbench_liver.training.data import BaseScans
from robustbench_liver.training.finetune import Parent, load_parent


def base_scan_digests(config: TrainConfig, scans: BaseScans) -> list[tuple[str, str]]:
    """(name, image digest) of every base scan a run may draw (as `BaseScans.describe`
    counts them): each phantom seed, made exactly as training makes it, and each real scan
    when `real_share` is above 0."""
    out = [(f"phantom-{seed}", image_digest(scans.phantom(seed))) for seed in scans.phantom_seeds]
    if config.data.real_share > 0:
        out += [(spec.image, image_digest(scans.real_scan(i))) for i, spec in enumerate(scans.real)]
    return out


def trained_on_digests(
    config: TrainConfig, scans: BaseScans, parent: Parent | None
) -> list[tuple[str, str]]:
    """`base_scan_digests`, then those of the model a fine-tuning run starts from (what the
    parent saw, the model saw too), each once."""
    rows = base_scan_digests(config, scans)
    if parent is not None:
        seen = {d for _, d in rows}
        name = f"via {parent.card.name} version {parent.card.version}"
        rows += [(name, d) for d in parent.card.trained_on_scans if d not in seen]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m robustbench_liver.training.digests",
        description="Print image digests for a model card's trained_on_scans (YAML lines).",
    )
    parser.add_argument("config", nargs="?", type=Path, help="training config (YAML)")
    parser.add_argument("--data-root", type=Path, help="folder of the config's real_scans")
    parser.add_argument(
        "--image", type=Path, action="append", default=[], help="also digest this image"
    )
    args = parser.parse_args(argv)
    if args.config is None and not args.image:
        parser.error("give a training config, --image PATH, or both")
    rows: list[tuple[str, str]] = []
    if args.config is not None:
        config = load_config(args.config)
        parent = load_parent(config.init_from)
        rows += trained_on_digests(config, BaseScans(config, args.data_root), parent)
    rows += [(str(path), image_file_digest(path)) for path in args.image]
    for name, digest in rows:
        print(f"- {digest}  # {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
