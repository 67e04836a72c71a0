"""Segmentation models: the protocol and card, the registry, and the adapters.

    from robustbench_liver.models import get_model
    model = get_model("unet-synth")            # or "hu-threshold", or "path/to/spec.yaml"
    labels = model.predict(image_hu, spacing)  # 0/1/2 label map of the input's shape

Register your own with `@register_model("name")`, through the entry-point group
`robustbench_liver.models`, or describe it in a YAML spec (adapters: torch, torchscript,
command).
"""

from __future__ import annotations

from robustbench_liver.models.protocol import BatchItem, ModelCard, SegmentationModel
from robustbench_liver.models.registry import (
    ENTRY_POINT_GROUP,
    cards,
    get_model,
    list_models,
    load_spec,
    register_model,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "BatchItem",
    "ModelCard",
    "SegmentationModel",
    "cards",
    "get_model",
    "list_models",
    "load_spec",
    "register_model",
]
