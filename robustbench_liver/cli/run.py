"""`robustbench-liver run`: scenarios x models -> a resumable run folder of results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robustbench_liver.cli import add_data_root, add_limit
from robustbench_liver.cli.validate import add_max_conditions

EXAMPLE = """\
examples:
  robustbench-liver run scenarios/quickstart.yaml --model hu-threshold --model unet-synth \\
      --out runs/quick
  robustbench-liver run scenarios/size.yaml --model my_model.yaml --out runs/size --workers 2
  robustbench-liver run scenarios/size.yaml --model nnunet.yaml --out runs/size \\
      --executor dask --dask-address tcp://10.0.0.5:8786

Killed or interrupted? Run the same command again: finished (model, case) pairs are kept.
Failed rows are kept too (a failure is a result); add --retry-failed to run them again.
A run folder holds one version of each scenario on one set of data (the base scans'
content, wherever they are) and one version of each model: a rerun that would mix them is
refused, and names what changed.
Synthesized cases go to a cache shared by all runs (--cache DIR to choose it; prune it with
`robustbench-liver cache --prune`), so the run folder stays small.
Another model later? Run again with it: its rows join the same folder.
Exit code 0 when every case was scored, 3 when some failed (see the summary), 1 on errors.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run",
        help="run scenarios against models into a run folder",
        description="Synthesize each scenario's cases, run each model, and score them.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO")
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        dest="models",
        metavar="NAME_OR_PATH",
        help="registered name, YAML spec, or module:factory",
    )
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local")
    parser.add_argument("--dask-address", help="tcp://HOST:PORT of a Dask scheduler")
    add_limit(parser)
    add_max_conditions(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds per prediction; a model past it is killed and fails that case",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads per worker (default 1)"
    )
    parser.add_argument(
        "--batch",
        type=int,
        help="cases per unit of work (default: the largest batch_size of the models' specs, "
        "e.g. a command tool's, shared out over the workers; else 1)",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="run again the (model, case) pairs whose rows failed (any status but ok: model "
        "errors, timeouts, cases that could not be synthesized); finished rows are kept",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="case cache folder, shared between runs (default: $ROBUSTBENCH_LIVER_CACHE or "
        "~/.cache/robustbench-liver/cases; RUNDIR/cache keeps one run's cases with it)",
    )
    add_data_root(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.cli.progress import RunProgress
    from robustbench_liver.runs.runner import RunOptions
    from robustbench_liver.runs.runner import run as run_all
    from robustbench_liver.runs.summary import summarize, wide
    from robustbench_liver.scenarios import load_scenario
    from robustbench_liver.scenarios.cache import default_root

    scenarios = [load_scenario(p, max_conditions=args.max_conditions) for p in args.scenarios]
    options = RunOptions(
        workers=args.workers,
        executor=args.executor,
        dask_address=args.dask_address,
        limit=args.limit,
        timeout_s=args.timeout,
        threads=args.threads,
        batch=args.batch,
        data_root=None if args.data_root is None else str(args.data_root),
        cache_dir=str(args.cache or default_root()),
        retry_failed=args.retry_failed,
    )
    progress = RunProgress()  # stderr: the plan at once, then a bar or sparse lines
    try:
        summary = run_all(scenarios, args.models, args.out, options, progress)
    finally:
        progress.close()
    sweeps = {s.name: [c.id for c in s.conditions] for s in scenarios}
    table = wide(summarize(summary.cases, summary.lesions), sweeps)
    if not table.empty:
        print(table.to_string(index=False))
    if summary.retried:
        statuses = ", ".join(f"{k}: {n}" for k, n in summary.retried.items())
        print(f"\n{sum(summary.retried.values())} failed rows retried ({statuses})", end="")
    print(
        f"\n{summary.total} (model, case) pairs: {summary.skipped} already done, "
        f"{summary.done} run, {len(summary.failed)} failed -> {args.out}"
    )
    for failure in summary.failed[:10]:
        print(
            f"  FAILED {failure['model']} {failure['case_id']}: {failure['status']}: "
            f"{_first_line(failure['error'])}",
            file=sys.stderr,
        )
    return 3 if summary.failed else 0


def _first_line(error: object, limit: int = 300) -> str:
    """The error's first line (the one that says why), cut at a word; the rows keep it all."""
    line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0] + " …"
