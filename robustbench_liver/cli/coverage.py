"""`robustbench-liver coverage`: do the printed 95 % intervals cover? (README, Statistics)"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "coverage",
        help="simulate the coverage of the suite's 95 %% intervals (the README's table)",
        description="Simulate clustered data like a run's rows and measure how often the "
        "suite's 95 %% intervals contain the true value, per kind of metric, number of base "
        "scans and cases per scan. Cells in parentheses are ones where the suite prints no "
        "interval; * marks a proportion cell where no interval can reach 93-97 %%.",
        epilog="example:\n  robustbench-liver coverage --reps 4000 --out coverage.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--reps", type=int, default=4000, help="experiments per cell (4000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    parser.add_argument("--csv", type=Path, help="also write every cell (CSV) here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.errors import RobustBenchError
    from robustbench_liver.stats.coverage import coverage_table, markdown, required_clusters
    from robustbench_liver.stats.intervals import MIN_CLUSTERS

    if args.reps < 100:
        raise RobustBenchError(f"--reps must be at least 100, got {args.reps}")
    table = coverage_table(reps=args.reps, seed=args.seed)
    text = markdown(table)
    needed = required_clusters(table)
    lines = [text, ""]
    for kind, k in needed.items():
        lines.append(
            f"{kind}: covers from {k} base scans (the suite prints from {MIN_CLUSTERS[kind]})"
        )
    print("\n".join(lines))
    if args.out:
        args.out.write_text(text + "\n")
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0
