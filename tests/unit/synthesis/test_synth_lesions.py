"""Tumors that touch after painting merge into one lesion: the records, a warning and the
run-time lesion table say so; tumors kept apart do not."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest
from scipy import ndimage

from robustbench_liver.errors import DataError
from robustbench_liver.runs.lesions import lesion_properties
from robustbench_liver.synthesis import SynthesisWarning, TumorConfig, apply, sample
from robustbench_liver.synthesis.config import LEVELS
from robustbench_liver.types import TumorRecord

SMALL = TumorConfig(sizes=(dataclasses.replace(LEVELS["small"][0], count=(1, 1)),))


def _pair(scan, offset: tuple[int, int, int]) -> list[TumorRecord]:  # type: ignore[no-untyped-def]
    """Two small tumors: one sampled, a copy of it `offset` voxels from the liver centre."""
    (first,) = sample(scan, SMALL, 0)
    centre = np.asarray(scan.shape) // 2
    a = dataclasses.replace(first, center_vox=tuple(int(c) for c in centre))
    b = dataclasses.replace(
        first, index=1, seed=first.seed + 1, center_vox=tuple(int(c) for c in centre + offset)
    )
    return [a, b]


def _raster_ids(case) -> list[int]:  # type: ignore[no-untyped-def]
    """Brute force: label the whole volume, read each tumor's centre."""
    components, _ = ndimage.label(case.label == 2, structure=np.ones((3, 3, 3), dtype=bool))
    return [int(components[r.center_vox]) for r in case.tumors]


def test_touching_tumors_are_marked_merged_and_warned(small_scan):
    records = _pair(small_scan, (3, 0, 0))
    with pytest.warns(SynthesisWarning, match=r"case 'c7'.*tumors 0 and 1 form lesion 1") as got:
        case = apply(small_scan, records, case_id="c7")
    assert len([w for w in got if issubclass(w.category, SynthesisWarning)]) == 1
    a, b = case.tumors
    assert a.merged_with == (1,) and b.merged_with == (0,)
    assert a.lesion_id == b.lesion_id == 1 == _raster_ids(case)[0]
    # the run-time table finds the same lesion, from the same code
    (props,) = lesion_properties(case).values()
    assert props["n_tumors_merged"] == 2


def test_separate_tumors_are_not_merged(small_scan):
    records = _pair(small_scan, (22, 0, 0))  # 33 mm apart, radii <= 10 mm
    with warnings.catch_warnings():
        warnings.simplefilter("error", SynthesisWarning)
        case = apply(small_scan, records)
    assert [r.merged_with for r in case.tumors] == [(), ()]
    ids = [r.lesion_id for r in case.tumors]
    assert ids == _raster_ids(case) and sorted(ids) == [1, 2]
    assert [p["n_tumors_merged"] for p in lesion_properties(case).values()] == [1, 1]


def test_merge_fields_replay_and_round_trip(small_scan):
    case = apply(small_scan, _pair(small_scan, (3, 0, 0)), case_id="c")
    text = json.dumps([r.to_dict() for r in case.tumors])
    records = [TumorRecord.from_dict(d) for d in json.loads(text)]
    assert tuple(records) == case.tumors and isinstance(records[0].merged_with, tuple)
    with pytest.warns(SynthesisWarning):
        replay = apply(small_scan, records, case_id="c")
    assert replay.label.tobytes() == case.label.tobytes()
    assert replay.image.tobytes() == case.image.tobytes()
    assert replay.tumors == case.tumors


def test_records_without_the_merge_fields_still_load_and_replay(small_scan):
    old = [r.to_dict() for r in sample(small_scan, SMALL, 0)]
    for data in old:
        del data["lesion_id"], data["merged_with"]
    records = [TumorRecord.from_dict(d) for d in old]
    assert records[0].merged_with is None and records[0].lesion_id is None
    (tumor,) = apply(small_scan, records).tumors
    assert tumor.merged_with == () and tumor.lesion_id == 1
    with pytest.raises(DataError, match="merged_with must be a list of tumor indices"):
        TumorRecord.from_dict({**old[0], "merged_with": ["x"]})
