"""TumorRecord (JSON round trip, helpful errors) and Case (validation, read-only arrays)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robustbench_liver.errors import DataError
from robustbench_liver.synthesis import sample, synthesize
from robustbench_liver.types import Case, TumorRecord


def test_record_json_round_trip_is_exact(small_scan):
    case = synthesize(small_scan, "small", 3)
    for record in case.tumors:
        text = json.dumps(record.to_dict())
        again = TumorRecord.from_dict(json.loads(text))
        assert again == record
        assert isinstance(again.center_vox, tuple) and isinstance(again.semi_axes_mm[0], float)
        assert record.volume_mm3 is not None and record.mean_hu_change is not None


def test_sampled_records_have_no_measurements_yet(small_scan):
    (record, *_) = sample(small_scan, "medium", 0)
    assert record.volume_mm3 is None and record.equivalent_radius_mm is None
    assert 0 <= record.seed < 2**53


def test_record_errors_name_the_field(small_scan):
    data = sample(small_scan, "medium", 0)[0].to_dict()
    with pytest.raises(DataError, match="Did you mean 'seed'"):
        TumorRecord.from_dict({**data, "sede": 1})
    missing = dict(data)
    del missing["semi_axes_mm"]
    with pytest.raises(DataError, match=r"missing field.*semi_axes_mm"):
        TumorRecord.from_dict(missing)
    with pytest.raises(DataError, match="center_vox must be 3 numbers"):
        TumorRecord.from_dict({**data, "center_vox": [1, 2]})


def test_case_checks_its_arrays_and_freezes_them():
    image = np.zeros((4, 4, 4), np.float32)
    label = np.zeros((4, 4, 4), np.uint8)
    case = Case(image=image, label=label, tumors=(), scan_id="s")
    assert case.case_id == "s" and case.replicate == 0 and not case.is_control
    with pytest.raises(ValueError):
        case.image[0, 0, 0] = 1.0
    with pytest.raises(DataError, match="label must be uint8"):
        Case(image=image, label=label.astype(np.int16), tumors=(), scan_id="s")
    with pytest.raises(DataError, match="image must be 3D float32"):
        Case(image=image.astype(np.float64), label=label, tumors=(), scan_id="s")


def test_a_control_case_has_no_tumors(small_scan):
    records = sample(small_scan, "tiny", 0)
    image = np.zeros((4, 4, 4), np.float32)
    with pytest.raises(DataError, match="control case cannot have tumors"):
        Case(
            image=image,
            label=np.zeros((4, 4, 4), np.uint8),
            tumors=tuple(records),
            scan_id="s",
            is_control=True,
        )
