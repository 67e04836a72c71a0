"""Real vs synthetic distribution of each feature: one panel per feature, every lesion a dot
(jitter from a seeded Generator: the same table gives the same bytes), synthetic as a box
plot behind its dots, real lesions as larger red dots."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from robustbench_liver.fidelity.registry import axis_label

REAL_COLOR = "#d62728"
SYNTHETIC_COLOR = "#1f77b4"
COLUMNS = 4
DPI = 100


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes (Agg canvas, no pyplot state; the 'Software' tag, which names
    the matplotlib version, is dropped so that the same numbers give the same bytes)."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def feature_grid(table: pd.DataFrame, features: Sequence[str], title: str = "") -> Figure:
    """A grid of strip plots, real (left) vs synthetic (right) per feature."""
    rows = math.ceil(len(features) / COLUMNS)
    fig = Figure(figsize=(3.2 * COLUMNS, 2.6 * rows + (0.5 if title else 0.0)))
    rng = np.random.default_rng(0)
    for i, name in enumerate(features):
        ax = fig.add_subplot(rows, COLUMNS, i + 1)
        for position, (kind, color, size) in enumerate(
            (("real", REAL_COLOR, 30), ("synthetic", SYNTHETIC_COLOR, 10))
        ):
            values = table.loc[table["set"] == kind, name].to_numpy(float)
            values = values[np.isfinite(values)]
            if kind == "synthetic" and values.size:
                ax.boxplot(
                    values,
                    positions=[position],
                    widths=0.5,
                    showfliers=False,
                    medianprops={"color": color},
                )
            jitter = rng.uniform(-0.15, 0.15, values.size)
            ax.scatter(position + jitter, values, s=size, color=color, alpha=0.7, lw=0)
        ax.set_xticks([0, 1], ["real", "synthetic"])
        ax.set_xlim(-0.6, 1.6)
        ax.set_title(axis_label(name), fontsize=9)
        ax.tick_params(labelsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
