"""Score a reader study: per reader and pooled accuracy, sensitivity and specificity for
spotting synthetic tumors, with exact (Clopper-Pearson) intervals.

Synthetic is the positive class: sensitivity = synthetic tumors called synthetic ("picked
out", the paper's figure), specificity = real tumors called real.

Pooled figures: every reader saw the same items, so their calls are not independent draws
(an item that fools one reader tends to fool the next). The pooled estimate is the share of
all calls that were right; its interval treats the *item* as the unit: each item contributes
the share of readers who were right on it, and the Clopper-Pearson interval is computed for
that (fractional) count out of the number of items. A mean of readers' 0/1 calls varies no
more than one 0/1 call, so this is conservative for these items' sampling, and it does not
narrow as readers are added. It is about this panel of readers: how readers at large would
do needs many readers and a multi-reader analysis (e.g. Obuchowski-Rockette).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from robustbench_liver.turing.answers import ReaderAnswers, StudyKey
from robustbench_liver.turing.errors import TuringError

SCORE_FORMAT = "robustbench-liver/turing-score/v1"
PASS_BELOW = 0.5
"""The paper's criterion: fewer than half of the synthetic tumors picked out."""
METHOD = "Clopper-Pearson (exact binomial)"
POOLED_ASSUMPTION = (
    "items as the unit: each item counts once, with the share of readers right on it (the "
    "readers saw the same items, so their calls are not independent draws); conservative for "
    "the sampling of items, it does not narrow as readers are added, and it speaks for this "
    "panel of readers, not for readers at large"
)


@dataclass(frozen=True)
class Rate:
    """A proportion with its exact interval."""

    hits: float
    total: int
    estimate: float
    low: float
    high: float


