"""TumorConfig: presets as in DESIGN.md §3, validators that name field and value."""

from __future__ import annotations

import json

import pytest

from robustbench_liver.errors import SynthesisError
from robustbench_liver.synthesis import LEVELS, SizeClass, TumorConfig, TumorConfigError


def test_level_presets_match_the_design_table():
    table = {
        "tiny": ((3, 5), (3, 10), (0.5, 1.0)),
        "small": ((6, 10), (3, 10), (1, 2)),
        "medium": ((12, 20), (2, 5), (3, 6)),
        "large": ((24, 40), (1, 3), (5, 10)),
    }
    for name, (axes, count, elastic) in table.items():
        (size,) = LEVELS[name]
        assert size.semi_axes_mm == axes and size.count == count
        assert size.elastic_sigma_mm == elastic
    mix = LEVELS["mix"]
    assert [s.name for s in mix] == ["tiny", "small", "medium", "large"]
    assert sum(s.count[1] for s in mix) == 28  # "up to 28 tumors"


def test_every_step_is_on_by_default():
    cfg = TumorConfig()
    assert all(
        getattr(cfg, step)
        for step in ("vessels", "texture", "elastic", "edge_blur", "mass_effect", "capsule")
    )
    assert cfg.intensity_model == "texture" and cfg.delta_hu[1] < 0  # hypo by default


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"delta_hu": (-10, -20)}, ["delta_hu", "-10", "-20"]),
        ({"mass_effect_strength": (0, 150)}, ["mass_effect_strength", "150"]),
        ({"capsule_band": (0.5, 0.5)}, ["capsule_band"]),
        ({"vessel_source": "tresh"}, ["vessel_source", "threshold"]),
        ({"regions": ("rigth",)}, ["regions", "right"]),
        ({"texture": "yes"}, ["texture", "'yes'"]),
        ({"min_inside": 1.5}, ["min_inside", "1.5"]),
        ({"edge_blur_mm": (float("nan"), 1)}, ["edge_blur_mm", "finite"]),
        ({"lobes": (2.5, 3)}, ["lobes", "integers"]),
        ({"if_no_place": "retry"}, ["if_no_place", "skip"]),
    ],
)
def test_validators_name_the_field_and_the_value(change, words):
    with pytest.raises(TumorConfigError) as err:
        TumorConfig(**change)
    assert isinstance(err.value, SynthesisError)
    for word in words:
        assert word in str(err.value)


def test_size_class_validation_names_the_class():
    with pytest.raises(TumorConfigError, match=r"'huge'\.semi_axes_mm"):
        SizeClass("huge", (50, 10), (1, 1), (1, 1))


def test_unknown_level_suggests_the_closest():
    with pytest.raises(TumorConfigError, match="Did you mean 'medium'"):
        TumorConfig.level("meduim")


def test_from_dict_round_trip_and_unknown_keys():
    cfg = TumorConfig.level("mix", delta_hu=(10, 20), capsule=False, regions=("right",))
    data = json.loads(json.dumps(cfg.to_dict()))
    assert TumorConfig.from_dict(data) == cfg
    assert TumorConfig.from_dict({"level": "tiny", "capsule": False}).sizes == LEVELS["tiny"]
    with pytest.raises(TumorConfigError, match="Did you mean 'delta_hu'"):
        TumorConfig.from_dict({"delta_hue": (0, 1)})


def test_a_single_number_is_a_fixed_range():
    cfg = TumorConfig(delta_hu=-30, lobes=4)
    assert cfg.delta_hu == (-30.0, -30.0) and cfg.lobes == (4, 4)
