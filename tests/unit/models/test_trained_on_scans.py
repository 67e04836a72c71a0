"""Cards list their training scans as image digests; the shipped unet-synth card lists its own,
and the shipped real-scan benchmark avoids them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustbench_liver.errors import ModelError
from robustbench_liver.models import ModelCard
from robustbench_liver.models.spec import read_spec
from robustbench_liver.scenarios import base_scans, load_scenario, make_plan
from robustbench_liver.sources.phantom import make_phantom
from robustbench_liver.sources.refs import image_digest, image_file_digest

REPO = Path(__file__).resolve().parents[3]
UNET_SPEC = REPO / "robustbench_liver" / "models" / "weights" / "unet_synth.yaml"


@pytest.fixture(scope="module")
def unet_card() -> ModelCard:
    """The shipped card, read from its spec without loading torch or the weights."""
    return ModelCard.from_dict({**read_spec(UNET_SPEC)["card"], "adapter": "torch"})


def test_digests_round_trip_and_are_normalised():
    card = ModelCard(name="m", trained_on_scans=["AB" * 32, "cd" * 32])
    assert card.trained_on_scans == ("ab" * 32, "cd" * 32)
    assert ModelCard.from_dict(json.loads(json.dumps(card.to_dict()))) == card
    assert ModelCard(name="m").trained_on_scans == ()


@pytest.mark.parametrize("bad", [["nothex" * 8], ["ab" * 31], "ab" * 32, [42]])
def test_card_refuses_what_is_not_a_list_of_digests(bad):
    with pytest.raises(ModelError, match="trained_on_scans"):
        ModelCard(name="m", trained_on_scans=bad)


def test_unet_synth_lists_its_phantoms_and_nothing_else(unet_card):
    # version 4 is version 2 fine-tuned: phantom seeds 100-123 as version 2 saw them
    # (default options) and as version 4 did (own gallbladder, duodenum, liver tip), and the
    # DICOM scan
    assert len(unet_card.trained_on_scans) == len(set(unet_card.trained_on_scans)) == 49
    assert image_digest(make_phantom(100)) in unet_card.trained_on_scans  # default phantom
    varied = make_phantom(123, vary_gallbladder=True, duodenum=True, liver_tip=True)
    assert image_digest(varied) in unet_card.trained_on_scans
    assert image_digest(make_phantom(0)) not in unet_card.trained_on_scans  # shipped scenarios


def test_unet_synth_lists_the_dicom_scan_but_not_the_nifti_scans(unet_card, shared_data):
    listed = unet_card.trained_on_scans
    assert image_file_digest(shared_data / "totalseg-dicom" / "dicom") in listed
    for folder in ("totalseg-full", "totalseg-small"):
        assert image_file_digest(shared_data / folder / "ct.nii.gz") not in listed


def test_shipped_real_scan_benchmark_holds_no_training_scan_of_unet_synth(unet_card, shared_data):
    scenario = load_scenario(REPO / "scenarios" / "real_scans.yaml")
    plan = make_plan(scenario, base_scans(scenario, shared_data))
    assert plan.cases and {c.scan.id for c in plan.cases} == {"totalseg-full"}
    for ref in plan.scans:
        assert ref.image_digest() not in unet_card.trained_on_scans, ref.id
