"""TumorConfig: every parameter and switch of the generator, with the paper's level presets.

Ranges are (low, high) pairs drawn uniformly per tumor; a fixed value is (v, v). Lengths are
in mm, intensities in HU. The size presets are in `sizes` (the authors' released code); the
realism parameters added in generator 3 (edge, grain, heterogeneity, capsule band, clefts,
spread) take their defaults from measurements of real tumors, see README "Tumor model".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from robustbench_liver.errors import did_you_mean
from robustbench_liver.synthesis.checks import (
    IntRange,
    Range,
    TumorConfigError,
    check_keys,
    choice,
    int_range,
    number,
    open_number,
    plain,
    range_,
)
from robustbench_liver.synthesis.sizes import LEVELS, SizeClass

INTENSITY_MODELS = ("texture", "released")
VESSEL_SOURCES = ("auto", "scan", "threshold", "union", "none")
IF_NO_PLACE = ("skip", "overlap", "error")


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
    spread_share: float = 0.5
    """Spread large tumors (1 % of the liver's volume and more) over the liver: when fewer
    than this share of the places the liver's shape allows it (vessels, region, depth;
    estimated on the first 64 random proposals) keep `min_inside` of the tumor inside the
    liver, `min_inside` is lowered for that tumor in steps of 0.05, down to
    `min_inside_floor`, until that many do (0 = off: a large tumor then lands where the
    liver is thickest, every time)."""
    min_inside_floor: float = 0.85
    """Lowest share inside the liver that `spread_share` may ask for (never above
    `min_inside`); the part outside the liver is not painted."""
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
    delta_hu: Range = (-45.0, -12.0)
    """Mean HU change inside the tumor vs the parenchyma (texture model): < 0 hypo-,
    0 iso-, > 0 hyper-attenuating. Default: real tumors' -44 and -15 HU (issue 13); with
    the edge inside the label this gives cores as dark as the released model's mean drop
    of -69 to -18 HU did with the paper's label (generator 2's default)."""
    released_delta_hu: Range = (65.0, 145.0)
    """Delta of the released model: tumor = parenchyma - texture x blurred mask x Delta."""
    texture_sigma_factor: Range = (1.0, 1.0)
    """sigma_p = factor x the parenchyma's robust s.d. (heterogeneity); the paper's 1."""
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
    # necrosis and calcification (generator 3; texture model)
    necrosis_chance: float = 0.3
    """Chance that a tumor of at least `necrosis_min_radius_mm` has a necrotic core
    (texture model; the released model stays the authors' own)."""
    necrosis_share: Range = (0.1, 0.4)
    """Share of the tumor's label in the necrotic core (irregular, central)."""
    necrosis_hu: Range = (-60.0, -20.0)
    """HU change of the necrotic core relative to the tumor's solid tissue."""
    necrosis_min_radius_mm: float = 10.0
    """Tumors of a smaller radius (geometric mean of the semi-axes) have no necrotic core."""
    calcification_chance: float = 0.1
    """Chance that a tumor holds calcifications (texture model). They come on top of the
    tumor's tissue: `delta_hu` is the tissue's mean change, the label's mean rises."""
    calcification_share: Range = (0.01, 0.08)
    """Share of the tumor's label in calcifications (coarse blobs a few mm across)."""
    calcification_hu: Range = (250.0, 600.0)
    """HU of the calcifications (absolute, as calcium is, not relative to the liver)."""

    # --- step 4: shape ---
    elastic_points: int = 3
    """Control points per axis of the elastic grid (the authors use 3)."""
    lobulation: Range = (0.0, 0.0)
    """Relative bulge of lobes on the surface (0 = plain ellipsoid); e.g. (0.1, 0.3)."""
    lobes: IntRange = (3, 6)
    """Number of lobes when lobulation is on."""
    rotate: bool = False
    """Random ellipsoid orientation (the authors' ellipsoids are axis-aligned)."""
    edge_blur_mm: Range = (3.0, 4.0)
    """sigma_c of the edge blur. The authors' U(1, 2) goes with their edge centred on the
    label; real tumors rise over 8-10 mm (10-90 %), which is 2.56 sigma_c."""
    edge_blur_max_ratio: float | None = 0.15
    """Cap sigma_c at this times the tumor's radius (geometric mean of the semi-axes): with
    the label at t'' >= 0.1 the blur's mean weight over the label is 0.51 up to the cap and
    0.56 at 27 mm and 3.5 mm, so a small tumor keeps a core whose level stays near twice the
    mean change; None = no cap."""
    label_level: float | None = 0.1
    """t'' falls to about this level at the label's edge: it blurs a core shrunk by
    sigma_c x Phi^-1(1 - level), so the edge's change lies inside the label (t', the
    nominal ellipsoid), as in annotated real tumors; not where the grid cannot resolve the
    edge (synthesis.edge). None = the paper's edge: t'' blurs t' itself."""
    fill_clefts_mm: float = 8.0
    """Non-liver clefts narrower than this (e.g. a fat-filled fissure outside the liver mask)
    inside the tumor are painted as tumor, label and image alike; 0 = paint only inside the
    liver mask (which leaves such a cleft as a hole in the tumor's label)."""

    # --- step 6: mass effect ---
    mass_effect_strength: Range = (30.0, 70.0)
    """I in [0, 100] of gamma' = (1 - (gamma/gamma_max - 1)^2 I/100) gamma."""
    mass_effect_extent: float = 1.5
    """gamma_max in units of the tumor's semi-axes (the warped zone is this ellipsoid)."""
    mass_effect_keep_grain: bool = True
    """Warp a smoothed copy of the tissue and keep the scan's grain in place; off: warp the
    image itself (linear interpolation then removes a third of the noise in the zone)."""

    # --- step 7: capsule ---
    capsule_hu: Range = (10.0, 20.0)
    """d: HU added in the capsule band (so that the band, outside the label where the
    tumor's blur still darkens a little, shows as a rim of +2 to +6 HU)."""
    capsule_band: Range = (0.02, 0.1)
    """(lb, ub) of the band lb < t'' < ub of the blurred mask: just outside the label (below
    `label_level`), where the tumor's own blur darkens little. In the paper's (0.2, 0.5)
    the blur darkens by a third of the contrast, which cancels the capsule."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        sizes = tuple(self.sizes)
        if not all(isinstance(s, SizeClass) for s in sizes):
            raise TumorConfigError("TumorConfig.sizes: expected SizeClass items")
        set_(self, "sizes", sizes)
        switches = ("vessels", "texture", "elastic", "edge_blur", "mass_effect", "capsule")
        flags = ("keep_scan_noise", "allow_overlap", "rotate", "mass_effect_keep_grain")
        for name in (*switches, *flags):
            if not isinstance(getattr(self, name), bool):
                raise TumorConfigError(
                    f"TumorConfig.{name}: must be true or false, got {getattr(self, name)!r}"
                )
        choice(self.vessel_source, VESSEL_SOURCES, "vessel_source")
        choice(self.intensity_model, INTENSITY_MODELS, "intensity_model")
        choice(self.if_no_place, IF_NO_PLACE, "if_no_place")
        number(self.vessel_sigma_mm, "vessel_sigma_mm", 0, 20)
        number(self.vessel_margin_hu, "vessel_margin_hu", -500, 500)
        number(self.vessel_clearance, "vessel_clearance", 0, 10)
        number(self.min_inside, "min_inside", 0, 1)
        number(self.spread_share, "spread_share", 0, 1)
        number(self.min_inside_floor, "min_inside_floor", 0, 1)
        for name in ("necrosis_chance", "calcification_chance"):
            number(getattr(self, name), name, 0, 1)
        number(self.necrosis_min_radius_mm, "necrosis_min_radius_mm", 0, 1000)
        number(self.fill_clefts_mm, "fill_clefts_mm", 0, 100)
        if self.edge_blur_max_ratio is not None:
            number(self.edge_blur_max_ratio, "edge_blur_max_ratio", 0, 10, low_open=True)
        if self.label_level is not None:
            open_number(self.label_level, "label_level", 0.0, 1.0)
        if self.max_cube_mm is not None:
            number(self.max_cube_mm, "max_cube_mm", 0, 1000, low_open=True)
        number(self.overlap_gap_mm, "overlap_gap_mm", 0, 100)
        number(self.mass_effect_extent, "mass_effect_extent", 1.0, 5.0, low_open=True)
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
            "necrosis_share": (0, 0.9),
            "necrosis_hu": (-500, 500),
            "calcification_share": (0, 0.5),
            "calcification_hu": (-1000, 3000),
        }
        for name, (low, high) in bounds.items():
            set_(self, name, range_(getattr(self, name), f"TumorConfig.{name}", low, high))
        set_(self, "lobes", int_range(self.lobes, "TumorConfig.lobes", 1, 20))
        for name in ("vessel_gap_mm", "depth_mm"):
            if getattr(self, name) is not None:
                set_(self, name, range_(getattr(self, name), f"TumorConfig.{name}", 0, 1000))
        if self.capsule_band[0] == self.capsule_band[1]:
            raise TumorConfigError(
                f"TumorConfig.capsule_band: lb < ub needed, got {self.capsule_band}"
            )
        if self.regions is not None:
            from robustbench_liver.synthesis.location import REGION_NAMES

            regions = (self.regions,) if isinstance(self.regions, str) else tuple(self.regions)
            for region in regions:
                choice(region, REGION_NAMES, "regions")
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
        check_keys(data, cls, "TumorConfig")
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
                    {k.name: plain(getattr(s, k.name)) for k in fields(SizeClass)} for s in value
                ]
            out[f.name] = plain(value)
        return out

    def with_(self, **changes: Any) -> TumorConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


GENERATOR_2: dict[str, Any] = {
    "delta_hu": (-69.0, -18.0),
    "edge_blur_mm": (1.0, 2.0),
    "edge_blur_max_ratio": None,
    "label_level": None,
    "fill_clefts_mm": 0.0,
    "mass_effect_keep_grain": False,
    "necrosis_chance": 0.0,
    "calcification_chance": 0.0,
    "capsule_band": (0.2, 0.5),
    "capsule_hu": (5.0, 15.0),
    "spread_share": 0.0,
}
"""The tumor model of generator 2 (before issue 13's realism work), as field overrides:
`TumorConfig.level("mix", **GENERATOR_2)` paints, for the same seeds, what generator 2
painted, byte for byte. A scenario can set the same values to compare the two."""


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
    "GENERATOR_2",
    "LEVELS",
    "SizeClass",
    "TumorConfig",
    "TumorConfigError",
    "as_config",
]
