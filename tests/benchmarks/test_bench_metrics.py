"""NSD on a 256×256×128 pair at (0.8, 0.8, 2.5) mm: ours vs MONAI's surfel NSD, same value.

Target (issue 5): at least 3× faster than `compute_surface_dice(..., use_subvoxels=True)`.
Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_metrics.py --benchmark-only
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
from scipy import ndimage

from robustbench_liver.metrics import nsd, score_case

SHAPE = (256, 256, 128)
SPACING = (0.8, 0.8, 2.5)
TOLERANCE = 2.0

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


def deformed_blobs(rng: np.random.Generator, centres, radii_mm) -> np.ndarray:
    """Tumor-like masks: spheres of the given radii with a smooth random radial deformation."""
    mask = np.zeros(SHAPE, dtype=bool)
    spacing = np.asarray(SPACING)
    for centre, radius in zip(centres, radii_mm, strict=True):
        reach = np.ceil(1.6 * radius / spacing).astype(int)
        lo, hi = np.maximum(centre - reach, 0), np.minimum(centre + reach + 1, SHAPE)
        axes = [(np.arange(lo[k], hi[k]) - centre[k]) * spacing[k] for k in range(3)]
        grid = np.meshgrid(*axes, indexing="ij")
        distance = np.sqrt(sum(g**2 for g in grid))
        wobble = ndimage.gaussian_filter(rng.standard_normal(distance.shape), 3.0)
        wobble *= 0.35 * radius / (wobble.std() + 1e-12)
        mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] |= distance < radius + wobble
    return mask


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """Five lesions of 5–30 mm; the prediction has shifted, re-deformed lesions, misses the
    smallest one and adds a false positive."""
    rng = np.random.default_rng(5)
    centres = [np.array([rng.integers(50, 206), rng.integers(50, 206), rng.integers(25, 103)])
               for _ in range(5)]  # fmt: skip
    radii = [5.0, 9.0, 15.0, 22.0, 30.0]
    gt = deformed_blobs(rng, centres, radii)
    moved = [c + rng.integers(-2, 3, size=3) for c in centres[1:]]
    moved.append(np.array([128, 40, 64]))
    pred = deformed_blobs(rng, moved, [*radii[1:], 8.0])
    return pred, gt


def monai_nsd(pred: np.ndarray, gt: np.ndarray) -> float:
    import torch
    from monai.metrics import compute_surface_dice

    def one_hot(mask: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.stack([~mask, mask])[None])

    value = compute_surface_dice(
        one_hot(pred), one_hot(gt), class_thresholds=[TOLERANCE], spacing=SPACING,
        use_subvoxels=True,
    )  # fmt: skip
    return float(value[0, 0])


@pytest.mark.benchmark(group="nsd 256x256x128")
def test_nsd_monai(benchmark, pair):
    pred, gt = pair
    value = benchmark.pedantic(monai_nsd, args=(pred, gt), rounds=5, iterations=1, warmup_rounds=1)
    assert value == pytest.approx(nsd(pred, gt, SPACING, TOLERANCE).value, abs=1e-6)


@pytest.mark.benchmark(group="nsd 256x256x128")
def test_nsd_ours(benchmark, median_seconds, pair):
    pred, gt = pair
    ours = benchmark(nsd, pred, gt, SPACING, TOLERANCE).value
    reference = monai_nsd(pred, gt)
    assert ours == pytest.approx(reference, abs=1e-6)
    if not median_seconds(benchmark):
        pytest.skip("benchmarking disabled: value checked, speed not measured")
    monai_times = []
    for _ in range(3):
        start = time.perf_counter()
        monai_nsd(pred, gt)
        monai_times.append(time.perf_counter() - start)
    speedup = statistics.median(monai_times) / median_seconds(benchmark)
    benchmark.extra_info["speedup_vs_monai"] = round(speedup, 1)
    assert speedup >= 3.0, f"only {speedup:.1f}x faster than MONAI"


@pytest.mark.benchmark(group="score_case 256x256x128")
def test_score_case(benchmark, pair):
    pred, gt = pair
    labels = [np.where(mask, 2, 0).astype(np.uint8) for mask in pair]
    row = benchmark(score_case, labels[0], labels[1], SPACING, case_id="bench").case
    assert row["nsd"] == pytest.approx(nsd(pred, gt, SPACING, TOLERANCE).value)
    assert row["n_false_positive_lesions"] >= 1
