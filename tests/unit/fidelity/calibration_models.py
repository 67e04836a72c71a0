"""Models for the calibration tests, importable as 'calibration_models:NAME' (this folder on
sys.path): each finds tumors by one rule only, so which tumors it finds is known."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Card:
    name: str
    version: str = "1"
    needs_liver: bool = True

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "needs_liver": self.needs_liver}


def _contrast(image: np.ndarray, liver: np.ndarray) -> np.ndarray:
    """HU above the liver's median, lightly smoothed (the scan's grain would speckle it)."""
    smooth = ndimage.gaussian_filter(image.astype(np.float32), 1.0)
    return smooth - float(np.median(image[liver]))


def _labels(liver: np.ndarray, tumor: np.ndarray) -> np.ndarray:
    out = np.zeros(liver.shape, dtype=np.uint8)
    out[liver] = 1
    out[liver & tumor] = 2
    return out


class Bright:
    """Only hyper-attenuating tumors: 35 HU or more above the liver."""

    card = Card("bright-only")

    def predict(self, image, spacing, liver=None):
        return _labels(liver, _contrast(image, liver) > 35.0)


class Dark:
    """Only hypo-attenuating tumors: 35 HU or more below the liver."""

    card = Card("dark-only")

    def predict(self, image, spacing, liver=None):
        return _labels(liver, _contrast(image, liver) < -35.0)


class Crashy:
    """Fails on every case."""

    card = Card("crashy", needs_liver=False)

    def predict(self, image, spacing, liver=None):
        raise RuntimeError("no tumors today")
