"""Liver-tumor synthesis after Hu et al., "Label-Free Liver Tumor Segmentation" (CVPR 2023).

All seven steps of the paper, each switchable: vessel mask, vessel-free location, texture,
deformed-ellipsoid shape, blend, mass effect and capsule. `sample` draws a case's tumors as
JSON-serialisable records; `apply` paints them, deterministically; `synthesize` does both.
"""

from __future__ import annotations

from robustbench_liver.synthesis.config import (
    GENERATOR_2,
    LEVELS,
    SizeClass,
    TumorConfig,
    TumorConfigError,
    as_config,
)
from robustbench_liver.synthesis.generator import (
    CaseBuffer,
    SynthesisWarning,
    apply,
    context,
    sample,
    synthesize,
)
from robustbench_liver.synthesis.location import REGION_NAMES, REGIONS
from robustbench_liver.synthesis.paint import tumor_box

GENERATOR_VERSION = "3"
"""Bump when the same records or seeds would give other bytes: it invalidates case caches."""

__all__ = [
    "GENERATOR_2",
    "GENERATOR_VERSION",
    "LEVELS",
    "REGIONS",
    "REGION_NAMES",
    "CaseBuffer",
    "SizeClass",
    "SynthesisWarning",
    "TumorConfig",
    "TumorConfigError",
    "apply",
    "as_config",
    "context",
    "sample",
    "synthesize",
    "tumor_box",
]
