"""Build one case of a plan: synthesize its tumors, then apply the image shift."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from robustbench_liver.scenarios.load import Scenario
from robustbench_liver.scenarios.plan import IMAGE_STREAM, TUMOR_STREAM, CaseSpec
from robustbench_liver.synthesis import GENERATOR_VERSION, apply, sample
from robustbench_liver.synthesis.image_shift import apply_image_shift
from robustbench_liver.types import Case, Scan


def build_case(scenario: Scenario, spec: CaseSpec, scan: Scan) -> Case:
    """The case `spec` on its loaded base scan: same inputs, same bytes."""
    condition = scenario.condition(spec.condition)
    seed = scenario.spec.seed
    records = []
    if not spec.is_control:
        rng = np.random.default_rng(spec.seed(seed, TUMOR_STREAM))
        records = sample(scan, condition.tumors, rng)
    case = apply(
        scan,
        records,
        case_id=spec.case_id,
        condition=spec.condition,
        replicate=spec.replicate,
        is_control=spec.is_control,
    )
    if condition.image.is_identity:
        return case
    noise = np.random.default_rng(spec.seed(seed, IMAGE_STREAM))
    image = apply_image_shift(case.image, scan.spacing, condition.image, noise)
    return dataclasses.replace(case, image=image)


def content_key(scenario: Scenario, spec: CaseSpec, scan: Scan) -> str:
    """What determines a case's bytes: generator version, base scan content, the tumor model
    (not for controls), the image shift and the seed. Equal keys, equal cases."""
    condition = scenario.condition(spec.condition)
    payload = {
        "generator": GENERATOR_VERSION,
        "scan": scan.digest,
        "tumors": None if spec.is_control else condition.tumors.to_dict(),
        "image": condition.image.to_dict(),
        "seed": spec.entropy(scenario.spec.seed, 0),
        "control": spec.is_control,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
