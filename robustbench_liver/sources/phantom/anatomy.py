"""The phantom's body plan: every size, position and HU drawn once from the seed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Anatomy:
    """One patient's geometry (mm, RAS: +x patient right, +y anterior, +z superior; the body
    axis is x = y = 0) and tissue attenuation (HU). Sampled from the seed, then drawn."""

    cavity_a: float  # half-width of the abdominal cavity
    cavity_ant: float  # anterior extent of the cavity
    cavity_post: float  # posterior extent of the cavity
    muscle_mm: float
    fat_mm: float
    dome_z: float  # top of the right hemidiaphragm
    liver_scale: float  # isotropic scale of the liver's lobes (set to hit a target volume)
    liver_target_ml: float
    liver_offset: Vec3
    left_lobe: float  # relative size of the left lobe
    liver_hu: float
    portal_delta_hu: float  # portal veins over parenchyma
    hepatic_delta_hu: float  # hepatic veins over parenchyma
    spleen_hu: float
    aorta_hu: float
    ivc_hu: float
    muscle_hu: float
    fat_hu: float
    noise_std: float
    kidney_right_z: float
    kidney_left_z: float
    gas_level: float  # stomach gas above this fraction of its AP extent
    bowel_seed: int
    vessel_seed: int
    texture_seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_anatomy(
    rng: np.random.Generator,
    liver_volume_ml: float | None = None,
    noise_std: float | None = None,
) -> Anatomy:
    """Draw one patient. Ranges are typical adult values; see labels.BASE_HU for the rest."""
    u = rng.uniform
    liver_hu = u(95.0, 120.0)
    return Anatomy(
        cavity_a=u(118.0, 132.0),
        cavity_ant=u(82.0, 94.0),
        cavity_post=u(58.0, 66.0),
        muscle_mm=u(8.0, 13.0),
        fat_mm=u(10.0, 30.0),
        dome_z=u(72.0, 84.0),
        liver_scale=1.0,
        liver_target_ml=liver_volume_ml if liver_volume_ml is not None else u(1200.0, 2200.0),
        liver_offset=(u(-6.0, 6.0), u(-5.0, 5.0), u(-4.0, 4.0)),
        left_lobe=u(0.75, 1.2),
        liver_hu=liver_hu,
        portal_delta_hu=u(50.0, 90.0),
        hepatic_delta_hu=u(50.0, 90.0),
        spleen_hu=liver_hu + u(0.0, 20.0),
        aorta_hu=u(150.0, 190.0),
        ivc_hu=u(125.0, 160.0),
        muscle_hu=u(45.0, 60.0),
        fat_hu=u(-110.0, -90.0),
        noise_std=noise_std if noise_std is not None else u(10.0, 20.0),
        kidney_right_z=u(-60.0, -40.0),
        kidney_left_z=u(-45.0, -25.0),
        gas_level=u(0.2, 0.6),
        bowel_seed=int(rng.integers(2**31)),
        vessel_seed=int(rng.integers(2**31)),
        texture_seed=int(rng.integers(2**31)),
    )
