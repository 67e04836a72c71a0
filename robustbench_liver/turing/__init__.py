"""Visual Turing test kit: the paper's own validation of its synthetic tumors (Hu et al.,
CVPR 2023, showed readers 20 real and 30 synthetic tumors).

`export_study` writes a blinded reader study — one self-contained HTML page of tumor crops,
real and synthetic made by one rule, in seeded random order, and a separate answer key;
`score_study` scores the readers' downloaded answers: accuracy, sensitivity and specificity
for spotting synthetic tumors, per reader and pooled, with exact intervals.
"""

from __future__ import annotations

from robustbench_liver.turing.answers import (
    ReaderAnswers,
    StudyKey,
    read_all,
    read_answers,
    read_key,
)
from robustbench_liver.turing.errors import (
    AnswersError,
    KeyFileError,
    StudyMismatchError,
    TuringError,
    TuringWarning,
)
from robustbench_liver.turing.score import StudyScore, clopper_pearson, score_study
from robustbench_liver.turing.study import Study, StudyOptions, export_study

__all__ = [
    "AnswersError",
    "KeyFileError",
    "ReaderAnswers",
    "Study",
    "StudyKey",
    "StudyMismatchError",
    "StudyOptions",
    "StudyScore",
    "TuringError",
    "TuringWarning",
    "clopper_pearson",
    "export_study",
    "read_all",
    "read_answers",
    "read_key",
    "score_study",
]
