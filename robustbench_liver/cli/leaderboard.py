"""`robustbench-liver leaderboard`: run folders -> leaderboard.json, .md and .html; --verify
recomputes every score of an existing leaderboard from the runs' rows."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = """\
examples:
  robustbench-liver leaderboard runs/quick runs/size --out board/
  robustbench-liver leaderboard runs/quick runs/size --out board/ --verify
  robustbench-liver leaderboard runs/full runs/lim4 --out board/ --same-cases   # refused
  robustbench-liver leaderboard runs/size --out board/ --calibration fidelity/lits/calibration.json

A board holds one scenario version (name, version, hash) run on one case set: runs of
another version, or of the same version on other cases (another --limit, an unfinished run,
other base scans from another data root), get a board of their own with a note saying how
their cases differ; --same-cases refuses them instead (exit code 1). The same model on the
same scenario version and cases in two run folders is refused. Rows marked seen_in_training
(cases whose base scan the model was trained on) are left out of its scores, with a note
counting them; --include-seen keeps them.

Boards whose cases come from the built-in phantom say so: phantom scores rank models on the
phantom, not on patients. --calibration (the calibration.json of `fidelity --model`) puts each
model's measured synthetic - real gap beside its scores; --verify then needs the same file.

--verify writes nothing: it checks board/leaderboard.json against the schema and recomputes
every number from the runs' rows with the board's own settings, and checks each run folder's
part files against its parts.sha256 and its tables (an edited or missing part is named);
exit code 1 on any mismatch.
The row digests cover results and case identity, not timings, error texts or paths, so an
honest re-run of the same scenario in another folder or on another machine verifies.
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
    parser.add_argument(
        "--include-seen",
        action="store_true",
        help="score rows marked seen_in_training too (default: left out, with a note)",
    )
    parser.add_argument(
        "--same-cases",
        action="store_true",
        help="refuse runs of one scenario version on different case sets instead of putting "
        "each case set on a board of its own",
    )
    parser.add_argument(
        "--calibration",
        type=Path,
        metavar="FILE",
        help="calibration.json of `fidelity --model`: each model's measured synthetic - real "
        "gap beside its scores (with --verify: the file the board was built with)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.errors import RobustBenchError
    from robustbench_liver.report.calibration import read_calibration
    from robustbench_liver.report.leaderboard import (
        build_leaderboard,
        read_leaderboard,
        verify_or_raise,
        write_leaderboard,
    )

    calibration = None if args.calibration is None else read_calibration(args.calibration)
    if args.verify:
        settings = {"--resamples": args.resamples is not None, "--include-seen": args.include_seen}
        given = [flag for flag, on in settings.items() if on]
        if given:
            raise RobustBenchError(
                f"--verify uses the leaderboard's own settings; drop {' and '.join(given)}"
            )
        document = read_leaderboard(args.out)
        verify_or_raise(document, args.run_dirs, calibration)
        n = sum(len(b["entries"]) for b in document["boards"])
        print(f"{args.out / 'leaderboard.json'}: all {n} entries match their run folders")
        return 0
    if args.resamples is not None and args.resamples < 100:
        raise RobustBenchError(f"--resamples must be at least 100, got {args.resamples}")
    document = build_leaderboard(
        args.run_dirs,
        resamples=args.resamples,
        include_seen=args.include_seen,
        same_cases=args.same_cases,
        calibration=calibration,
    )
    written = write_leaderboard(document, args.out)
    boards = ", ".join(
        f"{b['scenario']} v{b['version']} ({b['case_set']['cases']} cases)"
        for b in document["boards"]
    )
    print(f"{len(document['boards'])} board(s) ({boards}) -> " + ", ".join(map(str, written)))
    return 0
