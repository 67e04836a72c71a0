"""Names -> folder names: safe names are their own folder (as before), others are encoded,
no two names share a folder, and older run folders are resumed or refused, never mixed."""

from __future__ import annotations

import json

import pytest

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.runs.binding import check_folders
from robustbench_liver.runs.folders import check_distinct, folder_name, is_safe, legacy_folder
from robustbench_liver.runs.store import RunStore

SAFE = ["unet-synth", "hu-threshold", "oracle-ish", "UNet_v2", "nnU-Net+TTA", "x", "a.b", "v1.0"]
ODD = [
    ".",
    "..",
    "...",
    "team/unet",
    "team\\unet",
    "../../evil",
    "/etc/passwd",
    "a b",
    "unet:v1",
    "-lead",
    "trail-",
    "end.",
    ".hidden",
    "nul",
    "CON.txt",
    "é-net",
    "tab\there",
    "x" * 300,
    "~",
]


@pytest.mark.parametrize("name", SAFE)
def test_safe_names_keep_the_folder_they_always_had(name):
    assert is_safe(name) and folder_name(name) == name == legacy_folder(name)


@pytest.mark.parametrize("name", ODD)
def test_other_names_become_one_safe_component(name):
    folder = folder_name(name)
    assert folder != name and "~" in folder and len(folder) <= 64
    assert is_safe(folder.replace("~", "_"))  # one component, on any file system
    assert "/" not in folder and "\\" not in folder and folder not in {".", ".."}
    assert not folder.startswith((".", "-")) and folder == folder_name(name)  # stable


def test_no_two_names_share_a_folder_even_ignoring_case():
    names = SAFE + ODD + [legacy_folder(n) for n in ODD] + [folder_name(n) for n in ODD]
    names = list(dict.fromkeys(names))
    folders = {folder_name(n).casefold() for n in names}
    assert len(folders) == len(names)


@pytest.mark.parametrize("names", [["UNet", "unet"], ["a", "b", "A"]])
def test_names_alike_but_for_case_are_refused(names):
    with pytest.raises(RobustBenchError, match="case-insensitive"):
        check_distinct(names, "model")


@pytest.mark.parametrize("name", ["", " ", "\t"])
def test_blank_names_are_refused(name):
    with pytest.raises(RobustBenchError, match="must not be empty"):
        check_distinct(["unet", name], "model")


def _old_folder(root, models):
    """A run folder as the version before folder_name left it (format 1)."""
    manifest = {"format": 1, "scenarios": {"s": {"hash": "h"}}, "models": dict.fromkeys(models)}
    root.mkdir()
    (root / "manifest.json").write_text(json.dumps(manifest))
    for model in models:
        (root / "parts" / "s" / legacy_folder(model)).mkdir(parents=True, exist_ok=True)
    return manifest


def test_an_older_run_folder_with_safe_names_resumes(tmp_path):
    manifest = _old_folder(tmp_path / "run", ["unet-synth", "oracle-ish"])
    folders = check_folders(tmp_path / "run", [], ["hu-threshold"], manifest)
    assert folders["models"] == {n: n for n in ["unet-synth", "oracle-ish", "hu-threshold"]}


@pytest.mark.parametrize("models", [["team/unet"], ["team/unet", "team-unet"], [".", "x"]])
def test_an_older_run_folder_whose_names_were_slugged_is_refused(tmp_path, models):
    manifest = _old_folder(tmp_path / "run", models)
    with pytest.raises(RobustBenchError, match="older robustbench-liver") as err:
        check_folders(tmp_path / "run", [], [], manifest)
    assert "--out" in str(err.value) and "reports still read" in str(err.value)


def test_reports_of_older_folders_find_masks_unless_two_models_shared_them(tmp_path):
    import numpy as np

    mask = np.zeros((4, 4, 4), dtype=bool)
    mask[1, 2, 3] = True
    root = tmp_path / "run"
    _old_folder(root, ["team/unet", "solo model"])
    store = RunStore(root)
    for model in ("team/unet", "solo model"):  # where format 1 put them
        store.write_prediction("s", legacy_folder(model), "c1", mask)
    back = store.read_prediction("s", "solo model", "c1")
    assert back is not None and back.tobytes() == mask.tobytes()
    assert store.read_prediction("s", "team/unet", "c1") is not None
    _old_folder(tmp_path / "shared", ["team/unet", "team-unet"])
    shared = RunStore(tmp_path / "shared")
    shared.write_prediction("s", "team-unet", "c1", mask)
    assert shared.read_prediction("s", "team/unet", "c1") is None  # whose? cannot tell
