"""The report's plots: each function builds a Figure (tests read its labels and ticks), and
`png` renders one for a page (matplotlib's Agg canvas, no pyplot state, no timestamps: the
same numbers give the same bytes)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from robustbench_liver.metrics.registry import BY_NAME
from robustbench_liver.report.tables import LABELS

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
DPI = 100


def png(fig: Figure) -> bytes:
    """The figure as PNG; the 'Software' tag names the matplotlib version, so it is dropped."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def axis_label(metric: str) -> str:
    """A metric's y-axis label: its label, with the unit when it has one ('HD95 (mm)')."""
    text = LABELS.get(metric, metric)
    return f"{text} (mm)" if metric.endswith("_mm") and "(mm)" not in text else text


def metric_vs_level(
    scores: pd.DataFrame,
    conditions: Sequence[str],
    tick_labels: Sequence[str],
    reference: str,
    metrics: Sequence[str],
    models: Sequence[str],
    xlabel: str = "condition",
    holders: dict[str, str] | None = None,
) -> Figure:
    """One panel per metric: estimate per condition (sweep order) with its CI band, one line
    per model; the reference condition's tick is marked with '*'. `holders` (condition ->
    the condition holding its controls) says where specificity is shared."""
    n = len(metrics)
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.4 * cols, 3.3 * rows), layout="constrained")
    x = np.arange(len(conditions))
    labels = [
        f"{t}*" if c == reference else t for c, t in zip(conditions, tick_labels, strict=True)
    ]
    for k, metric in enumerate(metrics):
        ax = fig.add_subplot(rows, cols, k + 1)
        notes: set[str] = set()
        for i, model in enumerate(models):
            part = scores[(scores["metric"] == metric) & (scores["model"] == model)]
            part = part.set_index("condition").reindex(list(conditions))
            y = part["estimate"].to_numpy(dtype=float)
            if not np.isfinite(y).any():
                continue
            lo = part["ci_low"].to_numpy(dtype=float)
            hi = part["ci_high"].to_numpy(dtype=float)
            ax.plot(x, y, marker="o", color=color(i), label=model, linewidth=1.6)
            ax.fill_between(x, lo, hi, color=color(i), alpha=0.18, linewidth=0)
            notes |= _no_ci_notes(part)
        ax.set_title(LABELS.get(metric, metric))
        ax.set_xticks(x, labels, rotation=30 if len(conditions) > 4 else 0, ha="right")
        if metric == "case_specificity" and holders:  # shared controls (scenarios.plan)
            held = sorted({holders.get(c, c) for c in conditions})
            if len(held) < len(conditions):
                notes.add(f"shared controls, held by {', '.join(held)}")
        if notes:  # a missing band is a statement, not an omission
            ax.text(0.5, 0.02, "\n".join(sorted(notes)), transform=ax.transAxes, ha="center",
                    va="bottom", fontsize=7, color="0.35")  # fmt: skip
        low, high = BY_NAME[metric].bounds if metric in BY_NAME else (0.0, 1.0)
        if np.isfinite(high):
            ax.set_ylim(low - 0.03 * (high - low), high + 0.03 * (high - low))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(axis_label(metric))
        ax.grid(alpha=0.3)
    handles, names = fig.axes[0].get_legend_handles_labels() if fig.axes else ([], [])
    if handles:
        fig.legend(handles, names, loc="outside lower center", ncols=min(4, len(names)))
    return fig


def _no_ci_notes(part: pd.DataFrame) -> set[str]:
    """The 'no CI: N base scans, needs at least K' notes of a line's points."""
    if "ci_method" not in part:
        return set()
    shown = part["estimate"].notna() & part["ci_low"].isna()
    return {str(m) for m in part.loc[shown, "ci_method"] if str(m).startswith("no CI")}


