"""From painted HU to a CT-like image: scanner blur, then spatially correlated noise."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

PSF_MM = (0.7, 0.7, 1.0)  # in-plane and through-slice blur of a typical abdominal protocol
NOISE_GRAIN_MM = 0.9  # correlation length of the noise (a soft reconstruction kernel)


def to_ct(hu: np.ndarray, spacing, noise_std: float, rng: np.random.Generator) -> np.ndarray:
    """Blur the painted phantom with the scanner's PSF and add correlated noise of `noise_std`."""
    sigma = [p / s for p, s in zip(PSF_MM, spacing, strict=True)]
    image = ndimage.gaussian_filter(hu, sigma, mode="nearest", truncate=3.0)
    noise = rng.standard_normal(hu.shape, dtype=np.float32)
    grain = [NOISE_GRAIN_MM / s for s in spacing[:2]] + [0.0]
    noise = ndimage.gaussian_filter(noise, grain, mode="wrap", truncate=3.0)
    noise *= noise_std / max(float(noise.std()), 1e-6)
    image += noise
    np.clip(image, -1024.0, 3071.0, out=image)
    return image
