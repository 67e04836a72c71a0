"""The shared vocabulary: frozen records that flow from scans to reports."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np

from robustbench_liver.errors import DataError, did_you_mean


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only view: the caller's array stays writable, ours cannot change under us."""
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class Scan:
    """A healthy-liver base scan in HU, axes (x, y, z) in RAS orientation."""

    image: np.ndarray
    """float32 Hounsfield units, shape (X, Y, Z)."""
    spacing: tuple[float, float, float]
    """Voxel size in mm along x, y, z."""
    liver: np.ndarray
    """bool mask of the liver, same shape as `image`."""
    affine: np.ndarray
    """4×4 voxel-to-world (RAS, mm) matrix."""
    id: str
    """Stable name of the scan (file stem, phantom seed, ...)."""
    vessels: np.ndarray | None = None
    """Optional bool mask of vessels (ground truth from the source, when it has one)."""
    provenance: Mapping[str, Any] = field(default_factory=dict)
    """Where the scan came from: paths, label values, generator options."""

    def __post_init__(self) -> None:
        where = f"scan {self.id!r}"
        image = np.asarray(self.image)
        if image.ndim != 3:
            raise DataError(f"{where}: image must be 3D (x, y, z), got shape {image.shape}")
        if not np.issubdtype(image.dtype, np.number):
            raise DataError(f"{where}: image must be numeric, got dtype {image.dtype}")
        image = image.astype(np.float32, copy=False)
        if not np.isfinite(image).all():
            bad = int(np.size(image) - np.isfinite(image).sum())
            raise DataError(f"{where}: image has {bad} non-finite voxels (NaN or inf)")
        liver = self._mask(self.liver, image.shape, "liver")
        if not liver.any():
            raise DataError(f"{where}: the liver mask is empty")
        vessels = None if self.vessels is None else self._mask(self.vessels, image.shape, "vessels")
        spacing = tuple(float(s) for s in np.asarray(self.spacing, dtype=float).ravel())
        if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise DataError(
                f"{where}: spacing must be 3 positive numbers in mm, got {self.spacing}"
            )
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.isfinite(affine).all():
            raise DataError(
                f"{where}: affine must be a finite 4x4 matrix, got shape {affine.shape}"
            )
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "image", _frozen(image))
        set_(self, "liver", _frozen(liver))
        set_(self, "vessels", None if vessels is None else _frozen(vessels))
        set_(self, "spacing", spacing)
        set_(self, "affine", _frozen(affine))
        set_(self, "provenance", MappingProxyType(dict(self.provenance)))

    def _mask(self, mask: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
        mask = np.asarray(mask)
        if mask.shape != shape:
            raise DataError(
                f"scan {self.id!r}: {name} mask has shape {mask.shape}, image has {shape}"
            )
        return mask if mask.dtype == bool else mask != 0

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.image.shape

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing))

    @property
    def liver_volume_ml(self) -> float:
        return float(self.liver.sum()) * self.voxel_volume_mm3 / 1000.0

    @cached_property
    def digest(self) -> str:
        """sha256 of the content (image, masks, spacing): the scan's identity for caches."""
        h = hashlib.sha256()
        for part in (self.image, self.liver, self.vessels):
            if part is not None:
                h.update(str(part.shape).encode())
                h.update(np.ascontiguousarray(part).tobytes())
        h.update(np.asarray(self.spacing, dtype=np.float64).tobytes())
        return h.hexdigest()


def _tuple_of(value: Any, n: int, kind: type, name: str) -> tuple[Any, ...]:
    """`value` as an n-tuple of `kind` (JSON gives lists), or a DataError naming the field."""
    try:
        items = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise DataError(f"tumor record: {name} must be {n} numbers, got {value!r}") from None
    if len(items) != n:
        raise DataError(f"tumor record: {name} must be {n} numbers, got {value!r}")
    return items


_RECORD_TUPLES: dict[str, tuple[int, type]] = {
    "center_vox": (3, int),
    "center_mm": (3, float),
    "semi_axes_mm": (3, float),
    "rotation_deg": (3, float),
    "capsule_band": (2, float),
}


