"""Read a study's key and its readers' answer files, refusing anything that would be scored
wrongly: another study's answers, unknown, repeated or missing items, bad values."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_liver.turing.errors import AnswersError, KeyFileError, StudyMismatchError
from robustbench_liver.turing.page import ANSWERS_FORMAT, CALLS

KEY_FORMAT = "robustbench-liver/turing-key/v1"
CONFIDENCES = (1, 2, 3, 4, 5)
_SHOWN = 5  # item ids listed in an error before "..."


@dataclass(frozen=True)
class StudyKey:
    """The answer key: each item's truth, in page order."""

    study_id: str
    truth: dict[str, str]
    """item id -> 'real' or 'synthetic'."""
    order: tuple[str, ...]
    path: Path

    def position(self, item: str) -> int:
        """The item's number on the page (1-based)."""
        return self.order.index(item) + 1


@dataclass(frozen=True)
class ReaderAnswers:
    reader: str
    path: Path
    calls: dict[str, tuple[str, int]]
    """item id -> (call, confidence), for the items answered."""
    missing: tuple[str, ...]
    """Items of the study this reader did not answer (only with allow_missing)."""


def _load_json(path: Path, error: type[AnswersError] | type[KeyFileError]) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error("file not found", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise error(f"not a JSON file ({err})", path) from None


def read_key(path: str | Path) -> StudyKey:
    path = Path(path)
    data = _load_json(path, KeyFileError)
    if not isinstance(data, dict) or data.get("format") != KEY_FORMAT:
        raise KeyFileError(
            f"not a reader-study key (format should be {KEY_FORMAT!r})",
            path,
            "pass the key.json that `turing export` wrote next to study.html",
        )
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise KeyFileError("the key lists no items", path)
    truth: dict[str, str] = {}
    for i, item in enumerate(items):
        ok = isinstance(item, dict) and isinstance(item.get("item"), str)
        if not ok or item.get("truth") not in CALLS:
            raise KeyFileError(f"items[{i}]: needs an 'item' id and a 'truth' in {CALLS}", path)
        if item["item"] in truth:
            raise KeyFileError(f"items[{i}]: item {item['item']!r} listed twice", path)
        truth[item["item"]] = item["truth"]
    study_id = data.get("study_id")
    if not isinstance(study_id, str) or not study_id:
        raise KeyFileError("the key has no study_id", path)
    return StudyKey(study_id, truth, tuple(truth), path)


def _ids(items: Sequence[str], key: StudyKey | None = None) -> str:
    shown = [f"#{key.position(i)} ({i})" if key else repr(i) for i in items[:_SHOWN]]
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(shown) + more


def read_answers(path: str | Path, key: StudyKey, allow_missing: bool = False) -> ReaderAnswers:
    """One reader's answers, checked against the key."""
    path = Path(path)
    data = _load_json(path, AnswersError)
    if not isinstance(data, dict) or not isinstance(data.get("answers"), list):
        raise AnswersError(
            "not a reader-study answers file (no 'answers' list)",
            path,
            "use the file the study page's 'Download answers' button saved",
        )
    if data.get("format", ANSWERS_FORMAT) != ANSWERS_FORMAT:
        raise AnswersError(f"format {data.get('format')!r}, expected {ANSWERS_FORMAT!r}", path)
    if data.get("study_id") != key.study_id:
        raise StudyMismatchError(
            f"these answers are for study {data.get('study_id')!r}, the key "
            f"({key.path}) is for study {key.study_id!r}",
            path,
            "score each study with its own key.json",
        )
    reader = data.get("reader")
    if not isinstance(reader, str) or not reader.strip():
        raise AnswersError("no reader name in the file ('reader')", path)
    calls: dict[str, tuple[str, int]] = {}
    unknown: list[str] = []
    repeated: list[str] = []
    for i, answer in enumerate(data["answers"]):
        if not isinstance(answer, dict):
            raise AnswersError(f"answers[{i}]: must be an object {{item, call, confidence}}", path)
        item, call, confidence = answer.get("item"), answer.get("call"), answer.get("confidence")
        if not isinstance(item, str):
            raise AnswersError(f"answers[{i}]: 'item' must be an item id, got {item!r}", path)
        if call not in CALLS:
            raise AnswersError(
                f"answers[{i}] (item {item!r}): 'call' must be one of {CALLS}, got {call!r}", path
            )
        if isinstance(confidence, bool) or confidence not in CONFIDENCES:
            raise AnswersError(
                f"answers[{i}] (item {item!r}): 'confidence' must be an integer 1-5, "
                f"got {confidence!r}",
                path,
            )
        if item not in key.truth:
            unknown.append(item)
        elif item in calls:
            repeated.append(item)
        else:
            calls[item] = (call, int(confidence))
    if unknown:
        raise AnswersError(
            f"{len(unknown)} answer(s) name items that are not in study {key.study_id!r}: "
            f"{_ids(unknown)}",
            path,
            "was the file edited, or made from another export with the same study id?",
        )
    if repeated:
        raise AnswersError(f"items answered more than once: {_ids(repeated, key)}", path)
    missing = tuple(item for item in key.order if item not in calls)
    if missing and not allow_missing:
        raise AnswersError(
            f"reader {reader!r} answered {len(calls)} of {len(key.order)} items; missing "
            f"{_ids(missing, key)}",
            path,
            "finish the study in the page and download again, or pass --allow-missing to "
            "score the answered items only",
        )
    if not calls:
        raise AnswersError(f"reader {reader!r} answered no item", path)
    return ReaderAnswers(reader.strip(), path, calls, missing)


def read_all(
    paths: Sequence[str | Path], key: StudyKey, allow_missing: bool = False
) -> list[ReaderAnswers]:
    """Every reader's answers; two files of one reader are an error (which one counts?)."""
    if not paths:
        raise AnswersError("no answers files given")
    readers = [read_answers(p, key, allow_missing) for p in paths]
    seen: dict[str, Path] = {}
    for r in readers:
        if r.reader in seen:
            raise AnswersError(
                f"reader {r.reader!r} also answered in {seen[r.reader]}",
                r.path,
                "keep one file per reader",
            )
        seen[r.reader] = r.path
    return readers
