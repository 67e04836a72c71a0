"""Classifier two-sample test: can a classifier tell real lesions from synthetic ones by
their features? 0.5 = indistinguishable, 1 = always told apart.

Classifier: scikit-learn logistic regression (L2, C = 1, balanced class weights) on the
features after median imputation and standardisation, both fitted on the training folds
only. Cross-validation: stratified group k-fold (k = min(5, real lesions)), a group being a
real lesion with its synthetic matches, so that no lesion's matches are seen in training
when it is tested; repeated with `repeats` shuffles, each lesion's held-out probabilities
averaged over the repeats. AUC: of those averaged held-out scores. CI: percentile bootstrap
over clusters (real lesions with their matches, or real scans) of the AUC of the same
scores. With fewer than `MIN_REAL` real lesions no AUC is given: a classifier cannot be
trained and tested on two or three lesions. Every random draw comes from a Generator seeded
through SeedSequence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import special
from sklearn.model_selection import StratifiedGroupKFold

MIN_REAL = 4
MAX_FOLDS = 5
REPEATS = 10
RESAMPLES = 500
CONFIDENCE = 0.95
MAX_MISSING = 0.5
"""Features missing (NaN) in more than this share of the lesions are left out."""
METHOD = (
    "logistic regression (L2, C=1, balanced) on median-imputed, standardised features; "
    "stratified group k-fold, groups = real lesion + its matches; AUC of held-out scores "
    "averaged over repeats; percentile cluster-bootstrap CI"
)


@dataclass(frozen=True)
class TwoSampleResult:
    auc: float
    ci_low: float
    ci_high: float
    n_real: int
    n_synthetic: int
    n_clusters: int
    folds: int
    repeats: int
    features: tuple[str, ...]
    dropped: dict[str, str] = field(default_factory=dict)
    """Features left out, with why."""
    note: str = ""
    """Why there is no AUC or no CI ('' when both are given)."""
    confidence: float = CONFIDENCE
    method: str = METHOD

    def to_dict(self) -> dict:
        out = asdict(self)
        out["features"] = list(self.features)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def usable_features(table: pd.DataFrame, features: Sequence[str]) -> tuple[list[str], dict]:
    """The features with enough values that vary; the others with the reason."""
    keep, dropped = [], {}
    for name in features:
        values = table[name].to_numpy(float)
        missing = float(np.mean(~np.isfinite(values)))
        finite = values[np.isfinite(values)]
        if missing > MAX_MISSING:
            dropped[name] = f"missing in {missing:.0%} of the lesions"
        elif finite.size == 0 or np.ptp(finite) == 0:
            dropped[name] = "the same value in every lesion"
        else:
            keep.append(name)
    return keep, dropped


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Coefficients (intercept last) of L2 logistic regression with balanced class weights:
    the minimiser of C x Σ w_i log-loss_i + ||β||² / 2 (intercept not penalised), as
    scikit-learn's LogisticRegression(C, class_weight='balanced') has it, by Newton's method
    (its own solver spends milliseconds per fit on overhead; a test refits a thousand times)."""
    n, p = x.shape
    counts = np.bincount(y, minlength=2).astype(float)
    weight = (n / (2.0 * counts))[y] * c
    design = np.hstack([x, np.ones((n, 1))])
    penalty = np.ones(p + 1)
    penalty[-1] = 0.0
    beta = np.zeros(p + 1)

    def loss(b: np.ndarray) -> float:
        z = design @ b
        return float(np.sum(weight * (np.logaddexp(0.0, z) - y * z)) + 0.5 * penalty @ b**2)

    current = loss(beta)
    for _ in range(100):
        prob = special.expit(design @ beta)
        grad = design.T @ (weight * (prob - y)) + penalty * beta
        hess = (design * (weight * prob * (1.0 - prob))[:, None]).T @ design
        hess[np.diag_indices_from(hess)] += penalty + 1e-10
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-6:
            trial = beta - size * step
            value = loss(trial)
            if value <= current:
                break
            size /= 2.0
        beta, change = trial, current - value
        current = value
        if change < 1e-10 * max(1.0, abs(current)):
            break
    return beta


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """P(real) of the test rows from a model fitted on the training rows only (median
    imputation and standardisation fitted there too)."""
    known = np.where(np.isfinite(x_train), x_train, np.nan)
    with np.errstate(all="ignore"):
        median = np.nanmedian(known, axis=0) if np.isfinite(known).any() else known[0]
    median = np.where(np.isfinite(median), median, 0.0)
    x_train = np.where(np.isfinite(x_train), x_train, median)
    x_test = np.where(np.isfinite(x_test), x_test, median)
    mean, sd = x_train.mean(axis=0), x_train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    beta = fit_logistic((x_train - mean) / sd, y_train)
    return np.asarray(special.expit(((x_test - mean) / sd) @ beta[:-1] + beta[-1]))


