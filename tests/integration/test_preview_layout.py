"""`preview`'s picture: both columns say what they show, the title clears the panels."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from robustbench_liver.cli.preview import preview_figure


def test_columns_are_labelled_and_the_title_clears_the_panels():
    phantom = pytest.importorskip("robustbench_liver.sources.phantom")
    from robustbench_liver.synthesis import TumorConfig, synthesize

    scan = phantom.make_phantom(0)
    case = synthesize(scan, TumorConfig.level("medium"), np.random.default_rng(1))
    fig = preview_figure(scan, case, title="phantom: level medium, seed 1", max_tumors=3)
    rows = min(3, len(case.tumors))
    assert rows >= 2 and len(fig.axes) == 2 * rows
    titles = [ax.get_title() for ax in fig.axes]
    assert all(t.startswith("before: #") for t in titles[0::2])
    assert all(t.startswith("after: r = ") for t in titles[1::2])
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # the layout is settled at draw time
    title_bottom = fig._suptitle.get_window_extent(renderer).y0
    for ax in fig.axes:
        assert ax.get_tightbbox(renderer).y1 <= title_bottom  # panels and their titles
