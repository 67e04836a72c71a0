"""How real do the synthetic tumors look? Per-lesion features of real tumors and of
size-matched synthetic ones, per-feature distances with CIs, and a classifier two-sample
test (cross-validated AUC: 0.5 = indistinguishable).

`features` and `edge` define the features on a `LesionView` (a lesion cropped with its
surroundings), `lesions` finds and measures lesions, `matching` makes the synthetic
counterparts, `compare` and `classifier` compare, `study` runs it all and `report` writes it.
"""

from __future__ import annotations

from robustbench_liver.fidelity.classifier import TwoSampleResult, two_sample_test
from robustbench_liver.fidelity.compare import feature_distances
from robustbench_liver.fidelity.features import lesion_features
from robustbench_liver.fidelity.lesions import ScanFrame, find_lesions, scan_frame
from robustbench_liver.fidelity.matching import matched_config
from robustbench_liver.fidelity.registry import CLASSIFIER_FEATURES, FEATURES, Feature
from robustbench_liver.fidelity.study import Study, TumorModel, run_study
from robustbench_liver.fidelity.view import LesionView, crop_view

__all__ = [
    "CLASSIFIER_FEATURES",
    "FEATURES",
    "Feature",
    "LesionView",
    "ScanFrame",
    "Study",
    "TumorModel",
    "TwoSampleResult",
    "crop_view",
    "feature_distances",
    "find_lesions",
    "lesion_features",
    "matched_config",
    "run_study",
    "scan_frame",
    "two_sample_test",
]
