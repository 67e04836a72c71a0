"""Montages of the best and worst cases per model: one axial slice through the largest lesion,
CT in the soft-tissue window, ground truth and prediction outlined; the panels of a row share
one zoom (the same millimetres per inch) and each carries a scale bar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from scipy import ndimage

from robustbench_liver.display import SOFT_TISSUE_WINDOW, axial, axial_aspect

GT_COLOR, PRED_COLOR = "#00e05a", "#ff2d55"
BAR_MM = (20.0, 10.0, 5.0, 2.0, 1.0)  # scale bar lengths, the longest that fits is used
_STRUCTURE = np.ones((3, 3, 3), dtype=bool)  # 26-connected lesions, as the metrics count them


def pick_cases(cases: pd.DataFrame, model: str) -> list[tuple[str, pd.Series]]:
    """('best', row) and ('worst', row) of a model by DSC among scored tumor cases; ties go to
    the first case id, so the choice is stable. One entry when only one case qualifies."""
    ok = cases[(cases["model"] == model) & (cases["status"] == "ok") & ~cases["is_control"]]
    ok = ok[np.isfinite(ok["dsc"].astype(float))]
    if ok.empty:
        return []
    ranked = ok.sort_values(["dsc", "case_id"], ascending=[False, True], kind="stable")
    best = ranked.iloc[0]
    worst = ok.sort_values(["dsc", "case_id"], kind="stable").iloc[0]
    if best["case_id"] == worst["case_id"]:
        return [("best", best)]
    return [("best", best), ("worst", worst)]


def largest_lesion_slice(label: np.ndarray) -> int:
    """z of the axial slice with the most voxels of the largest 26-connected lesion (the
    slice with the most liver when there is no tumor)."""
    tumor = np.asarray(label) == 2
    if tumor.any():
        components, n = ndimage.label(tumor, structure=_STRUCTURE)
        sizes = np.bincount(components.ravel(), minlength=n + 1)
        sizes[0] = 0
        focus = components == int(np.argmax(sizes))
    else:
        focus = np.asarray(label) >= 1
    per_slice = focus.sum(axis=(0, 1))
    return int(np.argmax(per_slice)) if per_slice.any() else label.shape[2] // 2


@dataclass(frozen=True)
class Panel:
    """One case's slice, ready to draw."""

    title: str
    image: np.ndarray
    """Axial slice in HU, display orientation (display.axial)."""
    truth: np.ndarray
    prediction: np.ndarray | None
    """The predicted tumor on the slice; None draws no outline."""
    aspect: float
    crop: tuple[slice, slice]
    pixel_mm: tuple[float, float] = (1.0, 1.0)
    """Height and width of a pixel of `image` in mm."""

    def box(self) -> tuple[float, float, float, float]:
        """The crop in pixel coordinates: (top, bottom, left, right) edges."""
        rows = range(*self.crop[0].indices(self.image.shape[0]))
        cols = range(*self.crop[1].indices(self.image.shape[1]))
        return rows.start - 0.5, rows.stop - 0.5, cols.start - 0.5, cols.stop - 0.5

    def size_mm(self) -> tuple[float, float]:
        """Height and width of the crop in mm."""
        top, bottom, left, right = self.box()
        return (bottom - top) * self.pixel_mm[0], (right - left) * self.pixel_mm[1]


def make_panel(
    title: str,
    image: np.ndarray,
    label: np.ndarray,
    spacing: tuple[float, float, float],
    prediction: np.ndarray | None,
    margin: int = 12,
) -> Panel:
    """The slice through the largest lesion, cropped to the liver with a margin.

    `prediction` is the predicted tumor as a bool mask, as the run stored it.
    """
    if prediction is not None and prediction.dtype != bool:  # a label map would outline liver
        raise TypeError(f"prediction must be a bool tumor mask, got dtype {prediction.dtype}")
    z = largest_lesion_slice(label)
    liver = axial(np.asarray(label) >= 1, z)
    rows, cols = np.nonzero(liver)
    if rows.size:
        crop = (
            slice(max(0, int(rows.min()) - margin), int(rows.max()) + margin + 1),
            slice(max(0, int(cols.min()) - margin), int(cols.max()) + margin + 1),
        )
    else:
        crop = (slice(None), slice(None))
    return Panel(
        title=f"{title} (z={z})",
        image=axial(image, z).astype(np.float32),
        truth=axial(np.asarray(label) == 2, z),
        prediction=None if prediction is None else axial(prediction, z),
        aspect=axial_aspect(spacing),
        crop=crop,
        pixel_mm=(float(spacing[1]), float(spacing[0])),  # display.axial: rows y, columns x
    )


def draw_montage(grid: list[list[Panel | None]], row_titles: list[str]) -> Figure:
    """Rows of panels (one row per model); an empty grid cell stays blank. Every panel of a
    row shows a field of the same size in mm (the largest crop of the row, centred on each
    panel's own crop)."""
    n_rows = len(grid)
    n_cols = max((len(r) for r in grid), default=1)
    fig = Figure(figsize=(3.6 * n_cols, 3.5 * n_rows + 0.5), layout="constrained")
    low, high = SOFT_TISSUE_WINDOW
    for r, row in enumerate(grid):
        shown = [p for p in row if p is not None]
        height = max((p.size_mm()[0] for p in shown), default=0.0)
        width = max((p.size_mm()[1] for p in shown), default=0.0)
        for c in range(n_cols):
            ax = fig.add_subplot(n_rows, n_cols, r * n_cols + c + 1)
            ax.set_axis_off()
            panel = row[c] if c < len(row) else None
            if panel is None:
                continue
            # the whole slice, black around it, viewed through the row's common field
            ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, color="black", zorder=0))
            ax.imshow(panel.image, cmap="gray", vmin=low, vmax=high, aspect=panel.aspect)
            # the truth wide and under, the prediction thin and over: both show where they meet
            _outline(ax, panel.truth, GT_COLOR, 2.2)
            if panel.prediction is not None:
                _outline(ax, panel.prediction, PRED_COLOR, 1.0)
            top, bottom, left, right = panel.box()
            dy, dx = height / panel.pixel_mm[0] / 2, width / panel.pixel_mm[1] / 2
            ax.set_xlim((left + right) / 2 - dx, (left + right) / 2 + dx)
            ax.set_ylim((top + bottom) / 2 + dy, (top + bottom) / 2 - dy)  # row 0 at the top
            _scale_bar(ax, panel, width)
            ax.set_title(f"{row_titles[r]}\n{panel.title}", fontsize=8)
    handles = [
        Line2D([], [], color=GT_COLOR, linewidth=2.2, label="ground truth"),
        Line2D([], [], color=PRED_COLOR, linewidth=1.0, label="prediction"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=9)
    return fig


def _scale_bar(ax: Axes, panel: Panel, width_mm: float) -> None:
    """A horizontal bar of a round length in mm, bottom left."""
    length = next((b for b in BAR_MM if b <= width_mm / 4), BAR_MM[-1])
    bar = AnchoredSizeBar(
        ax.transData,
        length / panel.pixel_mm[1],
        f"{length:g} mm",
        loc="lower left",
        color="white",
        frameon=False,
        size_vertical=0,
        pad=0.4,
        sep=3,
        fontproperties={"size": 7},
    )
    ax.add_artist(bar)


def _outline(ax: Axes, mask: np.ndarray, color: str, width: float) -> None:
    if mask.any() and not mask.all():
        ax.contour(mask.astype(float), levels=[0.5], colors=[color], linewidths=width)