def clopper_pearson(hits: float, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact interval from beta quantiles; `hits` may be fractional (pooled item means)."""
    if total <= 0:
        return (math.nan, math.nan)
    if not 0 <= hits <= total:
        raise ValueError(f"hits {hits} outside 0..{total}")
    alpha = 1.0 - confidence
    low = 0.0 if hits <= 0 else float(stats.beta.ppf(alpha / 2, hits, total - hits + 1))
    high = 1.0 if hits >= total else float(stats.beta.ppf(1 - alpha / 2, hits + 1, total - hits))
    return (low, high)


def rate(hits: float, total: int, confidence: float = 0.95) -> Rate:
    low, high = clopper_pearson(hits, total, confidence)
    estimate = hits / total if total else math.nan
    return Rate(float(hits), int(total), float(estimate), low, high)


@dataclass(frozen=True)
class ReaderScore:
    reader: str
    file: str
    items: int
    """Items this reader answered."""
    accuracy: Rate
    sensitivity: Rate
    """Synthetic tumors called synthetic."""
    specificity: Rate
    """Real tumors called real."""
    balanced_accuracy: float
    auc: float | None
    """Area under the ROC curve of the 10-step rating (call x confidence); None without both
    classes."""
    mean_confidence_right: float | None
    mean_confidence_wrong: float | None


@dataclass(frozen=True)
class PooledScore:
    readers: int
    calls: int
    items: int
    accuracy: Rate
    sensitivity: Rate
    specificity: Rate
    balanced_accuracy: float
    assumption: str = POOLED_ASSUMPTION


@dataclass(frozen=True)
class StudyScore:
    study_id: str
    confidence: float
    n_real: int
    n_synthetic: int
    readers: tuple[ReaderScore, ...]
    pooled: PooledScore | None
    """None with one reader."""
    statements: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SCORE_FORMAT,
            "study_id": self.study_id,
            "confidence_level": self.confidence,
            "interval_method": METHOD,
            "positive_class": "synthetic",
            "pass_criterion": f"sensitivity < {PASS_BELOW:g} (the paper's: fewer than half "
            "of the synthetic tumors picked out)",
            "items": {"real": self.n_real, "synthetic": self.n_synthetic},
            "readers": [_plain(asdict(r)) for r in self.readers],
            "pooled": None if self.pooled is None else _plain(asdict(self.pooled)),
            "statements": list(self.statements),
        }


def _plain(value: Any) -> Any:
    """NaN as null: JSON has no NaN."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _auc(truth: np.ndarray, rating: np.ndarray) -> float | None:
    """P(rating of a synthetic item > rating of a real one), ties counting half."""
    pos, neg = rating[truth], rating[~truth]
    if pos.size == 0 or neg.size == 0:
        return None
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def _balanced(sens: Rate, spec: Rate) -> float:
    return (
        float(np.nanmean([sens.estimate, spec.estimate])) if sens.total or spec.total else math.nan
    )


def score_reader(answers: ReaderAnswers, key: StudyKey, confidence: float = 0.95) -> ReaderScore:
    items = [i for i in key.order if i in answers.calls]
    truth = np.array([key.truth[i] == "synthetic" for i in items])
    called = np.array([answers.calls[i][0] == "synthetic" for i in items])
    conf = np.array([answers.calls[i][1] for i in items], dtype=float)
    right = truth == called
    sens = rate(int((called & truth).sum()), int(truth.sum()), confidence)
    spec = rate(int((~called & ~truth).sum()), int((~truth).sum()), confidence)
    return ReaderScore(
        reader=answers.reader,
        file=str(answers.path),
        items=len(items),
        accuracy=rate(int(right.sum()), len(items), confidence),
        sensitivity=sens,
        specificity=spec,
        balanced_accuracy=_balanced(sens, spec),
        auc=_auc(truth, np.where(called, conf, -conf)),
        mean_confidence_right=float(conf[right].mean()) if right.any() else None,
        mean_confidence_wrong=float(conf[~right].mean()) if (~right).any() else None,
    )


def score_pooled(
    readers: Sequence[ReaderAnswers], key: StudyKey, confidence: float = 0.95
) -> PooledScore:
    """Pooled figures with item-level intervals (see the module docstring)."""
    share: dict[str, float] = {}
    calls = 0
    for item in key.order:
        votes = [r.calls[item][0] for r in readers if item in r.calls]
        if votes:
            share[item] = float(np.mean([v == key.truth[item] for v in votes]))
            calls += len(votes)

    def pooled(kind: str | None) -> Rate:
        chosen = [i for i in share if kind is None or key.truth[i] == kind]
        by_item = rate(sum(share[i] for i in chosen), len(chosen), confidence)
        # the estimate is over calls (an item fewer readers answered weighs less), the CI
        # over items
        votes = [(r.calls[i][0], key.truth[i]) for r in readers for i in chosen if i in r.calls]
        estimate = sum(c == t for c, t in votes) / len(votes) if votes else math.nan
        return Rate(by_item.hits, by_item.total, estimate, by_item.low, by_item.high)

    sens, spec = pooled("synthetic"), pooled("real")
    return PooledScore(
        readers=len(readers),
        calls=calls,
        items=len(share),
        accuracy=pooled(None),
        sensitivity=sens,
        specificity=spec,
        balanced_accuracy=_balanced(sens, spec),
    )


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:.1f}%"


def _ci(r: Rate) -> str:
    if not math.isfinite(r.estimate):
        return "n/a"
    return f"{_pct(r.estimate)} ({100 * r.low:.1f}–{100 * r.high:.1f})"


def _with_ci(r: Rate, confidence: float) -> str:
    """'63.3% (95% CI 43.9–80.1%)'."""
    if not math.isfinite(r.estimate):
        return "n/a"
    return f"{_pct(r.estimate)} ({confidence:.0%} CI {100 * r.low:.1f}–{100 * r.high:.1f}%)"


def _count(r: Rate) -> str:
    return f"{r.hits:g} of {r.total}"


def verdict(sens: Rate, confidence: float) -> str:
    """The paper's criterion on a sensitivity, with what its interval adds."""
    level = f"{confidence:.0%}"
    if not math.isfinite(sens.estimate):
        return "no synthetic tumor was answered, so the paper's criterion cannot be applied"
    if sens.estimate >= PASS_BELOW:
        return (
            "the synthetic tumors do not pass the paper's criterion (at least half were picked out)"
        )
    if sens.high < PASS_BELOW:
        return (
            f"the synthetic tumors pass the paper's criterion (fewer than half picked out), "
            f"and the whole {level} interval lies below 50%"
        )
    return (
        f"the synthetic tumors pass the paper's criterion by the point estimate, but the "
        f"{level} interval reaches {100 * sens.high:.1f}%: this study is too small to tell "
        "whether fewer than half would be picked out"
    )