@dataclass(frozen=True)
class TumorRecord:
    """One synthetic tumor: every parameter needed to replay it, and what was measured.

    `robustbench_liver.synthesis.sample` fills the parameters; `apply` replays them (byte for
    byte: its noise and elastic field come from `seed`) and returns copies with the measured
    fields set. A switched-off step is stored as a zero parameter (no elastic deformation:
    `elastic_sigma_mm == 0`, no capsule: `capsule_hu == 0`, ...). Lengths are in mm,
    intensities in HU.
    """

    index: int
    """Position in the case (tumors are applied in this order)."""
    size_class: str
    """Size class it was drawn from: tiny, small, medium, large, or a custom name."""
    seed: int
    """Seed of this tumor's own noise and elastic field (0 <= seed < 2**53, JSON-safe)."""
    center_vox: tuple[int, int, int]
    """Centre as voxel indices (x, y, z) of the base scan."""
    center_mm: tuple[float, float, float]
    """Centre in world coordinates (RAS, mm) via the scan's affine; for people, not replay."""
    semi_axes_mm: tuple[float, float, float]
    """Ellipsoid semi-axes along its own axes (x, y, z before rotation)."""
    rotation_deg: tuple[float, float, float]
    """Ellipsoid orientation as intrinsic z-y-x Euler angles in degrees (0 = axis-aligned)."""
    cube_half_mm: float
    """Half-size of the vessel-free cube checked around the centre (0 = check off)."""
    elastic_sigma_mm: float
    """Displacement s.d. at the elastic control points (sigma_e); 0 = no deformation."""
    elastic_points: int
    """Control points per axis of the elastic displacement grid."""
    lobulation: float
    """Relative radius bulge of the lobes (0 = plain ellipsoid)."""
    lobes: int
    """Number of lobes when `lobulation > 0`."""
    edge_blur_mm: float
    """sigma_c of the Gaussian edge blur t'' = t' * g(sigma_c); 0 = hard edge."""
    intensity_model: str
    """"texture" (the paper's noise texture) or "released" (the authors' code)."""
    delta_hu: float
    """texture model: requested mean HU change inside the tumor vs the parenchyma (negative =
    hypo-attenuating); released model: minus the subtraction amplitude Delta."""
    parenchyma_hu: float
    """Parenchyma level the change is relative to: median liver HU around the tumor (the
    shell 1.2-2 semi-axes from its centre, vessels left out), from the base scan."""
    texture_sigma_hu: float
    """texture model: sigma_p of the noise N(mu_t, sigma_p) before upscaling and blur;
    released model: 1 = textured. 0 = a flat tumor (texture step off)."""
    texture_scale_mm: float
    """Noise grain: texture model: lattice step eta of the cubic-spline upscaling; released
    model: sigma_a of the smoothed uniform noise."""
    texture_blur_mm: float
    """Blur sigma_b of the texture (both models)."""
    keep_scan_noise: bool
    """texture model: keep the scan's own voxel-level noise inside the tumor."""
    mass_effect: float
    """Strength I in [0, 100] of the local scaling warp; 0 = off."""
    mass_effect_extent: float
    """gamma_max, the warped zone's radius in units of the semi-axes."""
    capsule_hu: float
    """Brightening d of the capsule band; 0 = off."""
    capsule_band: tuple[float, float]
    """(lb, ub): the band lb < t'' < ub of the blurred mask that is brightened."""
    vessel_source: str
    """Vessel mask used for placement and measurement: none, scan, threshold or union."""
    vessel_sigma_mm: float
    """sigma_a of the smoothing before the vessel threshold."""
    vessel_margin_hu: float
    """b: the threshold is the mean smoothed liver HU + b."""
    vessel_threshold_hu: float | None
    """Threshold T applied to the smoothed CT (None when no threshold mask was used)."""
    liver_region: str
    """Coarse liver region of the centre (see `synthesis.location.REGIONS`)."""
    label_level: float | None = None
    """The blur t'' falls to about this level at the label's edge: t'' blurs a core shrunk
    by edge_blur_mm x Phi^-1(1 - level), so the edge's change lies inside the label (t').
    None: the paper's edge, t'' blurs t' itself (records of generator 2 and before)."""
    mass_effect_keep_grain: bool = False
    """The mass-effect warp moves a smoothed copy of the tissue and keeps the scan's grain in
    place; False: it warps the image itself, whose linear interpolation smooths the noise."""
    necrosis_share: float = 0.0
    """Share of the tumor's label in an irregular hypodense (necrotic) core; 0 = none."""
    necrosis_hu: float = 0.0
    """HU change of the necrotic core relative to the tumor's solid tissue (< 0: darker)."""
    calcification_share: float = 0.0
    """Share of the tumor's label in calcifications; 0 = none."""
    calcification_hu: float = 0.0
    """HU of the calcifications (absolute, as calcium is)."""
    fill_clefts_mm: float = 0.0
    """Non-liver clefts inside the tumor narrower than about this (mm) are painted as tumor,
    in label and image alike; 0 = the tumor is painted inside the liver mask only."""
    volume_mm3: float | None = None
    """Measured tumor volume (label voxels x voxel volume), after synthesis."""
    equivalent_radius_mm: float | None = None
    """Measured r = (3V / 4 pi)^(1/3)."""
    mean_hu_change: float | None = None
    """Measured mean HU inside the tumor label minus `parenchyma_hu`."""
    vessel_distance_mm: float | None = None
    """Measured distance from the tumor's voxels to the nearest vessel voxel (None: no
    vessel mask, or no vessel in the scan). 0 means a vessel runs through the tumor: the
    vessel-free cube is capped at `max_cube_mm` (12 mm), so tumors of radius above 12 mm
    may engulf vessels, as large real tumors do."""
    lesion_id: int | None = None
    """Measured lesion this tumor belongs to: the 26-connected component of the case's tumor
    label (numbered from 1 in raster order, the ids of the per-lesion metrics) that holds its
    centre; 0 when none does. None: not measured (records written before this field)."""
    merged_with: tuple[int, ...] | None = None
    """Measured indices of the other tumors in the same lesion: their masks touch or overlap
    after painting, so they are scored as one lesion with this one. () when it stands
    alone; None: not measured."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (lists for tuples); `from_dict` inverts it exactly."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TumorRecord:
        """Rebuild a record from `to_dict` output (e.g. after a JSON round trip)."""
        fields = cls.__dataclass_fields__
        known = set(fields)
        unknown = [k for k in data if k not in known]
        if unknown:
            raise DataError("tumor record: " + did_you_mean(unknown[0], known, "field"))
        optional = {name for name, f in fields.items() if f.default is not MISSING}
        missing = sorted(known - set(data) - optional)
        if missing:
            raise DataError(f"tumor record: missing field(s) {', '.join(missing)}")
        values = dict(data)
        for name, (n, kind) in _RECORD_TUPLES.items():
            values[name] = _tuple_of(values[name], n, kind, name)
        merged = values.get("merged_with")
        if merged is not None:
            try:
                values["merged_with"] = tuple(int(i) for i in merged)
            except (TypeError, ValueError):
                raise DataError(
                    f"tumor record: merged_with must be a list of tumor indices, got {merged!r}"
                ) from None
        return cls(**values)


@dataclass(frozen=True, eq=False)
class Case:
    """A synthesized (or tumor-free control) case: image, label map and its tumors."""

    image: np.ndarray
    """float32 HU, axes (x, y, z) as in the base scan."""
    label: np.ndarray
    """uint8: 0 background, 1 liver, 2 tumor (the LiTS / MSD Task03 convention)."""
    tumors: tuple[TumorRecord, ...]
    """The tumors in the order applied, with their measured properties."""
    scan_id: str
    """Id of the base scan."""
    case_id: str = ""
    """Stable name of the case; defaults to the scan id."""
    condition: str = ""
    """Condition (sweep level) the case belongs to; empty outside a scenario."""
    replicate: int = 0
    """Replicate number within (scan, condition)."""
    is_control: bool = False
    """True for tumor-free control cases (then `tumors` is empty)."""
    spacing: tuple[float, float, float] | None = None
    """Voxel size in mm (copied from the base scan)."""
    affine: np.ndarray | None = None
    """4x4 voxel-to-world matrix (copied from the base scan)."""

    def __post_init__(self) -> None:
        where = f"case {self.case_id or self.scan_id!r}"
        image = np.asarray(self.image)
        label = np.asarray(self.label)
        if image.ndim != 3 or image.dtype != np.float32:
            raise DataError(f"{where}: image must be 3D float32, got {image.dtype} {image.shape}")
        if label.shape != image.shape or label.dtype != np.uint8:
            raise DataError(
                f"{where}: label must be uint8 of shape {image.shape}, "
                f"got {label.dtype} {label.shape}"
            )
        if self.is_control and self.tumors:
            raise DataError(f"{where}: a control case cannot have tumors ({len(self.tumors)})")
        set_ = object.__setattr__
        set_(self, "image", _frozen(image))
        set_(self, "label", _frozen(label))
        set_(self, "tumors", tuple(self.tumors))
        if not self.case_id:
            set_(self, "case_id", self.scan_id)
        if self.affine is not None:
            set_(self, "affine", _frozen(np.asarray(self.affine, dtype=np.float64)))


NETWORK_ADAPTERS = ("torch", "torchscript")
# Card fields only the network adapters act on (pre-processing, sliding window, weights): a
# python or command model does its own, so on its card they are defaults that mean nothing.
NETWORK_FIELDS = (
    "hu_window",
    "normalize",
    "spacing_mm",
    "classes",
    "roi_size",
    "overlap",
    "min_tumor_mm3",
    "tumors_in_liver",
    "min_tumor_confidence",
    "weights",
    "sha256",
)
_SELF_PROCESSING_ADAPTERS = ("python", "command")
# Network fields an adapter fills but does not act on: nnU-Net normalizes its input itself
# (plans.json; its spacing, patch size, overlap, classes and checkpoint apply); a MONAI
# bundle post-processes with its own config, not the suite's small-component rule.
_NOT_APPLIED = {
    "nnunet": ("hu_window", "normalize", "min_tumor_confidence"),
    "monai-bundle": ("min_tumor_mm3", "tumors_in_liver", "min_tumor_confidence"),
}


def card_for_display(card: Mapping[str, Any]) -> dict[str, Any]:
    """A model card's fields (as `ModelCard.to_dict` gives them, or as a run stored them)
    that apply to its adapter: a python or command model's card loses the network-only
    fields, an nnunet card its input window, a bundle's the suite's post-processing. For
    display only (CLI, report, leaderboard pages); stored cards stay complete. Here, not in
    `models`, so that the report can use it without importing model code."""
    adapter = card.get("adapter")
    if adapter in _SELF_PROCESSING_ADAPTERS:
        hidden: tuple[str, ...] = NETWORK_FIELDS
    else:  # a network, or an unknown adapter (an old or hand-made card): all of it
        hidden = _NOT_APPLIED.get(str(adapter), ())
    return {k: v for k, v in card.items() if k not in hidden}
