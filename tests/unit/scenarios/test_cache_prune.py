"""The shared case cache: where it is, pruning by age and size, a cache that cannot be
written, concurrent writers of one key, and the `cache` verb."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.scenarios.cache import (
    CacheWriteWarning,
    CaseCache,
    default_root,
    estimate_case_bytes,
)
from robustbench_liver.types import Case

DAY = 86400.0
NOW = 2_000_000_000.0


def tiny_case() -> Case:
    image = np.arange(4 * 4 * 4, dtype=np.float32).reshape(4, 4, 4)
    label = (image > 30).astype(np.uint8)
    return Case(image=image, label=label, tumors=(), scan_id="s", spacing=(1.0, 1.0, 1.0))


def fake_entry(root: Path, key: str, n_bytes: int, age_days: float) -> Path:
    path = root / key[:2] / f"{key}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * n_bytes)
    os.utime(path, (NOW - age_days * DAY, NOW - age_days * DAY))
    return path


@pytest.fixture
def filled(tmp_path) -> tuple[CaseCache, dict[str, Path]]:
    cache = CaseCache(tmp_path)
    paths = {
        name: fake_entry(tmp_path, key, 1000, age)
        for name, key, age in [("old", "aa01", 40), ("mid", "ab02", 10), ("new", "ac03", 1)]
    }
    return cache, paths


def test_the_default_cache_is_the_env_folder_never_home_in_tests(monkeypatch, tmp_path):
    assert default_root() == Path(os.environ["ROBUSTBENCH_LIVER_CACHE"])  # tests/conftest.py
    monkeypatch.delenv("ROBUSTBENCH_LIVER_CACHE")
    assert default_root() == Path.home() / ".cache" / "robustbench-liver" / "cases"


def test_prune_by_age(filled):
    cache, paths = filled
    result = cache.prune(older_than_days=30, now=NOW)
    assert (result.removed, result.freed_bytes) == (1, 1000)
    assert (result.kept, result.kept_bytes) == (2, 2000)
    assert not paths["old"].exists() and paths["mid"].exists() and paths["new"].exists()


def test_prune_by_size_drops_the_least_recently_used_first(filled):
    cache, paths = filled
    result = cache.prune(max_bytes=1500, now=NOW)
    assert (result.removed, result.kept_bytes) == (2, 1000)
    assert [p.exists() for p in paths.values()] == [False, False, True]


def test_a_read_counts_as_a_use(tmp_path):
    cache = CaseCache(tmp_path)
    key = "ad04" + "0" * 60
    cache.put(key, tiny_case())
    entry = cache._path(key)
    os.utime(entry, (NOW - 50 * DAY, NOW - 50 * DAY))
    assert cache.get(key, case_id="c", condition="k", replicate=0, is_control=True) is not None
    cache.prune(older_than_days=30, now=time.time())
    assert entry.exists()


def test_prune_removes_temporary_files_of_killed_writers_only(tmp_path):
    cache = CaseCache(tmp_path)
    stale = fake_entry(tmp_path, "aa01", 10, 0).with_name(".tmp-dead")
    stale.write_bytes(b"half")
    os.utime(stale, (NOW - 2 * DAY, NOW - 2 * DAY))
    writing = stale.with_name(".tmp-alive")
    writing.write_bytes(b"half")
    os.utime(writing, (NOW - 60, NOW - 60))
    cache.prune(now=NOW)
    assert not stale.exists() and writing.exists()


def test_concurrent_writers_of_one_key_leave_one_whole_entry(tmp_path):
    cache, case, key = CaseCache(tmp_path), tiny_case(), "ee" + "1" * 62
    threads = [threading.Thread(target=cache.put, args=(key, case)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{key}.npz"]
    got = cache.get(key, case_id="c", condition="k", replicate=0, is_control=True)
    assert got is not None and got.image.tobytes() == case.image.tobytes()


def test_a_cache_that_cannot_be_written_is_skipped_with_a_warning(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.warns(CacheWriteWarning, match="could not store a case"):
        CaseCache(blocker).put("ab" + "0" * 62, tiny_case())


def test_estimate_of_a_case():
    assert estimate_case_bytes((256, 224, 96)) == 256 * 224 * 96 * 5  # float32 + uint8


def test_the_cache_verb_shows_and_prunes(tmp_path, capsys, monkeypatch):
    root = tmp_path / "c"
    for i, age in enumerate((40, 10, 1)):  # days ago, from now: the verb uses the clock
        path = fake_entry(root, f"a{i}{'0' * 62}", 600_000, 0)
        os.utime(path, (time.time() - age * DAY,) * 2)
    monkeypatch.setenv("ROBUSTBENCH_LIVER_CACHE", str(root))
    assert main(["cache"]) == 0
    assert capsys.readouterr().out == f"{root.resolve()}: 3 cases, 1.8 MB\n"
    assert main(["cache", "--prune", "--older-than", "30"]) == 0
    assert "removed 1 cases (600 kB), kept 2 (1.2 MB)" in capsys.readouterr().out
    assert main(["cache", "--prune", "--max-gb", "0.0007", "--cache", str(root)]) == 0
    assert "removed 1 cases (600 kB), kept 1 (600 kB)" in capsys.readouterr().out
    assert main(["cache", "--prune"]) == 0
    assert "kept 0 (0 kB)" in capsys.readouterr().out


def test_the_cache_verb_explains_mistakes(tmp_path, capsys):
    assert main(["cache", "--older-than", "3", "--cache", str(tmp_path)]) == 1
    assert "add --prune" in capsys.readouterr().err
    assert main(["cache", "--prune", "--max-gb", "-1", "--cache", str(tmp_path)]) == 1
    assert "--max-gb must be 0 or more, got -1" in capsys.readouterr().err
    assert main(["cache", "--prune", "--cache", str(tmp_path / "none")]) == 0
    assert "nothing to prune" in capsys.readouterr().out
