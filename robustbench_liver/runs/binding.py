"""What a run folder is bound to, checked before a run adds rows to it: its scenarios (hash),
its data (the base scans' content digests), its models (card version and weights) and its
folder names. A rerun that would mix rows of two of anything is refused with what changed
and what to do; nothing here deletes a finished row.

Data means content, not paths: the same files under another --data-root resume; other
images (or liver masks) under the same names are refused. Each file scan's digests are read
once per run folder and reused while the files' sizes and modification times stay the same.
Phantoms are named by their seed and options, which the scenario hash covers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.runs.folders import check_distinct, folder_name, legacy_folder
from robustbench_liver.scenarios import Plan
from robustbench_liver.sources.refs import ScanRef

MASKS = ("labels", "liver")
"""Loader arguments naming a base scan's mask files (label map or binary liver mask)."""
NEW_FOLDER = "Use another --out for this run (a new run folder)"


@dataclass(frozen=True)
class ScanData:
    """The content of one file-based base scan, as the manifest records it."""

    image: str | None
    """`image_digest` of the image (None: unreadable)."""
    masks: dict[str, str]
    """Loader argument ('labels', 'liver') -> `image_digest` of that mask file."""
    stat: str
    """Digest of the files' sizes and modification times: unchanged, the digests are reused."""
    error: str = ""


OLD_GENERATORS = {"tumors": "1", "phantom": "1"}
"""What run folders written before generator versions were recorded were made with."""


def generators() -> dict[str, str]:
    """Versions of what makes a case's bytes from its seed: the tumor generator and the
    phantom. A run folder is bound to them as to its scenario hash."""
    from robustbench_liver.sources.phantom import GENERATOR_VERSION as PHANTOM
    from robustbench_liver.synthesis import GENERATOR_VERSION as TUMORS

    return {"tumors": TUMORS, "phantom": PHANTOM}


def check_scenarios(root: Path, plans: Iterable[Plan], manifest: Mapping[str, Any]) -> None:
    """Refuse a scenario whose name the run folder holds with another hash, naming the
    fields of the scenario that changed."""
    for plan in plans:
        s = plan.scenario
        known = (manifest.get("scenarios") or {}).get(s.name)
        if known is None:
            continue
        made = known.get("generators", OLD_GENERATORS)
        if made != generators():
            raise RobustBenchError(
                f"{root} holds cases of scenario {s.name!r} made by generators {made}; this "
                f"package makes {generators()}: the same seeds give other cases, and rows of "
                f"both would mix. {NEW_FOLDER}."
            )
        if known["hash"] == s.hash:
            continue
        fields = _changed(known.get("spec") or {}, s.spec.model_dump(mode="json"))
        raise RobustBenchError(
            f"{root} already holds scenario {s.name!r} with hash {known['hash'][:12]}; "
            f"this file has {s.hash[:12]}"
            + (f" (changed: {', '.join(fields)})" if fields else "")
            + f". {NEW_FOLDER}, or bump the scenario's version."
        )


def check_data(
    root: Path, plans: Iterable[Plan], manifest: Mapping[str, Any]
) -> dict[str, dict[str, ScanData]]:
    """Scenario -> scan id -> its data, for the scenarios the run folder already holds;
    refuses other base scans, or other content under the same ids."""
    found: dict[str, dict[str, ScanData]] = {}
    for plan in plans:
        known = (manifest.get("scenarios") or {}).get(plan.scenario.name)
        if known is None:
            continue
        found[plan.scenario.name] = data = scan_data(plan, known)
        problems = _data_problems(plan, known, data)
        if problems:
            raise RobustBenchError(
                f"{root} holds scenario {plan.scenario.name!r} run on other data than this "
                f"run's: {'; '.join(problems)}. Its finished rows would be mixed with rows "
                f"of other data. {NEW_FOLDER}, or give the --data-root it was made with."
            )
    return found


def scan_data(plan: Plan, known: Mapping[str, Any] | None) -> dict[str, ScanData]:
    """Scan id -> ScanData of each file-based base scan of `plan` (from `known`, the
    manifest's entry, while the files are unchanged)."""
    known = known or {}
    described = {s.get("id"): s for s in known.get("base_scans") or []}
    images = known.get("base_scan_digests") or {}
    masks = known.get("base_scan_mask_digests") or {}
    stats = known.get("base_scan_stats") or {}
    out = {}
    for ref in plan.scans:
        if ref.kind != "file":
            continue
        stat = _stat(ref)
        if (
            stats.get(ref.id) == stat
            and described.get(ref.id) == ref.describe()
            and ref.id in images
            and (ref.id in masks or not _mask_paths(ref))
        ):
            out[ref.id] = ScanData(images[ref.id], dict(masks.get(ref.id) or {}), stat)
        else:
            out[ref.id] = _read(ref, stat)
    return out


def manifest_fields(data: Mapping[str, ScanData]) -> dict[str, Any]:
    """The scenario entry's fields for `data` (unreadable scans left out: their cases fail
    with the reason)."""
    ok = {i: d for i, d in sorted(data.items()) if d.image is not None}
    return {
        "base_scan_digests": {i: d.image for i, d in ok.items()},
        "base_scan_mask_digests": {i: d.masks for i, d in ok.items() if d.masks},
        "base_scan_stats": {i: d.stat for i, d in ok.items()},
    }


