"""Reports and leaderboards (DESIGN.md §9): a run folder -> Markdown and one self-contained
HTML page; run folders -> a verifiable leaderboard (JSON, Markdown, HTML)."""

from robustbench_liver.report.build import ReportOptions, build_report, write_report
from robustbench_liver.report.calibration import CalibrationFile, read_calibration
from robustbench_liver.report.headline import Headline, detection_by_size, small_tumor_headline
from robustbench_liver.report.leaderboard import (
    build_leaderboard,
    read_leaderboard,
    verify,
    write_leaderboard,
)
from robustbench_liver.report.rundata import RunData, load_run

__all__ = [
    "CalibrationFile",
    "Headline",
    "ReportOptions",
    "RunData",
    "build_leaderboard",
    "build_report",
    "detection_by_size",
    "load_run",
    "read_calibration",
    "read_leaderboard",
    "small_tumor_headline",
    "verify",
    "write_leaderboard",
    "write_report",
]