def held_out_scores(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    folds: int,
    repeats: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Each row's held-out P(real), averaged over `repeats` shuffled group k-folds."""
    total = np.zeros(len(y))
    for _ in range(repeats):
        state = int(rng.integers(0, 2**31 - 1))
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=state)
        for train, test in splitter.split(x, y, groups):
            total[test] += _fit_predict(x[train], y[train], x[test])
    return total / repeats


def weighted_auc(y: np.ndarray, score: np.ndarray, weight: np.ndarray | None = None) -> float:
    """AUC = P(score of a real row > score of a synthetic row) + P(tie) / 2, rows weighted."""
    weight = np.ones(len(y)) if weight is None else weight
    pos, neg = y == 1, y == 0
    w_pos, w_neg = weight[pos], weight[neg]
    if w_pos.sum() == 0 or w_neg.sum() == 0:
        return math.nan
    order = np.argsort(score[neg], kind="stable")
    s_neg, cum = score[neg][order], np.concatenate([[0.0], np.cumsum(w_neg[order])])
    below = cum[np.searchsorted(s_neg, score[pos], side="left")]
    upto = cum[np.searchsorted(s_neg, score[pos], side="right")]
    wins = (below + (upto - below) / 2.0) * w_pos
    return float(wins.sum() / (w_pos.sum() * w_neg.sum()))


def bootstrap_auc(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    clusters: np.ndarray,
    folds: int,
    n_resamples: int,
    confidence: float,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Percentile CI of the cross-validated AUC: each resample draws clusters with
    replacement and runs the whole cross-validation again on them (copies of a group stay in
    one fold), so the interval holds the classifier's training variability too, not only
    the sampling of the lesions it is tested on."""
    names, codes = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(codes == i) for i in range(len(names))]
    aucs = []
    for _ in range(n_resamples):
        rows = np.concatenate([members[i] for i in rng.integers(0, len(names), len(names))])
        yb = y[rows]
        k = min(folds, len(np.unique(groups[rows][yb == 1])))
        if k < 2 or (yb == 0).sum() < k:
            continue
        score = held_out_scores(x[rows], yb, groups[rows], k, 1, rng)
        aucs.append(weighted_auc(yb, score))
    if len(aucs) < n_resamples // 2:
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    return float(np.quantile(aucs, alpha)), float(np.quantile(aucs, 1.0 - alpha))


def two_sample_test(
    table: pd.DataFrame,
    features: Sequence[str],
    group: str = "match",
    cluster: str = "cluster",
    seed: int = 0,
    repeats: int = REPEATS,
    n_resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    min_real: int = MIN_REAL,
) -> TwoSampleResult:
    """Cross-validated AUC of telling `set == 'real'` rows from 'synthetic' ones, with CI."""
    y = (table["set"] == "real").to_numpy(int)
    n_real, n_synthetic = int(y.sum()), int(len(y) - y.sum())
    clusters = table.loc[y == 1, cluster].nunique()
    keep, dropped = usable_features(table, features)
    base = dict(
        n_real=n_real,
        n_synthetic=n_synthetic,
        n_clusters=int(clusters),
        repeats=repeats,
        features=tuple(keep),
        dropped=dropped,
        confidence=confidence,
    )
    nan = math.nan
    if n_real < min_real or n_synthetic < min_real:
        note = (
            f"{n_real} real and {n_synthetic} synthetic lesions: the AUC cannot be estimated "
            f"(a classifier needs at least {min_real} of each to be trained and tested)"
        )
        return TwoSampleResult(nan, nan, nan, folds=0, note=note, **base)  # type: ignore[arg-type]
    if not keep:
        note = "no feature has enough values to classify on"
        return TwoSampleResult(nan, nan, nan, folds=0, note=note, **base)  # type: ignore[arg-type]
    folds = min(MAX_FOLDS, n_real)
    x = table[keep].to_numpy(float)
    groups = table[group].astype(str).to_numpy()
    fold_rng, boot_rng = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(2)
    )
    score = held_out_scores(x, y, groups, folds, repeats, fold_rng)
    auc = weighted_auc(y, score)
    note = ""
    if clusters < min_real:
        low = high = nan
        note = f"{clusters} real cluster(s): no CI (needs {min_real})"
    else:
        cluster_ids = table[cluster].astype(str).to_numpy()
        low, high = bootstrap_auc(
            x, y, groups, cluster_ids, folds, n_resamples, confidence, boot_rng
        )
    return TwoSampleResult(auc, low, high, folds=folds, note=note, **base)  # type: ignore[arg-type]
