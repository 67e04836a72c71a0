"""Stored prediction masks: the same bits back, written atomically, never outside the run
folder, and never unpickled."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.io import atomic as atomic_module
from robustbench_liver.runs.store import RunStore


def sparse_mask(seed: int, shape: tuple[int, int, int] = (21, 17, 11)) -> np.ndarray:
    """A few blobs and stray voxels; crop sizes that are not multiples of 8 bits."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, dtype=bool)
    mask[3:9, 4:7, 2:5] = True
    mask[tuple(rng.integers(0, n, 6) for n in shape)] = True
    return mask


@pytest.mark.parametrize("seed", range(5))
def test_round_trip_gives_the_same_bytes(tmp_path, seed):
    store = RunStore(tmp_path)
    mask = sparse_mask(seed)
    store.write_prediction("scn", "model a", "case-1", mask)
    back = store.read_prediction("scn", "model a", "case-1")
    assert back is not None and back.dtype == bool and back.shape == mask.shape
    assert back.tobytes() == mask.tobytes()


@pytest.mark.parametrize("fill", [False, True])
def test_empty_and_full_masks_round_trip(tmp_path, fill):
    store = RunStore(tmp_path)
    mask = np.full((9, 10, 3), fill)
    store.write_prediction("scn", "m", "c", mask)
    back = store.read_prediction("scn", "m", "c")
    assert back is not None and back.shape == mask.shape and back.tobytes() == mask.tobytes()


def test_a_ct_sized_mask_is_stored_in_kilobytes(tmp_path):
    mask = np.zeros((384, 384, 256), dtype=bool)
    mask[100:140, 120:150, 60:90] = True
    mask[300, 20, 200] = True  # a stray voxel: the box spans most of the volume
    store = RunStore(tmp_path)
    store.write_prediction("scn", "m", "c", mask)
    assert store.prediction("scn", "m", "c").stat().st_size < 64_000
    back = store.read_prediction("scn", "m", "c")
    assert back is not None and np.array_equal(back, mask)


def test_missing_prediction_is_none(tmp_path):
    assert RunStore(tmp_path).read_prediction("scn", "m", "never-run") is None


def test_write_is_atomic_an_interrupted_write_keeps_the_old_mask(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    old = sparse_mask(0)
    store.write_prediction("scn", "m", "c", old)

    def broken_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(atomic_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        store.write_prediction("scn", "m", "c", ~old)
    monkeypatch.undo()
    back = store.read_prediction("scn", "m", "c")
    assert back is not None and back.tobytes() == old.tobytes()
    folder = store.prediction("scn", "m", "c").parent
    assert sorted(p.name for p in folder.iterdir()) == ["c.npz"]  # no temporary file left


@pytest.mark.parametrize(
    "model", ["..", "../../evil", "/etc/passwd", "a/../../b", "..\\..\\x", ".hidden", "", "~"]
)
def test_odd_names_stay_inside_the_run_folder(tmp_path, model):
    root = tmp_path / "run"
    store = RunStore(root)
    path = store.prediction("..", model, "../case")
    assert path.resolve().is_relative_to((root / "predictions").resolve())
    assert len(path.relative_to(root).parts) == 4  # predictions/<scenario>/<model>/<case>.npz
    store.write_prediction("..", model, "../case", sparse_mask(1))
    assert path.exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]


def test_only_3d_bool_masks_are_stored(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(RobustBenchError, match="3D bool mask"):
        store.write_prediction("scn", "m", "c", np.zeros((4, 4, 4), dtype=np.uint8))
    with pytest.raises(RobustBenchError, match="3D bool mask"):
        store.write_prediction("scn", "m", "c", np.zeros((4, 4), dtype=bool))


def _raw(store: RunStore, **arrays: np.ndarray) -> None:
    path = store.prediction("scn", "m", "c")
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    path.write_bytes(buffer.getvalue())


def test_pickled_objects_are_refused_not_loaded(tmp_path):
    store = RunStore(tmp_path)
    box = np.array([0, 0, 0])
    _raw(store, bits=np.array([object()], dtype=object), origin=box, crop=box, shape=box)
    with pytest.raises(RobustBenchError, match="damaged prediction mask"):
        store.read_prediction("scn", "m", "c")


def test_damaged_files_are_named(tmp_path):
    store = RunStore(tmp_path)
    path = store.prediction("scn", "m", "c")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip")
    with pytest.raises(RobustBenchError, match="damaged prediction mask") as info:
        store.read_prediction("scn", "m", "c")
    assert str(path) in str(info.value)
    # a box outside the volume, and too few bits for the box
    shape = np.array([4, 4, 4])
    _raw(store, bits=np.zeros(1, np.uint8), origin=np.array([3, 0, 0]), crop=np.array([2, 1, 1]),
         shape=shape)  # fmt: skip
    with pytest.raises(RobustBenchError, match="outside"):
        store.read_prediction("scn", "m", "c")
    _raw(store, bits=np.zeros(1, np.uint8), origin=np.zeros(3, int), crop=shape, shape=shape)
    with pytest.raises(RobustBenchError, match="bytes"):
        store.read_prediction("scn", "m", "c")
    assert os.path.exists(path)  # a reader never deletes what it cannot read
