"""Answer files that would be scored wrongly are refused, each with a clear reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustbench_liver.errors import RobustBenchError
from robustbench_liver.turing import (
    AnswersError,
    KeyFileError,
    StudyMismatchError,
    read_all,
    read_answers,
    read_key,
)
from robustbench_liver.turing.answers import KEY_FORMAT
from robustbench_liver.turing.page import ANSWERS_FORMAT

ITEMS = {"aaaa1111": "real", "bbbb2222": "synthetic", "cccc3333": "synthetic"}


@pytest.fixture
def key(tmp_path) -> Path:
    path = tmp_path / "key.json"
    items = [{"item": i, "truth": t, "position": k + 1} for k, (i, t) in enumerate(ITEMS.items())]
    path.write_text(json.dumps({"format": KEY_FORMAT, "study_id": "s1", "items": items}))
    return path


def answers(tmp_path: Path, name: str = "a.json", **changes) -> Path:
    doc = {
        "format": ANSWERS_FORMAT,
        "reader": "A",
        "study_id": "s1",
        "answers": [{"item": i, "call": "synthetic", "confidence": 3} for i in ITEMS],
    }
    doc.update(changes)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_a_complete_file_reads(tmp_path, key):
    got = read_answers(answers(tmp_path), read_key(key))
    assert got.reader == "A" and set(got.calls) == set(ITEMS) and got.missing == ()


def test_answers_for_another_study(tmp_path, key):
    with pytest.raises(StudyMismatchError, match=r"for study 'other'.*is for study 's1'"):
        read_answers(answers(tmp_path, study_id="other"), read_key(key))
    assert issubclass(StudyMismatchError, RobustBenchError)


def test_unknown_items(tmp_path, key):
    extra = [{"item": "zzzz9999", "call": "real", "confidence": 1}]
    path = answers(
        tmp_path, answers=[*json.loads(answers(tmp_path).read_text())["answers"], *extra]
    )
    with pytest.raises(AnswersError, match=r"1 answer.*not in study 's1': 'zzzz9999'"):
        read_answers(path, read_key(key))


def test_missing_items_name_their_page_numbers(tmp_path, key):
    one = [{"item": "bbbb2222", "call": "real", "confidence": 2}]
    path = answers(tmp_path, answers=one)
    with pytest.raises(AnswersError, match=r"answered 1 of 3.*#1 \(aaaa1111\), #3") as err:
        read_answers(path, read_key(key))
    assert "--allow-missing" in str(err.value)
    got = read_answers(path, read_key(key), allow_missing=True)
    assert got.missing == ("aaaa1111", "cccc3333")


def test_an_item_answered_twice(tmp_path, key):
    twice = [{"item": "aaaa1111", "call": "real", "confidence": 2}] * 2
    with pytest.raises(AnswersError, match="more than once"):
        read_answers(answers(tmp_path, answers=twice), read_key(key), allow_missing=True)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"item": "aaaa1111", "call": "fake", "confidence": 2}, "'call' must be one of"),
        ({"item": "aaaa1111", "call": "real", "confidence": 6}, "'confidence' must be"),
        ({"item": "aaaa1111", "call": "real", "confidence": True}, "'confidence' must be"),
        ({"item": "aaaa1111", "call": "real"}, "'confidence' must be"),
        ({"call": "real", "confidence": 2}, "'item' must be"),
    ],
)
def test_bad_values_name_the_answer(tmp_path, key, answer, message):
    with pytest.raises(AnswersError, match=message):
        read_answers(answers(tmp_path, answers=[answer]), read_key(key), allow_missing=True)


def test_not_an_answers_file(tmp_path, key):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(AnswersError, match="not a JSON file"):
        read_answers(broken, read_key(key))
    with pytest.raises(AnswersError, match="no 'answers' list"):
        read_answers(key, read_key(key))  # the key itself, passed by mistake
    with pytest.raises(AnswersError, match="no reader name"):
        read_answers(answers(tmp_path, reader=" "), read_key(key))


def test_one_file_per_reader(tmp_path, key):
    first, second = answers(tmp_path, "a1.json"), answers(tmp_path, "a2.json")
    with pytest.raises(AnswersError, match="also answered in"):
        read_all([first, second], read_key(key))


def test_a_key_that_is_not_a_key(tmp_path):
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"format": ANSWERS_FORMAT, "answers": []}))
    with pytest.raises(KeyFileError, match="not a reader-study key"):
        read_key(path)
    with pytest.raises(KeyFileError, match="file not found"):
        read_key(tmp_path / "nothing.json")
