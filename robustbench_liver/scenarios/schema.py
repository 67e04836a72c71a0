"""The scenario schema: what a YAML scenario may say, field by field (pydantic, strict)."""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from robustbench_liver.metrics.case import MetricOptions as _Scoring

SCORING = _Scoring()
"""The scoring defaults: one set, shared with `run` and `evaluate`."""

SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_NAME = 64
"""Longest scenario, axis or level name: they name files and folders."""


class Strict(BaseModel):
    # no NaN or infinity in any number: each would pass the bounds checks and then make every
    # case fail (or every mm-based number wrong) at run time
    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False
    )


def _slug(value: str, what: str) -> str:
    if not SLUG.match(value):
        raise ValueError(
            f"{what} {value!r} may hold letters, digits, '_', '.', '-' (it names files)"
        )
    if len(value) > MAX_NAME:
        raise ValueError(
            f"{what} {value[:20]}... is {len(value)} characters; at most {MAX_NAME} "
            "(it names files)"
        )
    return value


def _phantom_option(name: str, value: Any) -> Any:
    """Check one phantom knob as the phantom will (PhantomOptions), at validation time."""
    from robustbench_liver.errors import DataError
    from robustbench_liver.sources.phantom import PhantomOptions

    if value is not None:
        try:
            PhantomOptions(**{name: value})
        except DataError as err:
            raise ValueError(str(err)) from None
    return value


class PhantomSource(Strict):
    source: Literal["phantom"]
    count: Annotated[int, Field(ge=1, le=200)] = 1
    """How many phantom patients (seeds first_seed, first_seed + 1, ...)."""
    first_seed: Annotated[int, Field(ge=0)] = 0
    """Seed of the first patient. Patients are seeds first_seed .. first_seed + count - 1: give
    two phantom sources disjoint ranges to keep their patients apart."""
    shape: tuple[int, int, int] | None = None
    """Grid (voxels); default 256 x 224 x 96."""
    spacing: tuple[float, float, float] | None = None
    """Voxel size (mm); default 1.5 x 1.5 x 2.5."""
    noise_std: float | None = None
    liver_volume_ml: float | None = None

    @field_validator("shape", "spacing", "noise_std", "liver_volume_ml")
    @classmethod
    def _as_the_phantom_checks(cls, v: Any, info: ValidationInfo) -> Any:
        return _phantom_option(str(info.field_name), v)