def sensitivity_vs_radius(by_size: pd.DataFrame, models: Sequence[str], threshold: float) -> Figure:
    """Lesion sensitivity per radius bin with CI bars, one line per model; the 80 % line."""
    fig = Figure(figsize=(7.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    labels = by_size.drop_duplicates("bin").sort_values("bin")["label"].tolist()
    x = np.arange(len(labels))
    width = 0.6 / max(1, len(models))
    for i, model in enumerate(models):
        part = by_size[by_size["model"] == model].sort_values("bin")
        if part.empty:
            continue
        y = part["estimate"].to_numpy(dtype=float)
        lo = part["ci_low"].to_numpy(dtype=float)
        hi = part["ci_high"].to_numpy(dtype=float)
        shift = x + (i - (len(models) - 1) / 2) * width  # side by side, not on top
        ax.plot(shift, y, marker="o", color=color(i), label=model, linewidth=1.4)
        ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(y)
        ax.errorbar(
            shift[ok],
            y[ok],
            yerr=np.vstack([y[ok] - lo[ok], hi[ok] - y[ok]]).clip(min=0),
            fmt="none",
            ecolor=color(i),
            capsize=3,
        )
    ax.axhline(threshold, color="#555555", linestyle="--", linewidth=1)
    ax.text(x[-1] + 0.3 if len(x) else 0, threshold, f"{threshold:.0%}", va="bottom", ha="right")
    ax.set_xticks(x, labels)
    ax.set_xlabel("equivalent radius (mm)")
    ax.set_ylabel(axis_label("lesion_sensitivity"))
    ax.set_ylim(-0.03, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def heatmap(
    scores: pd.DataFrame,
    metric: str,
    models: Sequence[str],
    conditions: Sequence[str],
) -> Figure:
    """Model x condition, colored and annotated with the metric's estimate."""
    table = (
        scores[scores["metric"] == metric]
        .pivot_table(index="model", columns="condition", values="estimate", aggfunc="first")
        .reindex(index=list(models), columns=list(conditions))
    )
    values = table.to_numpy(dtype=float)
    fig = Figure(
        figsize=(1.6 + 1.05 * len(conditions), 1.3 + 0.5 * len(models)), layout="constrained"
    )
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for (r, c), v in np.ndenumerate(values):
        text = "n/a" if not np.isfinite(v) else f"{v:.2f}"
        ax.text(c, r, text, ha="center", va="center", color="white" if v < 0.6 else "black")
    ax.set_xticks(np.arange(len(conditions)), list(conditions), rotation=30, ha="right")
    ax.set_yticks(np.arange(len(models)), list(models))
    ax.set_title(LABELS.get(metric, metric))
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def forest(
    tests: pd.DataFrame, metrics: Sequence[str], conditions: Sequence[str] | None = None
) -> Figure:
    """Paired model differences (a − b) with CIs, one row per pair and condition, one panel
    per metric; a filled marker when the adjusted p-value is below 0.05. Within a pair the
    conditions go in the order of `conditions` (the sweep's), not alphabetically."""
    metrics = [m for m in metrics if (tests["metric"] == m).any()]
    first = tests[tests["metric"] == metrics[0]]
    keys = first[["a", "b", "condition"]].drop_duplicates().to_records(index=False).tolist()
    pairs = {(a, b): i for i, (a, b, _) in reversed(list(enumerate(keys)))}  # first seen
    rank = {c: i for i, c in enumerate(conditions or ())}  # unknown ones after, as they came
    keys.sort(key=lambda k: (pairs[(k[0], k[1])], rank.get(k[2], len(rank))))
    height = 1.2 + 0.32 * len(keys)
    fig = Figure(figsize=(4.2 * len(metrics) + 2.2, height), layout="constrained")
    y = np.arange(len(keys))[::-1]
    for k, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), k + 1)
        part = tests[tests["metric"] == metric].set_index(["a", "b", "condition"])
        part = part.reindex(keys)
        d = part["difference"].to_numpy(dtype=float)
        lo = part["ci_low"].to_numpy(dtype=float)
        hi = part["ci_high"].to_numpy(dtype=float)
        significant = part["p_adjusted"].to_numpy(dtype=float) < 0.05
        ax.hlines(y, lo, hi, color="#333333", linewidth=1.4)
        ax.scatter(d[~significant], y[~significant], facecolors="white", edgecolors="#333333")
        ax.scatter(d[significant], y[significant], color="#d62728", zorder=3)
        ax.axvline(0, color="#888888", linestyle=":")
        ax.set_ylim(-0.6, len(keys) - 0.4)
        ax.set_title(f"{LABELS.get(metric, metric)}: a − b")
        ax.set_yticks(y, [f"{a} − {b} · {c}" for a, b, c in keys] if k == 0 else [])
        ax.set_xlabel("difference a − b")
        ax.grid(axis="x", alpha=0.3)
    return fig