def statement(r: ReaderScore, confidence: float) -> str:
    return (
        f"Reader {r.reader} picked out {_count(r.sensitivity)} synthetic tumors as synthetic "
        f"(sensitivity {_with_ci(r.sensitivity, confidence)}) and took {_count(r.specificity)} "
        f"real tumors for real (specificity {_with_ci(r.specificity, confidence)}); accuracy "
        f"{_with_ci(r.accuracy, confidence)}, balanced accuracy {_pct(r.balanced_accuracy)} "
        f"(50% = cannot tell). For this reader {verdict(r.sensitivity, confidence)}."
    )


def pooled_statement(p: PooledScore, confidence: float) -> str:
    return (
        f"Pooled over {p.readers} readers ({p.calls} calls on {p.items} items): synthetic "
        f"tumors picked out in {_with_ci(p.sensitivity, confidence)} of calls (the interval "
        f"with items as the unit), real tumors taken for real in "
        f"{_with_ci(p.specificity, confidence)}; {verdict(p.sensitivity, confidence)}."
    )


def score_study(
    key: StudyKey, readers: Sequence[ReaderAnswers], confidence: float = 0.95
) -> StudyScore:
    if not 0.5 <= confidence < 1.0:
        raise TuringError(f"confidence level must lie in [0.5, 1), got {confidence}")
    scores = tuple(score_reader(r, key, confidence) for r in readers)
    pooled = score_pooled(readers, key, confidence) if len(readers) > 1 else None
    lines = [statement(s, confidence) for s in scores]
    if pooled is not None:
        lines.append(pooled_statement(pooled, confidence))
    truths = list(key.truth.values())
    return StudyScore(
        study_id=key.study_id,
        confidence=confidence,
        n_real=truths.count("real"),
        n_synthetic=truths.count("synthetic"),
        readers=scores,
        pooled=pooled,
        statements=tuple(lines),
    )


def markdown(score: StudyScore) -> str:
    level = f"{score.confidence:.0%}"
    head = (
        "| reader | items | accuracy | sensitivity (synthetic picked out) | "
        "specificity (real called real) | balanced accuracy | rating AUC |\n"
        "|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| {r.reader} | {r.items} | {_ci(r.accuracy)} | {_count(r.sensitivity)}: "
        f"{_ci(r.sensitivity)} | {_count(r.specificity)}: {_ci(r.specificity)} | "
        f"{_pct(r.balanced_accuracy)} | {'n/a' if r.auc is None else f'{r.auc:.2f}'} |"
        for r in score.readers
    ]
    p = score.pooled
    if p is not None:
        rows.append(
            f"| pooled ({p.readers} readers, {p.calls} calls) | {p.items} | {_ci(p.accuracy)} | "
            f"{_ci(p.sensitivity)} | {_ci(p.specificity)} | {_pct(p.balanced_accuracy)} | |"
        )
    notes = [
        f"- Intervals: {level} {METHOD}. Synthetic is the positive class.",
        "- Rating AUC: the reader's call and confidence as one 10-step rating (synthetic 5 ... "
        "real 5); 0.5 = cannot tell. No interval is given for it.",
    ]
    if p is not None:
        notes.append(
            f"- Pooled: the estimate is the share of all calls; the interval takes "
            f"{POOLED_ASSUMPTION}."
        )
    return "\n".join(
        [
            f"# Reader study {score.study_id}: visual Turing test",
            "",
            f"{score.n_real} real and {score.n_synthetic} synthetic tumors; "
            f"{len(score.readers)} reader(s).",
            "",
            head,
            *rows,
            "",
            *[f"{s}\n" for s in score.statements],
            *notes,
            "",
        ]
    )


def write(score: StudyScore, out: str | Path) -> tuple[Path, Path]:
    """score.json and score.md in `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "score.json", out / "score.md"
    json_path.write_text(json.dumps(score.to_dict(), indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(score), encoding="utf-8")
    return json_path, md_path
