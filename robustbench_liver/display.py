"""Slices of RAS volumes in radiological display: patient right on screen left, anterior
(axial) or superior (coronal) at the top. Used by every picture the suite draws."""

from __future__ import annotations

import numpy as np

SOFT_TISSUE_WINDOW = (-160.0, 240.0)  # HU; the paper's figures use about this window


def axial(volume: np.ndarray, k: int) -> np.ndarray:
    """Slice z = k as rows (anterior → posterior) × columns (patient right → left)."""
    return np.asarray(volume[:, :, k]).T[::-1, ::-1]


def coronal(volume: np.ndarray, j: int) -> np.ndarray:
    """Slice y = j as rows (superior → inferior) × columns (patient right → left)."""
    return np.asarray(volume[:, j, :]).T[::-1, ::-1]


def axial_aspect(spacing) -> float:
    return float(spacing[1] / spacing[0])


def coronal_aspect(spacing) -> float:
    return float(spacing[2] / spacing[0])
