"""`robustbench-liver evaluate`: score a folder of NIfTI predictions made by any tool.

Test-set contract (what `synth` writes; MSD / nnU-Net layout): `GT/labelsTs/<case_id>.nii.gz`
(uint8: 0 background, 1 liver, 2 tumor) and optionally `GT/cases.csv` with at least the
columns case_id, condition, base_scan, replicate, is_control. Predictions are
`PRED/<case_id>.nii.gz` on the ground truth's voxel grid; other files are ignored.
"""

from __future__ import annotations

import argparse
import sys
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustbench_liver.metrics.case import MetricOptions as _Scoring

SCORING = _Scoring()

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from robustbench_liver.metrics import MetricOptions
    from robustbench_liver.metrics.case import PredictionKind

SUFFIX = ".nii.gz"
CASES_COLUMNS = ("case_id", "condition", "base_scan", "replicate", "is_control")
# `label_hint`: label 1 within this median share of the liver looks like tumor, above
# LIVER_LIKE like the liver itself; the label must lie mostly inside the liver for either
TUMOR_LIKE = 0.3
LIVER_LIKE = 0.5
MOSTLY_INSIDE = 0.5


@dataclass(frozen=True)
class LabelCounts:
    """What one scored label-map prediction holds: the evidence `label_hint` reads."""

    has_tumor_label: bool
    """Some voxel is 2 (then the other counts are not taken)."""
    label1: int = 0
    """Voxels labelled 1."""
    label1_in_liver: int = 0
    """Of those, the ones inside the ground-truth liver (label 1 or 2)."""
    liver: int = 0
    """Ground-truth liver voxels, tumor included."""


def label_counts(pred: np.ndarray, gt: np.ndarray) -> LabelCounts:
    """The `LabelCounts` of one label-map prediction against its ground truth."""
    if (pred == 2).any():
        return LabelCounts(has_tumor_label=True)
    ones = pred == 1
    liver = gt > 0
    return LabelCounts(
        has_tumor_label=False, label1=int(ones.sum()),
        label1_in_liver=int((ones & liver).sum()), liver=int(liver.sum()),
    )  # fmt: skip


