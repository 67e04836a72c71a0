"""parts.sha256 and RunStore.audit on hand-made parts: the tables are what the parts hold,
an edit is named and never laundered, retried pairs leave nothing stale behind."""

from __future__ import annotations

import pandas as pd
import pytest

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.runs import checksums
from robustbench_liver.runs.store import RunStore

PAIRS = [("s", "m", f"c{i}") for i in range(3)]


def _row(scenario: str, model: str, case_id: str, status: str = "ok") -> dict:
    return {"scenario": scenario, "model": model, "case_id": case_id, "status": status,
            "dsc": 0.5, "seconds": 0.1}  # fmt: skip


def _lesion(scenario: str, model: str, case_id: str, lesion_id: int) -> dict:
    return {"scenario": scenario, "model": model, "case_id": case_id, "lesion_id": lesion_id,
            "detected": True}  # fmt: skip


@pytest.fixture
def store(tmp_path) -> RunStore:
    store = RunStore(tmp_path / "run")
    for i, pair in enumerate(PAIRS):
        lesions = [_lesion(*pair, k) for k in range(i)]
        store.write_part(*pair, _row(*pair, status="ok" if i else "model_error"), lesions)
    store.collect()
    return store


def test_a_collected_folder_agrees_with_itself(store):
    recorded = checksums.read(store.root)
    assert recorded is not None and {"cases.parquet", "lesions.parquet"} <= set(recorded)
    assert len([r for r in recorded if r.startswith("parts/")]) == 6
    assert store.audit() == [] and store.edited_parts() == []


def _rewrite(path, **values) -> None:
    table = pd.read_parquet(path)
    for column, value in values.items():
        table[column] = value
    table.to_parquet(path, index=False)


def test_an_edited_part_is_named_and_never_laundered(store):
    part = store.part("s", "m", "c1")
    _rewrite(part, dsc=0.9)
    rel = "parts/s/m/c1.cases.parquet"
    assert [p.split(":")[0] for p in store.edited_parts()] == [rel]
    assert any(p.startswith(f"{rel}: differs from its rows") for p in store.audit())
    store.collect()  # rebuilding the tables keeps the recorded checksum
    assert store.tables()[0]["dsc"].max() == 0.9
    assert [p.split(":")[0] for p in store.audit()] == [rel]


def test_tables_edited_behind_the_parts_are_named(store):
    _rewrite(store.root / "cases.parquet", dsc=0.25)
    found = store.audit()
    assert any(p.startswith("cases.parquet: edited") for p in found)
    assert sum("differs from its rows in cases.parquet" in p for p in found) == 3


def test_a_deleted_part_and_a_part_the_tables_lack_are_named(store):
    store.part("s", "m", "c2", "lesions").unlink()
    store.write_part("s", "m", "c9", _row("s", "m", "c9"), [])
    found = store.audit()
    assert "parts/s/m/c2.lesions.parquet: listed in parts.sha256 but missing" in found[0]
    assert any(p.startswith("parts/s/m/c9.cases.parquet: not in parts.sha256") for p in found)
    assert any("lesions.parquet: rows of s/m/c2, but parts/s/m/c2.cases" in p for p in found)


def test_a_lesion_part_without_its_case_part_is_left_out(store):
    """A pair killed between its two writes: its lesions are not results yet."""
    store.write_part("s", "m", "c7", _row("s", "m", "c7"), [_lesion("s", "m", "c7", 0)])
    store.part("s", "m", "c7").unlink()
    cases, lesions = store.collect()
    assert "c7" not in set(cases["case_id"]) and "c7" not in set(lesions["case_id"])
    assert store.audit() == []


def test_dropped_pairs_are_gone_with_their_checksums(store):
    assert store.status("s", "m", "c0") == "model_error" and store.status("s", "m", "c5") is None
    store.drop([("s", "m", "c0")])
    assert not store.is_done("s", "m", "c0")
    recorded = checksums.read(store.root) or {}
    assert not [r for r in recorded if "/c0." in r]
    store.write_part("s", "m", "c0", _row("s", "m", "c0"), [])  # run again: no edit
    assert store.edited_parts() == []
    store.collect()
    assert store.audit() == []


def test_folders_without_parts_have_nothing_to_audit(tmp_path):
    """Tables written some other way (hand-made fixtures, exports): nothing to compare."""
    root = tmp_path / "tables-only"
    root.mkdir()
    pd.DataFrame([_row("s", "m", "c0")]).to_parquet(root / "cases.parquet")
    assert RunStore(root).audit() == []


def test_a_damaged_checksum_file_is_named(store):
    (store.root / checksums.NAME).write_text("not a checksum line\n")
    with pytest.raises(RobustBenchError, match=r"parts\.sha256, line 1"):
        store.audit()