def check_models(manifest: Mapping[str, Any], cards: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse a model name the run folder holds with another card version or weights."""
    for name, card in cards.items():
        known = ((manifest.get("models") or {}).get(name) or {}).get("card") or {}
        changed = [
            f"{field} {known[field]!r} there, {card[field]!r} now"
            for field in ("version", "sha256")
            if known.get(field) is not None and card.get(field) is not None
            if str(known[field]) != str(card[field])
        ]
        if changed:
            raise RobustBenchError(
                f"the run folder holds rows of another model named {name!r} "
                f"({'; '.join(changed)}); its finished rows would be mixed with this one's. "
                f"{NEW_FOLDER}, or give the model another name."
            )


def check_folders(
    root: Path, plans: Iterable[Plan], models: Iterable[str], manifest: Mapping[str, Any]
) -> dict[str, dict[str, str]]:
    """The manifest's `folders` (scenario and model names -> folder names) with this run's
    names added. Refuses blank names, names that share a folder on case-insensitive disks,
    and run folders of format 1 holding a name whose old folder other names could share."""
    plans = list(plans)
    scenarios = [*(manifest.get("scenarios") or {}), *(p.scenario.name for p in plans)]
    names = [*(manifest.get("models") or {}), *models]
    if manifest and manifest.get("folders") is None:
        _refuse_legacy(root, manifest)
    for plan in plans:
        check_distinct((c.case_id for c in plan.cases), "case")
    return {
        "scenarios": check_distinct(scenarios, "scenario"),
        "models": check_distinct(names, "model"),
    }


def _refuse_legacy(root: Path, manifest: Mapping[str, Any]) -> None:
    """A run folder written before `folder_name` with a name whose folder differs now."""
    for scenario in manifest.get("scenarios") or {}:
        for model in manifest.get("models") or {}:
            old = Path("parts", legacy_folder(scenario), legacy_folder(model))
            if (root / old).is_dir() and old != Path(
                "parts", folder_name(scenario), folder_name(model)
            ):
                raise RobustBenchError(
                    f"{root} was written by an older robustbench-liver that kept the rows of "
                    f"model {model!r} on scenario {scenario!r} in {old.as_posix()}, a folder "
                    "other names can share, so this run cannot tell whose rows are there. Its "
                    f"tables and reports still read as before. {NEW_FOLDER}."
                )


def _data_problems(plan: Plan, known: Mapping[str, Any], data: Mapping[str, ScanData]) -> list:
    before = {s.get("id"): s for s in known.get("base_scans") or []}
    now = {r.id: r for r in plan.scans}
    problems = []
    if before.keys() != now.keys():
        problems.append(
            f"base scans only in the run folder: {_names(before.keys() - now.keys())}; only "
            f"in this run's data: {_names(now.keys() - before.keys())}"
        )
    images = known.get("base_scan_digests") or {}
    masks = known.get("base_scan_mask_digests") or {}
    for scan, d in sorted(data.items()):
        if scan not in before:
            continue
        was = before[scan].get("image_path", "?")
        if d.image is None:
            if scan in images:
                problems.append(f"base scan {scan!r} cannot be read now ({d.error})")
            continue
        if scan in images and images[scan] != d.image:
            path = dict(now[scan].args).get("image_path")
            problems.append(
                f"base scan {scan!r} is another image (sha256 {images[scan][:12]} in the run "
                f"folder, from {was}; {d.image[:12]} now, from {path})"
            )
        for arg, digest in sorted((masks.get(scan) or {}).items()):
            if d.masks.get(arg, digest) != digest:
                what = "liver mask" if arg == "liver" else "label map"
                problems.append(
                    f"base scan {scan!r} has another {what} (sha256 {digest[:12]} in the run "
                    f"folder, from {before[scan].get(arg, '?')}; {d.masks[arg][:12]} now, from "
                    f"{dict(now[scan].args).get(arg)})"
                )
    return problems


def _read(ref: ScanRef, stat: str) -> ScanData:
    """Digests of the scan's image and mask files (one read each)."""
    from robustbench_liver.sources.refs import image_file_digest

    try:
        image = image_file_digest(dict(ref.args)["image_path"])
        masks = {arg: image_file_digest(path) for arg, path in _mask_paths(ref).items()}
    except RobustBenchError as err:  # unreadable: its cases fail with the reason
        return ScanData(None, {}, stat, str(err))
    return ScanData(image, masks, stat)


def _mask_paths(ref: ScanRef) -> dict[str, str]:
    args = dict(ref.args)
    return {arg: str(args[arg]) for arg in MASKS if args.get(arg)}


def _stat(ref: ScanRef) -> str:
    """Sizes and modification times of the scan's files (a DICOM folder: of each file)."""
    paths = [Path(str(dict(ref.args)["image_path"])), *map(Path, _mask_paths(ref).values())]
    seen = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            try:
                st = f.stat()
                seen.append([str(f), st.st_size, st.st_mtime_ns])
            except OSError:
                seen.append([str(f), None, None])
    return hashlib.sha256(json.dumps(seen).encode()).hexdigest()[:16]


def _changed(before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = "") -> list:
    """Dotted paths (two levels deep) of the fields that differ."""
    out = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict) and not prefix:
            out += _changed(a, b, f"{key}.")
        else:
            out.append(prefix + str(key))
    return out


def _names(values: Iterable[str]) -> str:
    names = sorted(values)
    return ", ".join(names[:4]) + (f", … ({len(names)} in all)" if len(names) > 4 else "") or "none"
