"""`robustbench-liver report`: a run folder -> report.md and one self-contained report.html."""

from __future__ import annotations

import argparse
from pathlib import Path

from robustbench_liver.cli import add_data_root

EXAMPLE = """\
examples:
  robustbench-liver report runs/quick                  # -> runs/quick/report/report.html
  robustbench-liver report runs/size --out reports/size --resamples 2000
  robustbench-liver report runs/size --calibration fidelity/lits/calibration.json

The page holds, per scenario, condition and model: DSC, NSD, case sensitivity, specificity
and lesion sensitivity with CIs, p-values against the reference condition, plots, the
small-tumor headline, failures, and montages of each model's best and worst case (drawn from
the masks the run stored: a report reads the run folder only and never runs a model).
A run on the built-in phantom says so near its headline: phantom scores rank models on the
phantom, not on patients. --calibration (the calibration.json of `fidelity --model`) shows
each model's measured synthetic - real gap beside its headline.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report",
        help="write a run's report (Markdown and one self-contained HTML page)",
        description="Tables, plots and montages of a finished run folder.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUNDIR")
    parser.add_argument("--out", type=Path, help="output folder (default RUNDIR/report)")
    parser.add_argument(
        "--resamples", type=int, help="bootstrap resamples (default: the scenario's statistics)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--no-montages", action="store_true", help="leave the montages out")
    parser.add_argument(
        "--calibration",
        type=Path,
        metavar="FILE",
        help="calibration.json of `fidelity --model`: show each model's measured "
        "synthetic - real gap",
    )
    add_data_root(parser, "where file-based base scans live, for montages")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.cli.progress import Progress
    from robustbench_liver.errors import RobustBenchError
    from robustbench_liver.report import ReportOptions, build_report, load_run, write_report
    from robustbench_liver.report.calibration import read_calibration

    if args.resamples is not None and args.resamples < 100:
        raise RobustBenchError(f"--resamples must be at least 100, got {args.resamples}")
    calibration = None if args.calibration is None else read_calibration(args.calibration)
    data = load_run(args.run_dir)
    options = ReportOptions(
        resamples=args.resamples,
        seed=args.seed,
        montages=not args.no_montages,
        data_root=None if args.data_root is None else str(args.data_root),
        calibration=calibration,
    )
    out = args.out or data.root / "report"
    with Progress(2 * len(data.scenario_names), "report") as bar:
        doc = build_report(data, options, progress=bar.advance)
    written = write_report(doc, out)
    pages = [p for p in written if p.suffix in (".md", ".html")]
    print(f"{len(written) - len(pages)} figures, " + ", ".join(str(p) for p in pages))
    return 0
