"""Overlap metrics: the Dice similarity coefficient (DSC) of the tumor class."""

from __future__ import annotations

import math

import numpy as np

from robustbench_liver.metrics._masks import as_mask_pair, union_box
from robustbench_liver.metrics.result import REASON_GT_EMPTY, REASON_PRED_EMPTY, Score

DSC_PROFILE = "dsc"


def dice(pred: np.ndarray, gt: np.ndarray) -> Score:
    """DSC = 2|P∩G| / (|P| + |G|) of two tumor masks (bool, or nonzero = tumor).

    Spacing cancels out, so none is needed. GT empty: NaN (undefined, left out of means);
    GT with tumor and an empty prediction: 0.
    """
    pred, gt = as_mask_pair(pred, gt)
    box = union_box(pred, gt)
    if box is None:
        return Score(math.nan, DSC_PROFILE, REASON_GT_EMPTY)
    p, g = pred[box], gt[box]
    n_gt, n_pred = int(np.count_nonzero(g)), int(np.count_nonzero(p))
    if n_gt == 0:
        return Score(math.nan, DSC_PROFILE, REASON_GT_EMPTY)
    if n_pred == 0:
        return Score(0.0, DSC_PROFILE, REASON_PRED_EMPTY)
    both = int(np.count_nonzero(p & g))
    return Score(2.0 * both / (n_pred + n_gt), DSC_PROFILE)
