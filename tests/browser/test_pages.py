"""report.html and leaderboard.html in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium): they render, show every model, log no console error,
and sort when a column header is clicked. Run with `make slow`."""

from __future__ import annotations

import os
import shutil
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.metrics import ToleranceBelowSpacingWarning
from robustbench_liver.report.leaderboard import read_leaderboard
from robustbench_liver.runs.runner import RunOptions, run
from robustbench_liver.scenarios import load_scenario

from .conftest import start_chromium

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCENARIO = textwrap.dedent(
    """\
    name: browsertest
    seed: 4
    base_scans:
      - {source: phantom, count: 2, shape: [128, 112, 56], spacing: [3.0, 3.0, 4.0]}
    cases_per_condition: 4
    controls: 0.25
    tumors: {level: small}
    sweep:
      axes:
        - {name: contrast, param: tumors.delta_hu, levels: {hypo: [-60, -40], iso: [-15, -5]}}
    statistics: {resamples: 500}
    """
)
ERODED = textwrap.dedent(
    """\
    from scipy import ndimage
    from fake_models import Card, Oracle

    class Eroded:
        card = Card("eroded")

        def predict(self, image, spacing, liver=None):
            out = Oracle().predict(image, spacing, liver)
            out[(out == 2) & ~ndimage.binary_erosion(out == 2)] = 1
            return out
    """
)
MODELS = ("oracle-ish", "eroded", "crashing")


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("browser")
    (root / "browser_fakes.py").write_text(ERODED)
    (root / "browsertest.yaml").write_text(SCENARIO)
    specs = ["fake_models:Oracle", "browser_fakes:Eroded", "fake_models:Crashing"]
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ToleranceBelowSpacingWarning)
        mp.syspath_prepend(str(FIXTURES))
        mp.syspath_prepend(str(root))
        run([load_scenario(root / "browsertest.yaml")], specs, root / "run", RunOptions())
        assert main(["report", str(root / "run")]) == 0
    assert main(["leaderboard", str(root / "run"), "--out", str(root / "board")]) == 0
    return {
        "report": root / "run" / "report" / "report.html",
        "leaderboard": root / "board" / "leaderboard.html",
        "json": root / "board" / "leaderboard.json",
    }


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[object]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"), "1280,1000")
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver, path: Path) -> list[dict]:
    """Load `path`; the console messages it logged (read once: reading clears them)."""
    driver.get_log("browser")  # drop what an earlier page left
    driver.get(path.resolve().as_uri())
    driver.execute_script("return document.readyState")
    return driver.get_log("browser")


def severe(log: list[dict]) -> list[str]:
    return [entry["message"] for entry in log if entry["level"] == "SEVERE"]


def column(driver, table: str, index: int) -> list[str | None]:
    return driver.execute_script(
        "var k = arguments[1];"
        "return Array.from(document.querySelectorAll(arguments[0])).map(function (row) {"
        "  var c = row.cells[k];"
        "  return c.hasAttribute('data-sort') ? c.getAttribute('data-sort') : c.textContent; });",
        f'table[data-table="{table}"] tbody tr',
        index,
    )


def click_header(driver, table: str, text: str):
    from selenium.webdriver.common.by import By

    header = driver.find_element(
        By.XPATH, f'//table[@data-table="{table}"]//thead//th[normalize-space()="{text}"]'
    )
    header.click()
    return header


def numbers(values: list[str | None]) -> list[float]:
    return [float(v) for v in values if v not in (None, "")]


def test_report_renders_every_model_without_console_errors(browser, pages, tmp_path):
    log = open_page(browser, pages["report"])
    assert severe(log) == []
    assert browser.title.startswith("robustbench-liver report")
    text = browser.find_element("tag name", "body").text
    for model in MODELS:
        assert model in text
    images = browser.execute_script(
        "return Array.from(document.images).map(function (i) {"
        "  return [i.complete, i.naturalWidth]; });"
    )
    assert len(images) == 5 and all(done and width > 100 for done, width in images)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 100, 16000))
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("RBL_SCREENSHOT_DIR"):  # to look at the page after a run
        shutil.copy(shot, Path(os.environ["RBL_SCREENSHOT_DIR"]) / "report.png")
    browser.set_window_size(1280, 1000)


def test_report_tables_sort(browser, pages):
    open_page(browser, pages["report"])
    header = click_header(browser, "scores", "DSC")
    assert header.get_attribute("aria-sort") == "ascending"
    values = column(browser, "scores", 4)
    assert numbers(values) == sorted(numbers(values))
    assert float(values[0]) == 0.0  # the crashing model's failures count as misses: DSC 0
    click_header(browser, "scores", "DSC")
    values = column(browser, "scores", 4)
    assert numbers(values) == sorted(numbers(values), reverse=True)


def test_leaderboard_renders_and_sorts(browser, pages):
    log = open_page(browser, pages["leaderboard"])
    assert severe(log) == []
    text = browser.find_element("tag name", "body").text
    for model in MODELS:
        assert model in text
    board = read_leaderboard(pages["json"])["boards"][0]
    by_dsc = {e["model"]: (e["scores"].get("dsc") or {}).get("estimate") for e in board["entries"]}
    header = click_header(browser, "board", "DSC")
    assert header.get_attribute("aria-sort") == "ascending"
    order = column(browser, "board", 0)
    known = sorted((v, m) for m, v in by_dsc.items() if v is not None)
    assert order == [m for _, m in known] + [m for m, v in by_dsc.items() if v is None]
    click_header(browser, "board", "DSC")
    assert column(browser, "board", 0)[: len(known)] == [m for _, m in reversed(known)]
    click_header(browser, "board", "model")
    assert column(browser, "board", 0) == sorted(MODELS)


def test_the_console_check_sees_errors(browser, tmp_path):
    """The check above could pass by reading nothing: a broken page must show up in it."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><title>x</title><script>undefinedFunction();</script>")
    assert any("undefinedFunction" in m for m in severe(open_page(browser, page)))