def label_hint(counts: Sequence[LabelCounts]) -> str | None:
    """A warning when no prediction holds the tumor label 2 but some hold label 1 (binary
    tumor masks, or liver masks without tumor), with its evidence; None when nothing is off."""
    import numpy as np

    if any(c.has_tumor_label for c in counts):
        return None
    ones = [c for c in counts if c.label1 > 0]
    if not ones:
        return None
    inside = float(np.median([c.label1_in_liver / c.label1 for c in ones]))
    shares = [c.label1_in_liver / c.liver for c in ones if c.liver > 0]
    share = float(np.median(shares)) if shares else float("nan")
    evidence = (
        "no prediction has label 2 (tumor), so every case is scored as finding no tumor "
        f"(DSC 0 on tumor cases). {len(ones)} of {len(counts)} scored case(s) have label 1 "
        f"only; a median {inside:.0%} of it lies inside the ground-truth liver and it covers "
        f"a median {share:.1%} of the liver"
    )
    if inside >= MOSTLY_INSIDE and share < TUMOR_LIKE:
        return (
            f"{evidence}, as tumors do: these look like binary tumor masks. "
            "If label 1 is tumor, run again with --tumor-label 1."
        )
    if inside >= MOSTLY_INSIDE and share >= LIVER_LIKE:
        return (
            f"{evidence}: these look like liver masks without tumor (the model found none, "
            "or wrote its tumors somewhere else). If label 1 is tumor, pass --tumor-label 1."
        )
    return f"{evidence}. If label 1 is tumor, run again with --tumor-label 1."


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="score NIfTI predictions from any tool against a test set",
        description=(
            "Score a folder of predictions against a test set in MSD / nnU-Net layout.\n"
            "Predictions must be named <case_id>.nii.gz (no _0000 channel suffix) and lie on\n"
            "the ground truth's voxel grid; they are label maps (0 background, 1 liver,\n"
            "2 tumor) unless --tumor-label 1 or --probability says otherwise; label maps with\n"
            "label 1 but no label 2 in any case get a warning saying what they look like.\n"
            "Missing, extra, misshapen, non-finite or non-binary predictions are reported per\n"
            "case and the rest is scored. Exit code 0 when every case was scored, 1 otherwise."
        ),
        epilog=(
            "example:\n"
            "  robustbench-liver evaluate --pred nnunet_out/ --gt testset/ --out results.parquet\n"
            "  (case rows -> results.parquet, lesion rows -> results.lesions.parquet)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pred", type=Path, required=True, help="folder of <case_id>.nii.gz")
    parser.add_argument("--gt", type=Path, required=True, help="test set folder (labelsTs/)")
    parser.add_argument(
        "--out", type=Path, default=Path("results.parquet"), help="case rows (Parquet)"
    )
    # the scoring defaults are `run`'s: one set, in metrics.MetricOptions
    parser.add_argument(
        "--nsd-tolerance-mm", type=float, default=SCORING.nsd_tolerance_mm,
        help=f"NSD τ ({SCORING.nsd_tolerance_mm:g})",
    )  # fmt: skip
    parser.add_argument(
        "--min-volume-mm3", type=float, default=SCORING.min_volume_mm3,
        help="case-level detection: smallest predicted tumor volume called positive "
        f"({SCORING.min_volume_mm3:g})",
    )  # fmt: skip
    parser.add_argument("--lesion-rule", choices=("overlap", "iou"), default=SCORING.lesion_rule)
    parser.add_argument(
        "--iou-threshold", type=float, default=SCORING.iou_threshold,
        help=f"with --lesion-rule iou ({SCORING.iou_threshold:g})",
    )  # fmt: skip
    parser.add_argument(
        "--tumor-label", type=int, choices=(1, 2), default=2,
        help="tumor value in the predictions: 2 (label map, default) or 1 (binary mask)",
    )  # fmt: skip
    parser.add_argument(
        "--probability", action="store_true",
        help="predictions are tumor probabilities in [0, 1] (tumor where p >= --threshold)",
    )  # fmt: skip
    parser.add_argument("--threshold", type=float, default=0.5, help="with --probability")
    parser.add_argument("--n-resamples", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.set_defaults(func=run)


def _case_ids(folder: Path) -> list[str]:
    # *.part.nii.gz: a file still being written (synth writes labels that way)
    names = [p.name for p in folder.glob(f"*{SUFFIX}") if p.is_file()]
    return sorted(n[: -len(SUFFIX)] for n in names if not n.endswith(f".part{SUFFIX}"))


def _as_bool(values: pd.Series, path: Path) -> pd.Series:
    words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    text = values.astype(str).str.strip().str.lower()
    bad = sorted(set(text[~text.isin(words)]))
    if bad:
        from robustbench_liver.errors import DataError

        raise DataError(f"column is_control has values {bad[:5]}; use true/false", path=path)
    return text.map(words).astype(bool)


def read_test_set(gt: Path) -> pd.DataFrame:
    """One row per ground-truth case: case_id, condition, base_scan, replicate, is_control."""
    import pandas as pd

    from robustbench_liver.errors import DataError

    labels = gt / "labelsTs"
    if not labels.is_dir():
        raise DataError(
            "no labelsTs/ folder", path=gt,
            hint="--gt must be a test set in MSD layout: labelsTs/<case_id>.nii.gz",
        )  # fmt: skip
    ids = _case_ids(labels)
    if not ids:
        raise DataError(f"no *{SUFFIX} label files", path=labels)
    csv = gt / "cases.csv"
    if not csv.exists():
        # each case its own cluster; control = no tumor in the label (filled in after scoring)
        return pd.DataFrame(
            {"case_id": ids, "condition": "all", "base_scan": ids, "replicate": 0,
             "is_control": pd.NA}
        )  # fmt: skip
    cases = pd.read_csv(csv, dtype={"case_id": str, "condition": str, "base_scan": str})
    missing = [c for c in CASES_COLUMNS if c not in cases.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}", path=csv, hint=f"needs {CASES_COLUMNS}")
    if cases["case_id"].duplicated().any():
        dup = cases.loc[cases["case_id"].duplicated(), "case_id"].iloc[0]
        raise DataError(f"case_id {dup!r} appears more than once", path=csv)
    unlabelled = sorted(set(cases["case_id"]) - set(ids))
    unlisted = sorted(set(ids) - set(cases["case_id"]))
    if unlabelled or unlisted:
        raise DataError(
            f"cases.csv and labelsTs/ disagree: {len(unlabelled)} case(s) without a label "
            f"file {unlabelled[:3]}, {len(unlisted)} label file(s) not in cases.csv "
            f"{unlisted[:3]}",
            path=csv,
        )
    cases["is_control"] = _as_bool(cases["is_control"], csv)
    return cases.sort_values("case_id").reset_index(drop=True)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    import numpy as np

    from robustbench_liver.io.volume import open_nifti

    image = open_nifti(path)  # the header checked (size, spacing) before the voxels are read
    data = np.asanyarray(image.dataobj)
    zooms = tuple(float(z) for z in image.header.get_zooms()[:3])
    return data, np.asarray(image.affine, dtype=np.float64), zooms  # type: ignore[return-value]


def refuse_ground_truth_links(pred: Path, gt: Path, case_ids: Sequence[str]) -> None:
    """Refuse predictions that are the ground truth: a prediction folder inside labelsTs/,
    or prediction files that are symlinks (or hard links) to label files. Each would score
    as a perfect model. Real paths are compared, so links through other folders count."""
    import os

    from robustbench_liver.errors import DataError

    labels = (gt / "labelsTs").resolve()
    if pred.resolve().is_relative_to(labels):
        raise DataError(
            f"the prediction folder is the ground truth's {labels} (or inside it)",
            path=pred,
            hint="--pred is the folder the model wrote its outputs to",
        )
    linked = []
    for case_id in case_ids:
        path = pred / f"{case_id}{SUFFIX}"
        if not path.exists():
            continue
        real = path.resolve()
        label = gt / "labelsTs" / f"{case_id}{SUFFIX}"
        if real.is_relative_to(labels) or (label.exists() and os.path.samefile(path, label)):
            linked.append(f"{path.name} -> {real}")
    if linked:
        more = f" and {len(linked) - 3} more" if len(linked) > 3 else ""
        raise DataError(
            f"{len(linked)} prediction(s) are links to the ground truth's label files, so they "
            f"would score as perfect: {', '.join(linked[:3])}{more}",
            path=pred,
            hint="predictions must be files the model wrote; nothing was scored",
        )


def _hint_for_missing(case_id: str, pred: Path) -> str:
    for name in (f"{case_id}_0000{SUFFIX}", f"{case_id}.nii"):
        if (pred / name).exists():
            return f"found {name}: rename it to {case_id}{SUFFIX}"
    return f"expected {pred / (case_id + SUFFIX)}"


def score_folder(
    args: argparse.Namespace, cases: pd.DataFrame, survey: list[LabelCounts] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Score every case of the test set; failures become rows with status and error.

    Args:
        survey: when given, collects the `LabelCounts` of every label map scored with tumor
            label 2 (for `label_hint`).
    """
    from robustbench_liver.cli.progress import Progress
    from robustbench_liver.metrics import MetricOptions

    options = MetricOptions(
        nsd_tolerance_mm=args.nsd_tolerance_mm, min_volume_mm3=args.min_volume_mm3,
        lesion_rule=args.lesion_rule, iou_threshold=args.iou_threshold,
        probability_threshold=args.threshold, tumor_label=args.tumor_label,
    )  # fmt: skip
    case_rows: list[dict[str, Any]] = []
    lesion_rows: list[dict[str, Any]] = []
    with Progress(len(cases), "evaluate") as bar:
        # only the contract's columns go into the rows (cases.csv may carry tumor records)
        for record in cases[list(CASES_COLUMNS)].to_dict("records"):
            case, lesions = _score_one(args, record, options, survey)
            bar.advance(failed=case["status"] != "ok")
            case_rows.append(case)
            lesion_rows.extend(lesions)
    return case_rows, lesion_rows


def _score_one(
    args: argparse.Namespace,
    record: dict[str, Any],
    options: MetricOptions,
    survey: list[LabelCounts] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The case row and lesion rows of one case; a failure is a case row with its status."""
    import numpy as np
    from nibabel.filebasedimages import ImageFileError

    from robustbench_liver.errors import DataError
    from robustbench_liver.metrics import (
        PredictionError,
        failed_case,
        failed_case_row,
        score_case,
    )

    # what nibabel raises for a file it cannot read (truncated gzip, bad header, not NIfTI),
    # and the header checks of `open_nifti` (size past the budget, zero or NaN spacing)
    unreadable = (ImageFileError, OSError, EOFError, ValueError, zlib.error, DataError)
    case_id = str(record["case_id"])
    extra = {k: v for k, v in record.items() if k != "case_id"}

    gt_path = args.gt / "labelsTs" / f"{case_id}{SUFFIX}"
    try:
        gt, gt_affine, spacing = _load(gt_path)
    except unreadable as err:
        return failed_case_row(case_id, "bad_ground_truth", f"{gt_path}: {err}", extra), []

    def failed(status: str, message: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        # the model's failure: scored as a miss, so its lesions are kept (not found)
        try:
            scores = failed_case(
                case_id, status, message, gt, spacing, options=options, extra=extra
            )
        except DataError as err:
            return failed_case_row(case_id, "bad_ground_truth", f"{gt_path}: {err}", extra), []
        return scores.case, scores.lesions

    path = args.pred / f"{case_id}{SUFFIX}"
    if not path.exists():
        hint = _hint_for_missing(case_id, args.pred)
        return failed("missing", f"no prediction for case {case_id!r} ({hint})")
    try:
        pred, pred_affine, _ = _load(path)
    except unreadable as err:
        return failed("unreadable", f"{path}: {err}")
    if pred.shape == gt.shape and not np.allclose(pred_affine, gt_affine, atol=1e-3):
        return failed("misaligned", f"{path}: affine differs from the ground truth's")
    kind: PredictionKind = "probability" if args.probability else "labels"
    try:
        scores = score_case(
            pred, gt, spacing, case_id=case_id, options=options, kind=kind, extra=extra
        )
    except PredictionError as err:
        return failed(err.status, f"{path}: {err}")
    except DataError as err:
        return failed("bad_ground_truth", f"{gt_path}: {err}")
    if survey is not None and kind == "labels" and options.tumor_label == 2:
        survey.append(label_counts(pred, gt))
    return scores.case, scores.lesions


def summary_table(rows: pd.DataFrame, lesions: pd.DataFrame, n_resamples: int, seed: int) -> str:
    """Per condition: cases, failures, and the run summary's metrics with their intervals
    (`runs.summary.scores`, the function `run` and `report` score through: failures counted)."""
    from robustbench_liver.metrics.registry import HEADLINE, label
    from robustbench_liver.runs.summary import fmt_cell, scores
    from robustbench_liver.stats.intervals import policy

    table = scores(rows, lesions, by=("condition",), resamples=n_resamples, seed=seed)
    index = {(r["condition"], r["metric"]): r for _, r in table.iterrows()}
    head = ["condition", "n", "failed", *(label(m) for m in HEADLINE)]
    lines = []
    for condition, group in rows.groupby("condition", sort=True, dropna=False):
        n_ok = int((group["status"] == "ok").sum())
        cells = [str(condition), str(n_ok), str(len(group) - n_ok)]
        for metric in HEADLINE:
            r = index.get((condition, metric))
            cells.append(
                "-"
                if r is None
                else fmt_cell(r["estimate"], r["ci_low"], r["ci_high"], r["ci_method"])
            )
        lines.append(cells)
    widths = [max(len(x) for x in col) for col in zip(head, *lines, strict=True)]

    def render(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    note = policy(resamples=n_resamples) + " Failed predictions count as misses."
    return "\n".join([render(head), *(render(cells) for cells in lines), note])


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from robustbench_liver.errors import DataError
    from robustbench_liver.metrics import ToleranceBelowSpacingWarning
    from robustbench_liver.runs.store import atomic_write_parquet

    if not args.pred.is_dir():
        raise DataError("prediction folder not found", path=args.pred)
    if args.out.suffix != ".parquet":
        raise DataError("--out must end in .parquet", path=args.out)
    cases = read_test_set(args.gt)
    refuse_ground_truth_links(args.pred, args.gt, list(cases["case_id"]))
    survey: list[LabelCounts] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ToleranceBelowSpacingWarning)
        case_rows, lesion_rows = score_folder(args, cases, survey)
    for message in sorted({str(w.message) for w in caught}):
        print(f"warning: {message}", file=sys.stderr)

    extra_ids = sorted(set(_case_ids(args.pred)) - set(cases["case_id"]))
    for case_id in extra_ids:
        message = f"prediction {case_id}{SUFFIX} matches no case of the test set"
        case_rows.append({"case_id": case_id, "status": "extra", "error": message})
    rows = pd.DataFrame(case_rows)
    for column in ("has_tumor", "predicted_positive", "is_control"):
        if column in rows:  # failed rows leave gaps: nullable booleans keep Parquet typed
            rows[column] = rows[column].astype("boolean")
    if rows["is_control"].isna().all() and "has_tumor" in rows:
        # no cases.csv: a case is a control when its ground truth has no tumor
        rows["is_control"] = ~rows["has_tumor"]
    lesions = pd.DataFrame(lesion_rows)
    atomic_write_parquet(args.out, rows)
    lesion_path = args.out.with_name(args.out.name[: -len(".parquet")] + ".lesions.parquet")
    atomic_write_parquet(lesion_path, lesions)

    scored = rows[rows["status"] != "extra"]
    print(summary_table(scored, lesions, args.n_resamples, args.seed))
    failed = scored[scored["status"] != "ok"]
    for _, row in failed.iterrows():
        print(f"failed: {row['case_id']}: {row['status']}: {row['error']}", file=sys.stderr)
    if extra_ids:
        print(
            f"note: {len(extra_ids)} prediction(s) match no case: {extra_ids[:5]}", file=sys.stderr
        )
    hint = label_hint(survey)
    if hint is not None:  # scoring stays as asked: the user picks --tumor-label
        print(f"warning: {hint}", file=sys.stderr)
    print(
        f"wrote {args.out} ({len(rows)} case rows) and {lesion_path} ({len(lesions)} lesion rows)"
    )
    return 1 if len(failed) else 0
