"""`robustbench-liver leaderboard`: run folders -> leaderboard.json, .md and .html; --verify
recomputes every score of an existing leaderboard from the runs' rows."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = """\
examples:
  robustbench-liver leaderboard runs/quick runs/size --out board/
  robustbench-liver leaderboard runs/quick runs/size --out board/ --verify

Each scenario version (name, version, hash) gets its own board: runs of different versions
are shown apart, never ranked together. The same model on the same scenario version in two
run folders is refused. --verify writes nothing: it checks board/leaderboard.json against the
schema and recomputes every number from the runs' per-case rows; exit code 1 on any mismatch.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "leaderboard",
        help="build (or --verify) a leaderboard from run folders",
        description="A versioned, verifiable leaderboard: JSON, Markdown and a static HTML page.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUNDIR")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="check OUT/leaderboard.json against the runs instead of writing it",
    )
    parser.add_argument(
        "--resamples", type=int, help="bootstrap resamples (default: each scenario's statistics)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.errors import RobustBenchError
    from robustbench_liver.report.leaderboard import (
        build_leaderboard,
        read_leaderboard,
        verify_or_raise,
        write_leaderboard,
    )

    if args.verify:
        if args.resamples is not None:
            raise RobustBenchError(
                "--verify uses the leaderboard's own resamples; drop --resamples"
            )
        document = read_leaderboard(args.out)
        verify_or_raise(document, args.run_dirs)
        n = sum(len(b["entries"]) for b in document["boards"])
        print(f"{args.out / 'leaderboard.json'}: all {n} entries match their run folders")
        return 0
    if args.resamples is not None and args.resamples < 100:
        raise RobustBenchError(f"--resamples must be at least 100, got {args.resamples}")
    document = build_leaderboard(args.run_dirs, resamples=args.resamples)
    written = write_leaderboard(document, args.out)
    boards = ", ".join(f"{b['scenario']} v{b['version']}" for b in document["boards"])
    print(f"{len(document['boards'])} board(s) ({boards}) -> " + ", ".join(map(str, written)))
    return 0
