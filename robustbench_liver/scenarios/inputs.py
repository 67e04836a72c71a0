"""What `validate` checks of a scenario's file inputs before anything runs: every base scan
it lists exists and its headers (image, labels, liver mask) pass the readers' checks (size
within the voxel and memory budget, finite non-zero spacing). Headers only: no voxel is read.
"""

from __future__ import annotations

from pathlib import Path

from robustbench_liver.errors import DataError, ScenarioError
from robustbench_liver.io.volume import check_header
from robustbench_liver.scenarios.load import Scenario
from robustbench_liver.scenarios.plan import base_scans
from robustbench_liver.sources.refs import ScanRef

SHOWN = 20
"""Problems listed at most (the count of the rest follows)."""


def check_inputs(scenario: Scenario, data_root: str | Path | None) -> list[ScanRef]:
    """The scenario's base scans, each file's header checked; one ScenarioError lists every
    problem found (up to `SHOWN`)."""
    refs = base_scans(scenario, data_root)
    problems: list[tuple[str, int | None, str]] = []
    for ref in refs:
        if ref.kind != "file":
            continue  # a phantom's options were checked with the schema
        for name, value in ref.args:
            if name in ("image_path", "labels", "liver"):
                try:
                    check_header(value)
                except DataError as err:
                    problems.append(("base_scans", None, f"scan {ref.id}: {err}"))
    if problems:
        more = len(problems) - SHOWN
        if more > 0:
            problems = [*problems[:SHOWN], ("base_scans", None, f"... and {more} more")]
        raise ScenarioError(scenario.path, problems)
    return refs
