"""TumorConfig: every parameter and switch of the generator, with the paper's level presets.

Ranges are (low, high) pairs drawn uniformly per tumor; a fixed value is (v, v). Lengths are
in mm, intensities in HU. Level presets follow the authors' released code
(MrGiovanni/SyntheticTumors, TumorGenerated/utils.py, `get_fixed_geo`): semi-axes
int(0.75 r)..int(1.25 r) for r = 4, 8, 16, 32 mm, tumor counts 3-10 / 3-10 / 2-5 / 1-3
(5-10 small ones in 'mix') and elastic sigma U(0.5, 1), 1-2, 3-6, 5-10 (they draw the
last three as integers; we draw them uniformly).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from robustbench_liver.errors import SynthesisError, did_you_mean

Range = tuple[float, float]
IntRange = tuple[int, int]

INTENSITY_MODELS = ("texture", "released")
VESSEL_SOURCES = ("auto", "scan", "threshold", "union", "none")
IF_NO_PLACE = ("skip", "overlap", "error")


class TumorConfigError(SynthesisError):
    """A TumorConfig field with an unusable value; the message names field and value."""


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _check_keys(data: Mapping[str, Any], cls: type, what: str) -> None:
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise TumorConfigError(f"{what}: " + did_you_mean(str(key), known, "field"))


def _choice(value: Any, options: tuple[str, ...], name: str) -> None:
    if value not in options:
        raise TumorConfigError(f"TumorConfig.{name}: " + did_you_mean(str(value), options, "value"))


def _number(value: Any, name: str, low: float, high: float, low_open: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or value > high or (low_open and value == low):
        lower = f"> {low}" if low_open else f">= {low}"
        raise TumorConfigError(
            f"TumorConfig.{name}: must be a number {lower} and <= {high}, got {value!r}"
        )


def _range(value: Any, name: str, low: float, high: float) -> Range:
    """Validate a (low, high) pair within [low, high]; a single number means (v, v)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = (value, value)
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TumorConfigError(f"{name}: must be a (low, high) pair, got {value!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise TumorConfigError(f"{name}: must be finite, got {value!r}")
    if a > b:
        raise TumorConfigError(f"{name}: low {a:g} is above high {b:g}")
    if a < low or b > high:
        raise TumorConfigError(f"{name}: must lie within [{low:g}, {high:g}], got ({a:g}, {b:g})")
    return (a, b)


def _int_range(value: Any, name: str, low: int, high: int) -> IntRange:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        a, b = value
    except (TypeError, ValueError):
        raise TumorConfigError(
            f"{name}: must be a (low, high) pair of integers, got {value!r}"
        ) from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b)):
        raise TumorConfigError(f"{name}: must be integers, got {value!r}")
    if a > b:
        raise TumorConfigError(f"{name}: low {a} is above high {b}")
    if a < low or b > high:
        raise TumorConfigError(f"{name}: must lie within [{low}, {high}], got ({a}, {b})")
    return (a, b)


