"""What the plots say, read from their matplotlib objects (issue 15.13): axis labels with
units, conditions in sweep order, montage panels with one zoom per row and a scale bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from robustbench_liver.report import montage, plots
from robustbench_liver.report.headline import detection_by_size
from robustbench_liver.report.tables import LABELS, METRICS, model_tests
from robustbench_liver.runs.summary import scores

SWEEP = ["r1.5-3", "r3-5", "r5-10", "r10-15"]  # sorted by name: r1.5-3, r10-15, r3-5, r5-10


def top_to_bottom(ax: Axes) -> list[str]:
    ticks = zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True)
    return [text for _, text in sorted(ticks, key=lambda t: -t[0])]


def forest_tests(conditions: list[str]) -> pd.DataFrame:
    rows = [
        {"metric": m, "a": a, "b": "gamma", "condition": c, "difference": 0.1 * i,
         "ci_low": 0.1 * i - 0.05, "ci_high": 0.1 * i + 0.05, "p_adjusted": 0.5}
        for m in ("dsc", "nsd")
        for a in ("alpha", "beta")
        for i, c in enumerate(sorted(conditions))
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_forest_keeps_the_sweep_order_within_each_pair():
    fig = plots.forest(forest_tests(SWEEP), ["dsc", "nsd"], SWEEP)
    first = fig.axes[0]
    expected = [f"{a} − gamma · {c}" for a in ("alpha", "beta") for c in SWEEP]
    assert top_to_bottom(first) == expected
    for ax in fig.axes:
        assert ax.get_xlabel() == "difference a − b"
    # the points follow their labels: the differences were given per sorted condition
    d = {c: 0.1 * i for i, c in enumerate(sorted(SWEEP))}
    offsets = fig.axes[0].collections[1].get_offsets()  # the open (non-significant) markers
    by_y = sorted(((float(y), float(x)) for x, y in offsets), reverse=True)
    assert [x for _, x in by_y[:4]] == [d[c] for c in SWEEP]


def test_forest_without_an_order_keeps_the_table_order():
    fig = plots.forest(forest_tests(SWEEP), ["dsc"])
    assert top_to_bottom(fig.axes[0])[:4] == [f"alpha − gamma · {c}" for c in sorted(SWEEP)]


def test_forest_png_is_the_figure(rows):
    cases, _ = rows
    tests = model_tests(cases, resamples=200)
    assert plots.png(plots.forest(tests, ["dsc", "nsd"], ["c-iso", "c-hypo"])).startswith(
        b"\x89PNG"
    )
    labels = top_to_bottom(plots.forest(tests, ["dsc"], ["c-iso", "c-hypo"]).axes[0])
    assert [t.rsplit(" · ", 1)[1] for t in labels] == ["c-iso", "c-hypo"]


def test_metric_panels_have_y_labels_with_units(rows):
    cases, lesions = rows
    table = scores(cases, lesions, resamples=200)
    metrics = [*METRICS, "hd95_mm"]
    fig = plots.metric_vs_level(
        table, ["c-hypo", "c-iso"], ["hypo", "iso"], "c-hypo", metrics, ["alpha", "beta"],
        xlabel="contrast",
    )  # fmt: skip
    panels = fig.axes[: len(metrics)]
    assert [ax.get_ylabel() for ax in panels] == [LABELS[m] for m in metrics]
    assert panels[-1].get_ylabel() == "HD95 (mm)"
    assert all(ax.get_xlabel() == "contrast" for ax in panels)
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["hypo*", "iso"]
    assert plots.axis_label("surface_mm") == "surface_mm (mm)"


def test_radius_plot_names_its_axes(rows):
    _, lesions = rows
    by_size = detection_by_size(lesions, (0, 5, 10, 15, 20), resamples=200)
    fig = plots.sensitivity_vs_radius(by_size, ["alpha", "beta"], 0.8)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "equivalent radius (mm)"
    assert ax.get_ylabel() == "lesion sensitivity"


def panel(shape: tuple[int, int], liver: tuple[slice, slice], spacing: tuple[float, float, float]):
    label = np.zeros((*shape, 5), dtype=np.uint8)
    label[liver[0], liver[1], :] = 1
    centre = (liver[0].start + 2, liver[1].start + 2)
    label[centre[0] : centre[0] + 3, centre[1] : centre[1] + 3, 2] = 2
    image = np.where(label == 2, 20.0, np.where(label == 1, 90.0, -100.0)).astype(np.float32)
    return montage.make_panel("p", image, label, spacing, label == 2, margin=4)


def field_mm(ax: Axes, p: montage.Panel) -> tuple[float, float]:
    (left, right), (bottom, top) = ax.get_xlim(), ax.get_ylim()
    return (bottom - top) * p.pixel_mm[0], (right - left) * p.pixel_mm[1]


def test_montage_rows_share_one_zoom_and_carry_a_scale_bar():
    small = panel((60, 50), (slice(10, 20), slice(10, 22)), (1.0, 1.0, 2.0))
    large = panel((60, 50), (slice(5, 55), slice(5, 45)), (1.0, 1.0, 2.0))
    coarse = panel((40, 30), (slice(5, 25), slice(5, 20)), (2.0, 1.5, 3.0))  # other spacing
    fig = montage.draw_montage([[small, large], [coarse, None]], ["m1", "m2"])
    axes = fig.axes
    assert field_mm(axes[0], small) == field_mm(axes[1], large) == large.size_mm()
    assert field_mm(axes[2], coarse) == coarse.size_mm()
    assert coarse.pixel_mm == (1.5, 2.0)  # display rows are y, columns x
    for ax, p in ((axes[0], small), (axes[1], large), (axes[2], coarse)):
        bars = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
        assert len(bars) == 1
        text = bars[0].txt_label.get_text()
        length_mm = float(text.removesuffix(" mm"))
        assert length_mm <= field_mm(ax, p)[1] / 4
        drawn = bars[0].size_bar.get_children()[0].get_width() * p.pixel_mm[1]
        assert np.isclose(drawn, length_mm)
    assert not axes[3].artists  # the empty cell stays blank
    big = panel((300, 300), (slice(20, 280), slice(20, 280)), (0.8, 0.8, 2.0))
    bar = next(a for a in montage.draw_montage([[big]], ["m"]).axes[0].artists)
    assert bar.txt_label.get_text() == "20 mm"
