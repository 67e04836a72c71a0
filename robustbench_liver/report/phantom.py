"""Which base scans of a run are the built-in phantom, and what that means for its scores.

Read from the run folder only: the manifest lists each scenario's base scans with their kind
('phantom' or 'file', `sources.refs.ScanRef.describe`); a manifest without that list falls
back to the scenario's sources (all phantom, or none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from robustbench_liver.report.document import Note

PHANTOM = "phantom"
TITLE = "Phantom scores, not patient scores."
MEANING = (
    "Phantom scores rank models on the phantom's synthetic tumors, not on patients: they "
    "show where a model breaks on the phantom, not how it does on real CT."
)
HOW_TO_CALIBRATE = (
    "How far a model's score carries over to real tumors is measured only against real scans "
    "with tumor labels (`robustbench-liver fidelity --model`); pass its calibration.json with "
    "--calibration to show each model's measured synthetic − real gap here."
)


@dataclass(frozen=True)
class PhantomShare:
    """How much of a set of cases was made from phantom base scans."""

    phantom_scans: int
    base_scans: int
    phantom_cases: int
    cases: int

    @property
    def every(self) -> bool:
        return self.base_scans > 0 and self.phantom_scans == self.base_scans

    @property
    def some(self) -> bool:
        return self.phantom_scans > 0

    @property
    def case_share(self) -> float:
        return self.phantom_cases / self.cases if self.cases else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "phantom_base_scans": self.phantom_scans,
            "base_scans": self.base_scans,
            "phantom_cases": self.phantom_cases,
            "cases": self.cases,
            "phantom_share": round(self.case_share, 6),
        }

    def text(self) -> str:
        """'every base scan (4) is the built-in phantom' / '2 of 5 base scans (40 % of the
        cases) are the built-in phantom'."""
        if self.every:
            return f"every base scan ({self.base_scans}) is the built-in procedural phantom"
        return (
            f"{self.phantom_scans} of {self.base_scans} base scans ({self.case_share:.0%} of "
            "the cases) are the built-in procedural phantom, the rest real scans"
        )


def scan_kinds(entry: Mapping[str, Any]) -> dict[str, str]:
    """Base scan id -> 'phantom' or 'file', from a manifest's scenario entry; empty when the
    entry cannot tell scan by scan (then see `source_kinds`)."""
    out = {}
    for scan in entry.get("base_scans") or []:
        if isinstance(scan, Mapping) and scan.get("id") is not None:
            out[str(scan["id"])] = str(scan.get("kind", ""))
    return out


def source_kinds(entry: Mapping[str, Any]) -> set[str]:
    """The kinds of the scenario's base-scan sources ('phantom', 'folder', ...)."""
    sources = (entry.get("spec") or {}).get("base_scans") or []
    return {str(s.get("source", "")) for s in sources if isinstance(s, Mapping)}


def phantom_share(cases: pd.DataFrame, entries: Mapping[str, Mapping[str, Any]]) -> PhantomShare:
    """The share of `cases` (rows with scenario, case_id and base_scan; a case is counted
    once, whatever the number of models) made from phantom base scans, by the manifest
    entries of their scenarios (scenario name -> entry)."""
    phantom: dict[tuple[str, str], bool] = {}
    unique = cases[["scenario", "case_id", "base_scan"]].astype(str).drop_duplicates()
    for (name, scan), _ in unique.groupby(["scenario", "base_scan"]):
        entry = entries.get(name) or {}
        by_scan = scan_kinds(entry)
        if scan in by_scan:
            phantom[(name, scan)] = by_scan[scan] == PHANTOM
        else:  # an older manifest: only all-phantom or no-phantom sources can tell
            phantom[(name, scan)] = source_kinds(entry) == {PHANTOM}
    flags = [phantom[(s, b)] for s, b in zip(unique["scenario"], unique["base_scan"], strict=True)]
    return PhantomShare(
        phantom_scans=sum(phantom.values()),
        base_scans=len(phantom),
        phantom_cases=int(sum(flags)),
        cases=len(unique),
    )


def caveat(share: PhantomShare, calibrated: bool = False) -> str | None:
    """The plain words a page shows near its headline, or None without phantom cases."""
    if not share.some:
        return None
    head = share.text()[0].upper() + share.text()[1:] + "."
    tail = (
        "Each model's measured synthetic − real gap (calibration) is shown beside it."
        if calibrated
        else HOW_TO_CALIBRATE
    )
    mixed = (
        "" if share.every else " Pooled scores mix phantom and real-scan cases in that proportion."
    )
    return f"{head}{mixed} {MEANING} {tail}"


def note(shares: Mapping[str, PhantomShare], calibrated: bool = False) -> Note | None:
    """The call-out for a report of one or more scenarios (name -> its share), or None when
    no case was made from the phantom."""
    with_phantom = {name: share for name, share in shares.items() if share.some}
    if not with_phantom:
        return None
    if len(shares) == 1:
        text = caveat(next(iter(shares.values())), calibrated)
        return None if text is None else Note(TITLE, text)
    parts = [f"scenario {name}: {share.text()}" for name, share in sorted(with_phantom.items())]
    rest = [name for name in sorted(shares) if name not in with_phantom]
    if rest:
        parts.append(f"{', '.join(rest)}: real scans only")
    tail = (
        "Each model's measured synthetic − real gap (calibration) is shown beside it."
        if calibrated
        else HOW_TO_CALIBRATE
    )
    return Note(TITLE, "; ".join(parts) + f". {MEANING} {tail}")