@dataclass(frozen=True)
class SizeClass:
    """One size class: how many tumors, how big, how deformed."""

    name: str
    """tiny, small, medium, large, or any name of your own."""
    semi_axes_mm: Range
    """Each semi-axis is drawn independently from U(low, high) (the paper's U(0.75r, 1.25r))."""
    count: IntRange
    """Number of tumors of this class per case, uniform over low..high inclusive."""
    elastic_sigma_mm: Range
    """sigma_e: displacement s.d. at the elastic control points."""

    def __post_init__(self) -> None:
        where = f"size class {self.name!r}"
        object.__setattr__(
            self, "semi_axes_mm", _range(self.semi_axes_mm, f"{where}.semi_axes_mm", 0.5, 200)
        )
        object.__setattr__(self, "count", _int_range(self.count, f"{where}.count", 0, 200))
        object.__setattr__(
            self,
            "elastic_sigma_mm",
            _range(self.elastic_sigma_mm, f"{where}.elastic_sigma_mm", 0, 50),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SizeClass:
        _check_keys(data, cls, "size class")
        return cls(**data)


LEVELS: dict[str, tuple[SizeClass, ...]] = {
    "tiny": (SizeClass("tiny", (3, 5), (3, 10), (0.5, 1.0)),),
    "small": (SizeClass("small", (6, 10), (3, 10), (1, 2)),),
    "medium": (SizeClass("medium", (12, 20), (2, 5), (3, 6)),),
    "large": (SizeClass("large", (24, 40), (1, 3), (5, 10)),),
}
LEVELS["mix"] = (
    LEVELS["tiny"][0],
    SizeClass("small", (6, 10), (5, 10), (1, 2)),
    LEVELS["medium"][0],
    LEVELS["large"][0],
)


@dataclass(frozen=True)
class TumorConfig:
    """Every parameter and switch of tumor synthesis; all seven steps are on by default."""

    sizes: tuple[SizeClass, ...] = LEVELS["medium"]
    """Size classes drawn for each case (a level preset, or your own)."""

    # --- switches, one per step (location and blend are always on) ---
    vessels: bool = True
    """Steps 1-2: keep a vessel-free cube around each centre."""
    texture: bool = True
    """Step 3: textured tumor (off: a flat intensity)."""
    elastic: bool = True
    """Step 4: elastic deformation of the ellipsoid."""
    edge_blur: bool = True
    """Step 4: Gaussian edge blur of the mask (off: hard edge)."""
    mass_effect: bool = True
    """Step 6: push the surrounding tissue outward."""
    capsule: bool = True
    """Step 7: brighten the band at the tumor edge."""

    # --- step 1: vessel mask ---
    vessel_source: str = "auto"
    """auto (union when the scan has its own mask, else threshold), scan, threshold, union
    (scan mask or threshold), none."""
    vessel_sigma_mm: float = 2.0
    """sigma_a of the Gaussian smoothing before thresholding."""
    vessel_margin_hu: float = 20.0
    """b: the threshold is T = mean smoothed liver HU + b."""

    # --- step 2: location ---
    vessel_clearance: float = 1.0
    """Cube half-size = clearance x the tumor's radius r (geometric mean of its semi-axes)."""
    max_cube_mm: float | None = 12.0
    """Cap on the cube half-size (None = no cap). Large tumors grow around and push aside
    vessels rather than sit in vessel-free cubes of 5-8 cm, which a real liver rarely has."""
    min_inside: float = 0.95
    """Share of the nominal ellipsoid that must lie inside the liver (0 = centre only)."""
    regions: tuple[str, ...] | None = None
    """Allowed coarse liver regions of the centre (see location.REGIONS); None = anywhere."""
    vessel_gap_mm: Range | None = None
    """Allowed gap between the nominal tumor surface and the nearest vessel; None = any."""
    depth_mm: Range | None = None
    """Allowed depth of the centre under the liver surface; None = any."""
    allow_overlap: bool = False
    """Let tumors overlap (off: the deformed tumors' bounding spheres keep a gap)."""
    overlap_gap_mm: float = 1.0
    """Minimum gap between tumors' bounding spheres when overlap is not allowed; at least a
    voxel diagonal is kept whatever this says, so that tumors apart stay separate lesions."""
    if_no_place: str = "skip"
    """When a tumor finds no place clear of the others: "skip" (search the whole liver, then
    leave it out; the case keeps the tumors that fit, with one SynthesisWarning naming those
    left out; if none fits, SynthesisError), "overlap" (after `max_proposals` failed random
    proposals, let it overlap earlier tumors, with a SynthesisWarning: they may then merge
    into one lesion) or "error" (search the whole liver, then SynthesisError naming the scan
    and the radius)."""
    max_proposals: int = 20000
    """Random proposals per tumor: at most 1,344 of them (three rounds) come before the
    search of the whole liver on maps, which finds a place whenever there is one; with
    if_no_place="overlap" there is no search, and up to this many proposals are made."""

    # --- step 3: texture and intensity ---
    intensity_model: str = "texture"
    """texture: the paper's N(mu_t, sigma_p) texture set relative to the parenchyma;
    released: the authors' released hypo-attenuating model (Delta ~ U(65, 145) HU)."""
    delta_hu: Range = (-69.0, -18.0)
    """Mean HU change inside the tumor vs the parenchyma (texture model): < 0 hypo-,
    0 iso-, > 0 hyper-attenuating. Default: the drop the released model produces."""
    released_delta_hu: Range = (65.0, 145.0)
    """Delta of the released model: tumor = parenchyma - texture x blurred mask x Delta."""
    texture_sigma_factor: Range = (1.0, 1.0)
    """sigma_p = factor x the parenchyma's robust s.d. (heterogeneity)."""
    texture_scale_mm: Range = (3.0, 6.0)
    """eta: lattice step of the noise before cubic-spline upscaling (larger = coarser)."""
    texture_blur_mm: Range = (1.0, 1.5)
    """sigma_b of the texture blur."""
    keep_scan_noise: bool = True
    """Keep the scan's voxel-level noise inside the tumor (texture model); off = the paper's
    literal blend, which replaces the noise by the smooth texture."""
    released_grain_mm: Range = (3.0, 15.0)
    """Released model: sigma_a of its smoothed uniform noise (their textures use 3..15)."""
    released_blur_mm: Range = (4.0, 7.0)
    """Released model: sigma_b of its Bernoulli-field blur (their textures use 4 or 7)."""

    # --- step 4: shape ---
    elastic_points: int = 3
    """Control points per axis of the elastic grid (the authors use 3)."""
    lobulation: Range = (0.0, 0.0)
    """Relative bulge of lobes on the surface (0 = plain ellipsoid); e.g. (0.1, 0.3)."""
    lobes: IntRange = (3, 6)
    """Number of lobes when lobulation is on."""
    rotate: bool = False
    """Random ellipsoid orientation (the authors' ellipsoids are axis-aligned)."""
    edge_blur_mm: Range = (1.0, 2.0)
    """sigma_c of the edge blur (the authors' U(1, 2))."""

    # --- step 6: mass effect ---
    mass_effect_strength: Range = (30.0, 70.0)
    """I in [0, 100] of gamma' = (1 - (gamma/gamma_max - 1)^2 I/100) gamma."""
    mass_effect_extent: float = 1.5
    """gamma_max in units of the tumor's semi-axes (the warped zone is this ellipsoid)."""

    # --- step 7: capsule ---
    capsule_hu: Range = (5.0, 15.0)
    """d: HU added in the capsule band."""
    capsule_band: Range = (0.2, 0.5)
    """(lb, ub) of the band lb < t'' < ub of the blurred mask."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        sizes = tuple(self.sizes)
        if not all(isinstance(s, SizeClass) for s in sizes):
            raise TumorConfigError("TumorConfig.sizes: expected SizeClass items")
        set_(self, "sizes", sizes)
        switches = ("vessels", "texture", "elastic", "edge_blur", "mass_effect", "capsule")
        for name in (*switches, "keep_scan_noise", "allow_overlap", "rotate"):
            if not isinstance(getattr(self, name), bool):
                raise TumorConfigError(
                    f"TumorConfig.{name}: must be true or false, got {getattr(self, name)!r}"
                )
        _choice(self.vessel_source, VESSEL_SOURCES, "vessel_source")
        _choice(self.intensity_model, INTENSITY_MODELS, "intensity_model")
        _choice(self.if_no_place, IF_NO_PLACE, "if_no_place")
        _number(self.vessel_sigma_mm, "vessel_sigma_mm", 0, 20)
        _number(self.vessel_margin_hu, "vessel_margin_hu", -500, 500)
        _number(self.vessel_clearance, "vessel_clearance", 0, 10)
        _number(self.min_inside, "min_inside", 0, 1)
        if self.max_cube_mm is not None:
            _number(self.max_cube_mm, "max_cube_mm", 0, 1000, low_open=True)
        _number(self.overlap_gap_mm, "overlap_gap_mm", 0, 100)
        _number(self.mass_effect_extent, "mass_effect_extent", 1.0, 5.0, low_open=True)
        if not isinstance(self.max_proposals, int) or not 1 <= self.max_proposals <= 10**7:
            raise TumorConfigError(
                "TumorConfig.max_proposals: must be an integer in 1..1e7, "
                f"got {self.max_proposals!r}"
            )
        if not isinstance(self.elastic_points, int) or not 2 <= self.elastic_points <= 9:
            raise TumorConfigError(
                "TumorConfig.elastic_points: must be an integer in 2..9, "
                f"got {self.elastic_points!r}"
            )
        bounds: dict[str, tuple[float, float]] = {
            "delta_hu": (-1000, 1000),
            "released_delta_hu": (0, 1000),
            "texture_sigma_factor": (0, 10),
            "texture_scale_mm": (0.5, 50),
            "texture_blur_mm": (0, 20),
            "released_grain_mm": (0.5, 50),
            "released_blur_mm": (0, 20),
            "lobulation": (0, 0.8),
            "edge_blur_mm": (0, 10),
            "mass_effect_strength": (0, 100),
            "capsule_hu": (-500, 500),
            "capsule_band": (0, 1),
        }
        for name, (low, high) in bounds.items():
            set_(self, name, _range(getattr(self, name), f"TumorConfig.{name}", low, high))
        set_(self, "lobes", _int_range(self.lobes, "TumorConfig.lobes", 1, 20))
        for name in ("vessel_gap_mm", "depth_mm"):
            if getattr(self, name) is not None:
                set_(self, name, _range(getattr(self, name), f"TumorConfig.{name}", 0, 1000))
        if self.capsule_band[0] == self.capsule_band[1]:
            raise TumorConfigError(
                f"TumorConfig.capsule_band: lb < ub needed, got {self.capsule_band}"
            )
        if self.regions is not None:
            from robustbench_liver.synthesis.location import REGION_NAMES

            regions = (self.regions,) if isinstance(self.regions, str) else tuple(self.regions)
            for region in regions:
                _choice(region, REGION_NAMES, "regions")
            set_(self, "regions", regions)

    @classmethod
    def level(cls, name: str, **overrides: Any) -> TumorConfig:
        """The preset of a level (tiny, small, medium, large, mix), with field overrides."""
        if name not in LEVELS:
            raise TumorConfigError("TumorConfig: " + did_you_mean(name, LEVELS, "level"))
        return cls(sizes=LEVELS[name], **overrides)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TumorConfig:
        """Build from plain data (YAML/JSON): `level` picks the preset, other keys override."""
        data = dict(data)
        level = data.pop("level", None)
        _check_keys(data, cls, "TumorConfig")
        if "sizes" in data:
            data["sizes"] = tuple(
                s if isinstance(s, SizeClass) else SizeClass.from_dict(s) for s in data["sizes"]
            )
        if level is not None:
            return cls.level(str(level), **data)
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain data; `from_dict(to_dict())` gives an equal config."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "sizes":
                value = [
                    {k.name: _plain(getattr(s, k.name)) for k in fields(SizeClass)} for s in value
                ]
            out[f.name] = _plain(value)
        return out

    def with_(self, **changes: Any) -> TumorConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


def as_config(config: str | TumorConfig) -> TumorConfig:
    """A level name or a TumorConfig, as a TumorConfig."""
    if isinstance(config, TumorConfig):
        return config
    if isinstance(config, str):
        return TumorConfig.level(config)
    raise TumorConfigError(
        f"config must be a level name or a TumorConfig, got {type(config).__name__}"
    )


__all__ = [
    "LEVELS",
    "SizeClass",
    "TumorConfig",
    "TumorConfigError",
    "as_config",
]
