"""`robustbench-liver cache`: where the shared case cache is, how big, and pruning it."""

from __future__ import annotations

import argparse
from pathlib import Path

from robustbench_liver.errors import RobustBenchError

EXAMPLE = """\
examples:
  robustbench-liver cache                              # where it is and how big
  robustbench-liver cache --prune --older-than 30      # cases unused for 30 days
  robustbench-liver cache --prune --max-gb 20          # least recently used first, to 20 GB
  robustbench-liver cache --prune                      # every case

Runs and `synth` rebuild a pruned case when they need it again (same bytes), so pruning is
always safe, also while a run uses the cache.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "cache",
        help="show or prune the shared cache of synthesized cases",
        description="Show the case cache's folder and size, or prune it.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="cache folder (default: $ROBUSTBENCH_LIVER_CACHE or ~/.cache/robustbench-liver/cases)",
    )
    parser.add_argument("--prune", action="store_true", help="delete cached cases")
    parser.add_argument(
        "--older-than",
        type=float,
        metavar="DAYS",
        help="with --prune: only cases unused for DAYS days",
    )
    parser.add_argument(
        "--max-gb",
        type=float,
        metavar="N",
        help="with --prune: then the least recently used cases until at most N GB remain",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.cli.progress import size
    from robustbench_liver.scenarios.cache import CaseCache, default_root

    limits = {"--older-than": args.older_than, "--max-gb": args.max_gb}
    for flag, value in limits.items():
        if value is not None and value < 0:
            raise RobustBenchError(f"{flag} must be 0 or more, got {value:g}")
    if not args.prune and any(v is not None for v in limits.values()):
        raise RobustBenchError("--older-than and --max-gb choose what --prune deletes: add --prune")
    root = (args.cache.expanduser() if args.cache else default_root()).resolve()
    cache = CaseCache(root)
    if not args.prune:
        entries, held = cache.usage() if root.is_dir() else (0, 0)
        print(f"{root}: {entries} cases, {size(held)}")
        return 0
    if not root.is_dir():
        print(f"{root}: no cache there, nothing to prune")
        return 0
    everything = args.older_than is None and args.max_gb is None
    result = cache.prune(
        older_than_days=args.older_than,
        max_bytes=0 if everything else None if args.max_gb is None else int(args.max_gb * 1e9),
    )
    print(
        f"{root}: removed {result.removed} cases ({size(result.freed_bytes)}), "
        f"kept {result.kept} ({size(result.kept_bytes)})"
    )
    return 0
