"""The reader-study page in a real headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium): a reader answers every item by keyboard and mouse, downloads the
answers, and `turing score` scores the downloaded file. Run with `make slow`."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.turing import clopper_pearson

from .conftest import start_chromium

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory, shared_data) -> dict[str, Path]:
    """4 real LiTS lesions (lits-tiny) and 6 synthetic ones in two small phantoms."""
    out = tmp_path_factory.mktemp("turing") / "study"
    lits = shared_data / "lits-tiny"
    argv = ["turing", "export", "--out", str(out), "--seed", "11"]
    argv += ["--real-scan", str(lits / "ct.nii.gz"), str(lits / "labels.nii.gz")]
    argv += ["--n-synthetic", "6", "--phantoms", "2", "--min-fov-mm", "60"]
    argv += ["--phantom-shape", "128", "112", "48", "--phantom-spacing", "3", "3", "5"]
    assert main(argv) == 0
    return {"page": out / "study.html", "key": out / "key.json"}


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(tmp_path_factory, downloads) -> Iterator[object]:
    prefs = {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
        "safebrowsing.enabled": False,
    }
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"), "1000,1200", prefs)
    # headless Chrome saves downloads only when told where (the preference alone is not enough)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for_file(folder: Path, timeout: float = 20.0) -> Path:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done = [p for p in folder.glob("*.json") if p.stat().st_size > 0]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no download in {folder} after {timeout} s: {list(folder.iterdir())}")


def test_a_reader_answers_every_item_and_the_download_scores(browser, study, downloads, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    key = json.loads(study["key"].read_text())
    truth = {item["item"]: item["truth"] for item in key["items"]}
    n = len(truth)
    browser.get(study["page"].resolve().as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    body = browser.find_element(By.TAG_NAME, "body")
    # the page's order is the key's order, and it shows no more than ids and images
    page_items = browser.execute_script(
        "return JSON.parse(document.getElementById('study-data').textContent).items"
        ".map(function (it) { return Object.keys(it).sort().join(',') + ':' + it.id; });"
    )
    assert page_items == [f"id,image:{item['item']}" for item in key["items"]]

    browser.find_element(By.ID, "reader").send_keys("Dr Test", Keys.ENTER)
    calls = {}
    # A deliberate answer pattern with known figures: the reader is right on every synthetic
    # tumor and on the first real one, wrong on the other real ones; odd positions are
    # answered by keyboard, even ones by mouse.
    real_seen = 0
    for position, item in enumerate(key["items"], start=1):
        assert browser.find_element(By.ID, "pos").text == str(position)
        src = browser.find_element(By.ID, "crop").get_attribute("src")
        assert src.startswith("data:image/png;base64,")
        is_real = item["truth"] == "real"
        real_seen += is_real
        call = "real" if (is_real and real_seen == 1) else "synthetic"
        confidence = 1 + position % 5
        calls[item["item"]] = (call, confidence)
        if position % 2:
            body.send_keys("r" if call == "real" else "s", str(confidence), Keys.ARROW_RIGHT)
        else:
            browser.find_element(By.ID, f"call-{call}").click()
            browser.find_element(By.ID, f"conf-{confidence}").click()
            browser.find_element(By.ID, "next").click()
    assert browser.find_element(By.ID, "done").text == str(n)
    assert "All" in browser.find_element(By.ID, "status").text
    browser.find_element(By.ID, "download").click()
    saved = _wait_for_file(downloads)
    answers = json.loads(saved.read_text())
    assert answers["reader"] == "Dr Test" and answers["study_id"] == key["study_id"]
    assert {a["item"]: (a["call"], a["confidence"]) for a in answers["answers"]} == calls
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

    out = tmp_path / "score"
    assert main(["turing", "score", "--key", str(study["key"]), str(saved), "--out", str(out)]) == 0
    score = json.loads((out / "score.json").read_text())
    reader = score["readers"][0]
    n_real = sum(t == "real" for t in truth.values())
    n_syn = n - n_real
    assert reader["sensitivity"]["hits"] == n_syn and reader["sensitivity"]["total"] == n_syn
    assert reader["specificity"]["hits"] == 1 and reader["specificity"]["total"] == n_real
    assert reader["accuracy"]["estimate"] == pytest.approx((n_syn + 1) / n)
    low, high = clopper_pearson(n_syn + 1, n)
    assert (reader["accuracy"]["low"], reader["accuracy"]["high"]) == pytest.approx((low, high))
    assert reader["sensitivity"]["high"] == 1.0
    assert "do not pass" in score["statements"][0]
    assert "Dr Test" in (out / "score.md").read_text()


def test_a_reload_keeps_the_answers(browser, study, tmp_path):
    """Answers live in the browser's storage, per reader name: a reload loses nothing, and
    another reader on the same computer does not see them."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page = tmp_path / "copy.html"
    page.write_text(study["page"].read_text())
    browser.get(page.resolve().as_uri())
    browser.execute_script("localStorage.clear()")
    browser.refresh()
    browser.find_element(By.ID, "reader").send_keys("R2", Keys.ENTER)
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("s", "4", Keys.ENTER, "r", "2")
    assert browser.find_element(By.ID, "done").text == "2"
    browser.refresh()
    assert browser.find_element(By.ID, "reader").get_attribute("value") == ""  # never filled in
    browser.find_element(By.ID, "reader").send_keys("R3", Keys.ENTER)  # another reader ...
    assert browser.find_element(By.ID, "done").text == "0"  # ... sees none of R2's answers
    browser.refresh()
    browser.find_element(By.ID, "reader").send_keys("R2")
    browser.find_element(By.ID, "begin").click()
    assert browser.find_element(By.ID, "done").text == "2"
    assert browser.find_element(By.ID, "pos").text == "2"
    assert browser.find_element(By.ID, "call-real").get_attribute("aria-pressed") == "true"
    assert browser.find_element(By.ID, "conf-2").get_attribute("aria-pressed") == "true"
    if os.environ.get("RBL_SCREENSHOT_DIR"):  # to look at the page after a run
        browser.save_screenshot(str(Path(os.environ["RBL_SCREENSHOT_DIR"]) / "turing.png"))
