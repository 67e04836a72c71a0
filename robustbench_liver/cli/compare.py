"""`robustbench-liver compare`: paired differences between two models of a run."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "compare",
        help="paired model differences per condition, with CIs and p-values",
        description="Compare two models on the same cases, failed predictions counted as "
        "misses (paired by case, "
        "bootstrap and sign-flip by base scan, Holm-adjusted).",
        epilog="example:\n  robustbench-liver compare runs/quick --models unet-synth hu-threshold",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUNDIR")
    parser.add_argument("--models", nargs=2, required=True, metavar=("A", "B"))
    parser.add_argument("--metrics", nargs="+", default=["dsc", "nsd", "case_sensitivity"])
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--correction", choices=("holm", "bh", "none"), default="holm")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.errors import RobustBenchError, did_you_mean
    from robustbench_liver.runs.store import RunStore
    from robustbench_liver.runs.summary import fmt_cell, model_differences
    from robustbench_liver.stats import unreachable_significance

    cases, _ = RunStore(args.run_dir).tables()
    known = set(cases["model"]) if not cases.empty else set()
    for name in args.models:
        if name not in known:
            raise RobustBenchError(f"{args.run_dir}: " + did_you_mean(name, known, "model"))
    from robustbench_liver.metrics.registry import metric
    from robustbench_liver.runs.summary import PAIRED_LESION

    for name in args.metrics:  # an unknown name says which exist
        if metric(name).table != "cases" and name != "lesion_sensitivity":
            raise RobustBenchError(
                f"--metrics {name}: not compared case by case; choose from dsc, nsd, "
                "case_sensitivity, case_specificity, lesion_sensitivity"
            )
    a, b = args.models
    table = model_differences(cases, a, b, args.metrics, args.resamples, args.correction)
    if table.empty:
        print(f"{a} and {b} share no scored case to compare")
        return 0
    # the interval, or why there is none ('no CI: 2 base scans, needs at least 12')
    table["difference [95% CI]"] = [
        fmt_cell(r.difference, r.ci_low, r.ci_high, r.ci_method) for r in table.itertuples()
    ]
    columns = ["scenario", "condition", "metric", "n_pairs", "difference [95% CI]"]
    columns += ["p_value", "p_adjusted"]
    print(f"{a} - {b} (positive: {a} is higher; failed predictions count as misses)")
    if "lesion_sensitivity" in args.metrics:
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
