"""A card is shown with the fields its adapter uses; it is stored and printed as JSON whole."""

from __future__ import annotations

import json
from dataclasses import fields

from robustbench_liver.cli.main import main
from robustbench_liver.models import ModelCard, cards
from robustbench_liver.models.protocol import NETWORK_FIELDS, card_for_display

SLIDING_WINDOW = ("roi_size", "overlap", "normalize", "hu_window", "classes")


def builtin(name: str) -> ModelCard:
    return dict(cards())[name]


def test_network_fields_are_card_fields():
    assert set(NETWORK_FIELDS) <= {f.name for f in fields(ModelCard)}


def test_hu_threshold_shows_no_network_fields():
    card = builtin("hu-threshold")
    shown = card_for_display(card.to_dict())
    assert not set(SLIDING_WINDOW) & set(shown)
    assert shown["needs_liver"] is True and shown["adapter"] == "python"
    assert "roi_size" in card.to_dict()  # the stored card stays complete


def test_unet_synth_shows_its_sliding_window():
    shown = card_for_display(builtin("unet-synth").to_dict())
    assert shown["roi_size"] == [96, 96, 96] and "overlap" in shown and shown["sha256"]


def test_command_cards_lose_them_and_unknown_adapters_keep_everything():
    command = ModelCard(name="tool", adapter="command").to_dict()
    assert "overlap" not in card_for_display(command)
    old = {"name": "x", "roi_size": [64, 64, 64]}  # a stored card without an adapter
    assert card_for_display(old) == old


def test_models_full_listing_follows_the_adapter(capsys):
    assert main(["models", "--full"]) == 0
    blocks = {b.split()[0]: b for b in capsys.readouterr().out.split("\n\n") if b.strip()}
    hu, unet = blocks["hu-threshold"], blocks["unet-synth"]
    assert "needs_liver: True" in hu and "roi_size" not in hu and "overlap" not in hu
    assert "  roi_size: [96, 96, 96]" in unet and "  overlap:" in unet


def test_models_json_keeps_every_field(capsys):
    assert main(["models", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)["hu-threshold"]
    assert {f.name for f in fields(ModelCard)} == set(card)