class LiverFromModel(Strict):
    """Liver masks from a segmentation model, for CT that comes without labels (the paper's
    step 0): run once per base scan and cached (see sources.liver_from)."""

    model: str
    """A registered model name (`robustbench-liver models`), or a model spec file (.yaml)
    relative to the scenario file and inside its folder."""
    label: int | tuple[int, ...]
    """The model's output value(s) that are liver, from its 0/1/2 output: 1, or [1, 2] for
    the suite's own models (1 liver, 2 tumor). A tool with other values maps them in its
    spec (`remap: {5: 1}` for TotalSegmentator's liver, 5)."""
    volume_l: tuple[float, float] = (0.6, 3.5)
    """Plausible liver volume (litres) when the scan holds the whole liver; a scan that cuts
    the liver (the mask touches a face of the grid, or the grid spans under 100 mm) is held
    to the upper bound and to at least 0.05 l."""
    median_hu: tuple[float, float] = (-20.0, 250.0)
    """Plausible median HU inside the mask, fatty to strongly enhanced liver."""
    max_body_share: Annotated[float, Field(gt=0, le=1)] = 0.5
    """Most of the body (voxels above -500 HU) the mask may hold."""
    min_largest_share: Annotated[float, Field(gt=0, le=1)] = 0.8
    """The largest connected piece must hold this share of the mask; it is kept and the
    other pieces dropped (with a warning). Less: the mask is refused as fragmented."""

    @field_validator("label")
    @classmethod
    def _liver_values(cls, v: int | tuple[int, ...]) -> tuple[int, ...]:
        values = (v,) if isinstance(v, int) else tuple(v)
        if not values or any(isinstance(x, bool) or x not in (1, 2) for x in values):
            raise ValueError(
                f"label {v!r}: a model's output is 0 background, 1 liver, 2 tumor, so give "
                "1, or [1, 2] (liver and tumor); map a tool's own values in its spec "
                "(remap: {5: 1} for TotalSegmentator's liver)"
            )
        return tuple(sorted(set(values)))

    @field_validator("volume_l", "median_hu")
    @classmethod
    def _range(cls, v: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
        if not v[0] < v[1] or (info.field_name == "volume_l" and v[0] < 0):
            raise ValueError(f"{info.field_name} must be [low, high] with low < high, got {v}")
        return v


class FolderSource(Strict):
    """NIfTI files or DICOM series folders under the data root (`--data-root`)."""

    source: Literal["folder"]
    images: str
    """Glob under the data root ('**' for any depth; symlinks inside the root are followed,
    hidden names skipped): '*/ct.nii.gz', 'imagesTr/*.nii.gz', or DICOM folders: '*/dicom'."""
    labels: str | None = None
    """Label map per image; '{dir}' is the image's folder, '{stem}' its name without
    extension, '{name}' its file name, '{case}' the stem without nnU-Net's '_0000'.
    Examples: '{dir}/labels.nii.gz' (TotalSegmentator), 'labelsTr/{case}.nii.gz' (MSD /
    nnU-Net), 'labels/{name}' (flat folders)."""
    liver: str | None = None
    """A binary liver mask per image instead of `labels` (same placeholders), e.g.
    '{dir}/segmentations/liver.nii.gz' (TotalSegmentator's per-organ masks)."""
    liver_label: int | None = None
    """Liver value in `labels`: LiTS/MSD 1, BTCV 6, TotalSegmentator 5. Unset: recognised from
    the label map with a warning (binary or 0/1/2 -> 1, TotalSegmentator's -> 5), else an
    error asking for it."""
    vessel_labels: tuple[int, ...] = ()
    """Vessel values in `labels` (TotalSegmentator: 63, 64)."""
    liver_from: LiverFromModel | None = None
    """Instead of `labels` or `liver`: the liver from a model, for CT without labels."""
    limit: Annotated[int, Field(ge=1)] | None = None
    """Use only the first N matches (sorted by path)."""

    @model_validator(mode="after")
    def _mask_given(self) -> FolderSource:
        if self.liver_from is None:
            if self.labels is None and self.liver is None:
                raise ValueError(
                    "give `labels` (a label map), `liver` (a binary mask) or `liver_from` (a "
                    "model that finds the liver)"
                )
            return self
        given = [k for k in ("labels", "liver") if getattr(self, k) is not None]
        if given:
            raise ValueError(f"`liver_from` takes the place of `{given[0]}`: give one of them")
        if self.liver_label is not None or self.vessel_labels:
            raise ValueError(
                "with `liver_from` there is no label map: drop `liver_label` (the model's "
                "liver value is `liver_from.label`) and `vessel_labels` (vessels are then "
                "found in the image)"
            )
        return self


class MsdSource(Strict):
    """A Medical Segmentation Decathlon / nnU-Net raw folder: imagesTr + labelsTr."""

    source: Literal["msd"]
    task: str
    """Folder under the data root, e.g. 'Task03_Liver'."""
    split: Literal["Tr", "Ts"] = "Tr"
    liver_label: int | None = None
    """Liver value in the labels (Task03_Liver: 1); unset: recognised as for `folder`."""
    liver_from: LiverFromModel | None = None
    """The liver from a model instead of labels{split} (e.g. for imagesTs, which has none)."""
    limit: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _one_liver(self) -> MsdSource:
        if self.liver_from is not None and self.liver_label is not None:
            raise ValueError(
                "with `liver_from` the labels are not read: drop `liver_label` (the model's "
                "liver value is `liver_from.label`)"
            )
        return self


BaseScans = Annotated[PhantomSource | FolderSource | MsdSource, Field(discriminator="source")]


class Axis(Strict):
    """One sweep axis: named levels, each setting one or more parameters."""

    name: str
    param: str | None = None
    """Shorthand: every level sets this one parameter (e.g. 'tumors.delta_hu')."""
    levels: dict[str, Any]
    """Level name -> value of `param`, or -> mapping of parameter paths to values."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _slug(v, "axis name")

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:
            raise ValueError("an axis needs at least one level")
        for name in v:
            _slug(str(name), "level name")
        return v


class Sweep(Strict):
    combine: Literal["grid", "zip"] = "grid"
    """grid: every combination of the axes' levels; zip: the i-th levels together."""
    axes: list[Axis] = []


class MetricOptions(Strict):
    nsd_tolerance_mm: Annotated[float, Field(gt=0, le=50)] = SCORING.nsd_tolerance_mm
    min_volume_mm3: Annotated[float, Field(ge=0)] = SCORING.min_volume_mm3
    """A case is called positive when the predicted tumor volume reaches this."""
    lesion_match: Literal["overlap", "iou"] = SCORING.lesion_rule
    """overlap: a lesion is found when any predicted tumor voxel touches it; iou: when the
    touching prediction reaches `iou_threshold`."""
    iou_threshold: Annotated[float, Field(gt=0, le=1)] = SCORING.iou_threshold
    radius_bins_mm: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0)
    """Left edges of the lesion-size bins by equivalent radius; the last is open-ended."""

    @field_validator("radius_bins_mm")
    @classmethod
    def _bins(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or v[0] != 0 or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError("radius bins must start at 0 and increase")
        return v


class StatisticsOptions(Strict):
    resamples: Annotated[int, Field(ge=100, le=1_000_000)] = 10_000
    ci_level: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    correction: Literal["holm", "bh", "none"] = "holm"
    """Multiplicity correction across the comparisons of one report."""


class ScenarioSpec(Strict):
    """A scenario: which base scans, which tumors, which sweep, and how to score."""

    name: str
    description: str = ""
    version: Annotated[int, Field(ge=1)] = 1
    """Bump when the scenario changes meaning; leaderboards keep versions apart."""
    seed: Annotated[int, Field(ge=0)] = 0
    base_scans: list[BaseScans]
    tumor_cases: Annotated[int, Field(ge=1, le=100_000)] = 8
    """Cases with tumors per condition, spread round-robin over the base scans."""
    control_cases: Annotated[int, Field(ge=0, le=100_000)] = 0
    """Tumor-free controls (for specificity) per image-level setting: they continue the
    round-robin after the tumor cases, and conditions whose `image` settings are equal share
    one set (their controls are the same images), held by the first of them in sweep order
    (the reference when it is one of them)."""
    cases_per_condition: Annotated[int, Field(ge=1, le=100_000)] | None = None
    """The older way to give the counts: cases per condition, controls included, with the
    share `controls` of them tumor-free. When given it replaces `tumor_cases` and
    `control_cases` (also those of a file this one extends)."""
    controls: Annotated[float, Field(ge=0, lt=1)] | None = None
    """Share of `cases_per_condition` that are tumor-free (older way; see there)."""
    tumors: dict[str, Any] = {}
    """The in-distribution tumor model: `level` (tiny, small, medium, large, mix) plus any
    TumorConfig field; every condition starts from it."""
    image: dict[str, Any] = {}
    """Image-level shift applied to every condition (ImageShift fields); none by default."""
    sweep: Sweep = Sweep()
    reference: dict[str, str] | None = None
    """The reference condition as axis -> level; default: each axis's first level."""
    metrics: MetricOptions = MetricOptions()
    statistics: StatisticsOptions = StatisticsOptions()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _slug(v, "scenario name")

    @field_validator("base_scans")
    @classmethod
    def _some_scans(cls, v: list[Any]) -> list[Any]:
        if not v:
            raise ValueError("list at least one source of base scans")
        return v

    @model_validator(mode="after")
    def _some_tumor_cases(self) -> ScenarioSpec:
        if self.case_counts[0] < 1:
            raise ValueError(
                f"cases_per_condition {self.cases_per_condition} with controls {self.controls} "
                "leaves no tumor case; raise cases_per_condition or give tumor_cases and "
                "control_cases instead"
            )
        return self

    @property
    def case_counts(self) -> tuple[int, int]:
        """(tumor cases per condition, controls per image-level setting)."""
        if self.cases_per_condition is None and self.controls is None:
            return self.tumor_cases, self.control_cases
        total = 8 if self.cases_per_condition is None else self.cases_per_condition
        n_controls = round(total * (self.controls or 0.0))
        return total - n_controls, n_controls
