"""A label map and an HU map painted together, back to front."""

from __future__ import annotations

import numpy as np

from robustbench_liver.sources.phantom.geometry import Grid
from robustbench_liver.sources.phantom.labels import LABELS

Box = tuple[slice, slice, slice]


class Canvas:
    """Painter's algorithm over a grid: later strokes cover earlier ones. `reserved` marks
    voxels (with a fat-plane margin) that the liver must not grow into."""

    def __init__(self, grid: Grid, background_hu: float):
        self.grid = grid
        self.labels = np.zeros(grid.shape, dtype=np.uint8)
        self.hu = np.full(grid.shape, background_hu, dtype=np.float32)
        self.reserved = np.zeros(grid.shape, dtype=bool)

    def paint(self, box: Box | None, mask: np.ndarray, label: str, hu: float | np.ndarray) -> None:
        if box is None:
            return
        mask = np.broadcast_to(mask, self.labels[box].shape)
        self.labels[box][mask] = LABELS[label]
        hu_values = np.broadcast_to(np.asarray(hu, dtype=np.float32), mask.shape)
        self.hu[box][mask] = hu_values[mask]

    def reserve(self, box: Box | None, mask: np.ndarray) -> None:
        if box is not None:
            self.reserved[box] |= np.broadcast_to(mask, self.reserved[box].shape)

    def full_box(self) -> Box:
        return (
            slice(0, self.grid.shape[0]),
            slice(0, self.grid.shape[1]),
            slice(0, self.grid.shape[2]),
        )
