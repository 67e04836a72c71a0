"""`robustbench-liver compare`: paired differences between two models of a run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from robustbench_liver.metrics.registry import METRICS

if TYPE_CHECKING:
    import pandas as pd

    from robustbench_liver.report.rundata import RunData

# metrics a failure counts in (as a miss) that pair up case by case; a lesion metric pairs
# through each case's share of lesions found. Precision, false positives and HD95 leave
# failures out, so two models' values would not stand on the same cases.
PAIRED = tuple(m.name for m in METRICS if m.on_failure is not None and m.table != "components")
DEFAULT_METRICS = ("dsc", "nsd", "case_sensitivity")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "compare",
        help="paired model differences per condition, with CIs and p-values",
        description=(
            "Compare two models on the same cases of a run folder: differences A - B per\n"
            "scenario and condition (conditions in sweep order), paired by case, bootstrap\n"
            "and sign-flip by base scan, p-values adjusted (Holm by default).\n"
            "A failed prediction (crash, timeout, missing, misshapen, ...) counts as a miss:\n"
            "DSC = NSD = 0 and no lesion found on a tumor case, a false positive on a control.\n"
            f"Metrics (--metrics): {', '.join(PAIRED)}.\n"
            "lesion_sensitivity is compared through each case's share of its lesions found."
        ),
        epilog=(
            "example:\n"
            "  robustbench-liver compare runs/quick --models unet-synth hu-threshold\n"
            "  robustbench-liver compare runs/quick --models unet-synth hu-threshold \\\n"
            "      --metrics dsc lesion_sensitivity"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUNDIR")
    parser.add_argument("--models", nargs=2, required=True, metavar=("A", "B"))
    parser.add_argument(
        "--metrics", nargs="+", default=list(DEFAULT_METRICS), metavar="METRIC",
        help=f"one or more of {', '.join(PAIRED)} (default: {' '.join(DEFAULT_METRICS)})",
    )  # fmt: skip
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--correction", choices=("holm", "bh", "none"), default="holm")
    parser.set_defaults(func=run)


def _check_metrics(names: list[str]) -> None:
    from robustbench_liver.errors import RobustBenchError, did_you_mean
    from robustbench_liver.metrics.registry import BY_NAME

    for name in names:
        if name in PAIRED:
            continue
        if name not in BY_NAME:  # an unknown name says which can be compared
            raise RobustBenchError("--metrics: " + did_you_mean(name, PAIRED, "metric"))
        raise RobustBenchError(
            f"--metrics {name}: not compared case by case with failures counted; "
            f"choose from {', '.join(PAIRED)}"
        )


def _sweep_order(table: pd.DataFrame, data: RunData, metrics: list[str]) -> pd.DataFrame:
    """Rows by scenario, then metric as asked, then condition in the sweep's order (the
    manifest's; a condition it does not list goes last)."""
    from robustbench_liver.errors import DataError

    rank: dict[tuple[str, str], int] = {}
    for scenario in table["scenario"].unique():
        try:
            conditions = data.scenario(str(scenario)).conditions
        except DataError:
            conditions = ()
        rank.update({(str(scenario), c): i for i, c in enumerate(conditions)})
    last = len(rank)
    keys = table.assign(
        _metric=table["metric"].map({m: i for i, m in enumerate(metrics)}),
        _condition=[
            rank.get((str(s), str(c)), last)
            for s, c in zip(table["scenario"], table["condition"], strict=True)
        ],
    )
    ordered = keys.sort_values(["scenario", "_metric", "_condition", "condition"], kind="stable")
    return ordered.drop(columns=["_metric", "_condition"]).reset_index(drop=True)


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.errors import RobustBenchError, did_you_mean
    from robustbench_liver.report.rundata import load_run
    from robustbench_liver.runs.summary import PAIRED_LESION, fmt_cell, model_differences
    from robustbench_liver.stats import unreachable_significance

    a, b = args.models
    if a == b:
        raise RobustBenchError(
            f"--models {a} {b}: compare needs two different models (a model against itself "
            "has no difference to test)"
        )
    _check_metrics(args.metrics)
    data = load_run(args.run_dir)
    cases = data.cases
    known = set(cases["model"]) if not cases.empty else set()
    for name in args.models:
        if name not in known:
            raise RobustBenchError(f"{args.run_dir}: " + did_you_mean(name, known, "model"))
    metrics = list(dict.fromkeys(args.metrics))  # a name given twice is compared once
    table = model_differences(cases, a, b, metrics, args.resamples, args.correction)
    if table.empty:
        print(f"{a} and {b} share no scored case to compare")
        return 0
    table = _sweep_order(table, data, metrics)
    # the interval, or why there is none ('no CI: 2 base scans, needs at least 12')
    table["difference [95% CI]"] = [
        fmt_cell(r.difference, r.ci_low, r.ci_high, r.ci_method) for r in table.itertuples()
    ]
    columns = ["scenario", "condition", "metric", "n_pairs", "difference [95% CI]"]
    columns += ["p_value", "p_adjusted"]
    print(f"{a} - {b} (positive: {a} is higher; failed predictions count as misses)")
    if "lesion_sensitivity" in metrics:
        print(
            "lesion_sensitivity is compared through each case's share of lesions found "
            f"({PAIRED_LESION}): lesions of two models pair up by case, not one by one"
        )
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for scenario, tests in table.groupby("scenario", sort=True):
        gap = unreachable_significance(tests, args.resamples, args.correction, alpha=0.05)
        if gap is not None:
            clusters, n_tests, floor = gap
            print(
                f"note: {scenario} has at most {clusters} base scans per comparison, so no "
                f"adjusted p-value of its {n_tests} comparisons can fall below {floor:.2g}; "
                "add base scans for a test with power."
            )
    return 0
