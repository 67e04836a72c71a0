"""Which cases a model was scored on: a leaderboard ranks like with like, so a board holds
only entries with the same case set, and says how the case sets on other boards differ."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from robustbench_liver.report.digest import plain, rows_digest

IDENTITY = ("case_id", "condition", "base_scan", "replicate", "is_control", "base_scan_digest")
"""What makes a case the case it is, not what a model made of it. base_scan_digest (the base
scan's image digest, in rows of runs since it was added) tells another data root holding
other images under the same file names apart."""
SEEN = "seen_in_training"
"""Boolean column of case and lesion rows: the model saw this case's base scan in training.
Absent in older runs, read as False."""
_SHOWN = 4  # names listed in a note before '…'


@dataclass(frozen=True)
class CaseSet:
    """The identity of the cases one model has rows for on one scenario (failed ones too)."""

    sha256: str
    """rows_digest of the IDENTITY columns, one row per case."""
    ids: frozenset[str]
    conditions: frozenset[str]
    base_scans: frozenset[str]
    images: frozenset[tuple[str, str]]
    """(base scan id, image digest or '') pairs."""
    tumor_cases: int
    controls: int

    @property
    def cases(self) -> int:
        return len(self.ids)

    def counts(self) -> dict[str, Any]:
        """The schema's `case_set` object (lesions are added per entry)."""
        return {
            "sha256": self.sha256,
            "cases": self.cases,
            "tumor_cases": self.tumor_cases,
            "controls": self.controls,
            "base_scans": len(self.base_scans),
        }

    def summary(self) -> str:
        """'6 cases (4 with tumor, 2 controls) from 2 base scans'."""
        return (
            f"{self.cases} cases ({self.tumor_cases} with tumor, {self.controls} controls) "
            f"from {len(self.base_scans)} base scans"
        )


def case_set(cases: pd.DataFrame) -> CaseSet:
    """The case set of one model's case rows on one scenario."""
    present = [c for c in IDENTITY if c in cases.columns]  # older runs lack the image digest
    identity = cases[present].drop_duplicates(subset=["case_id"])
    digests = identity.get("base_scan_digest", pd.Series("", index=identity.index))
    control = identity.get("is_control", pd.Series(False, index=identity.index)).map(
        lambda v: plain(v) is True
    )
    return CaseSet(
        sha256=rows_digest(identity),
        ids=frozenset(str(v) for v in identity["case_id"]),
        conditions=frozenset(str(v) for v in identity["condition"]),
        base_scans=frozenset(str(v) for v in identity["base_scan"]),
        images=frozenset(
            (str(scan), str(plain(digest) or ""))
            for scan, digest in zip(identity["base_scan"], digests, strict=True)
        ),
        tumor_cases=int((~control).sum()),
        controls=int(control.sum()),
    )


def difference(this: CaseSet, other: CaseSet, name: str = "") -> str:
    """How `this` case set differs from `other` (called `name`), in words: '4 of the 6 cases
    of case set 0123456789ab; base scans only here: none, only there: phantom-2'."""
    name = name or f"case set {other.sha256[:12]}"
    a, b = this.ids, other.ids
    if a == b:
        text = f"the same {len(a)} case ids as {name}"
    elif a < b:
        text = f"{len(a)} of the {len(b)} cases of {name}"
    elif a > b:
        text = f"all {len(b)} cases of {name} and {len(a - b)} more"
    else:
        text = (
            f"{len(a & b)} cases in common with {name} ({len(b)} cases), {len(a - b)} only "
            f"here, {len(b - a)} only there"
        )
    for what, mine, theirs in (
        ("base scans", this.base_scans, other.base_scans),
        ("conditions", this.conditions, other.conditions),
    ):
        if mine != theirs:
            text += f"; {what} only here: {_names(mine - theirs)}, only there: " + _names(
                theirs - mine
            )
    if this.base_scans == other.base_scans and this.images != other.images:
        changed = {scan for scan, _ in this.images ^ other.images}
        text += (
            f"; base scans {_names(changed)} are other images under the same names (another "
            "data root?)"
        )
    elif a == b and this.base_scans == other.base_scans:
        text += ", but another condition, replicate or control flag for some of them"
    return text


def seen_rows(table: pd.DataFrame, cases: pd.DataFrame | None = None) -> pd.Series:
    """True for rows marked seen_in_training (absent or missing: False); with `cases`, also
    for lesion rows of a case row that is marked."""
    seen = (
        table[SEEN].map(lambda v: plain(v) is True)
        if SEEN in table.columns
        else pd.Series(False, index=table.index)
    )
    if cases is not None and not table.empty and SEEN in cases.columns:
        marked = cases.loc[seen_rows(cases), ["scenario", "model", "case_id"]]
        keys = set(marked.itertuples(index=False, name=None))
        if keys:
            own = table[["scenario", "model", "case_id"]].itertuples(index=False, name=None)
            seen = seen | pd.Series([k in keys for k in own], index=table.index)
    return seen.astype(bool)


def _names(values: Iterable[str]) -> str:
    names = sorted(values)
    if not names:
        return "none"
    return ", ".join(names[:_SHOWN]) + (f", … ({len(names)} in all)" if len(names) > _SHOWN else "")
