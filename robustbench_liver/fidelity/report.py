"""Write a fidelity study: Markdown and HTML section, the feature plots, and the data
(lesions.csv / .parquet, distances.csv, classifier.json, settings.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustbench_liver import __version__
from robustbench_liver.fidelity import calibration_file, calibration_report
from robustbench_liver.fidelity.page import Page
from robustbench_liver.fidelity.registry import BY_NAME, CLASSIFIER_FEATURES, FEATURES, NAMES
from robustbench_liver.fidelity.study import Study
from robustbench_liver.fidelity.texture import BIN_HU

if TYPE_CHECKING:
    from robustbench_liver.fidelity.calibration_file import Calibrated

FIGURE = "fidelity-features.png"
FILES = (
    "fidelity.md",
    "fidelity.html",
    f"figures/{FIGURE}",
    "lesions.csv",
    "lesions.parquet",
    "distances.csv",
    "classifier.json",
    "settings.json",
)


def number(value: Any, digits: int = 2) -> str:
    """A table number: NaN as 'n/a', large values with fewer decimals."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    value = float(value)
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def _interval(low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return f" [{number(low)}, {number(high)}]"


def build_page(study: Study, calibrated: Calibrated | None = None) -> tuple[Page, dict[str, bytes]]:
    """The section, and its figures (file name under figures/ -> PNG): the feature plots,
    and with a calibration its plot."""
    from robustbench_liver.fidelity.plots import feature_grid, png

    page = Page(f"Fidelity: {study.real_data} vs {study.tumor_model}")
    figures: dict[str, bytes] = {}
    _overview(page, study)
    _classifier(page, study)
    if calibrated is not None:
        figures[calibration_file.FIGURE] = calibration_report.add_section(page, calibrated)
    page.heading(2, "Feature distances")
    _distance_table(page, study)
    page.paragraph(
        "SMD: synthetic minus real mean, in pooled SDs (0 = same mean). W1: Wasserstein-1 "
        "distance of the two distributions, in the feature's unit (0 = same distribution). "
        f"CIs: percentile bootstrap over {study.cluster_unit}s "
        f"({study.settings['resamples']} resamples); none with fewer than 4."
    )
    features = [n for n in NAMES if n in study.table]
    image = png(feature_grid(study.table, features, f"{study.real_data} vs {study.tumor_model}"))
    figures[FIGURE] = image
    page.heading(2, "Distributions")
    page.figure(
        f"figures/{FIGURE}",
        image,
        alt="real vs synthetic lesions, one panel per feature",
        caption="Each dot a lesion: real (red, left), synthetic (blue, right, with its box plot).",
    )
    _regions(page, study)
    _lesions(page, study)
    page.heading(2, "Feature definitions")
    page.bullets(
        [
            f"{f.name} ({f.unit or 'ratio'}): {f.definition}"
            + ("" if f.classify else " [not used by the classifier]")
            for f in FEATURES
        ]
    )
    page.paragraph(
        "Texture: scikit-image GLCM (pyradiomics does not install cleanly on Python 3.11 "
        f"here: no wheels, and its source archives do not build), {BIN_HU:g} HU bins."
    )
    return page, figures


def _overview(page: Page, study: Study) -> None:
    table = study.table
    real = table[table["set"] == "real"]
    synthetic = table[table["set"] == "synthetic"]
    scans = real["real_scan"].nunique()
    small = [les for les in study.lesions if not les.measured]
    page.heading(2, "Overview")
    page.paragraph(
        f"Real data: {study.real_data} ({scans} scan(s) with measured lesions). Tumor model: "
        f"{study.tumor_model}. {len(real)} real lesion(s) measured, {len(small)} too small "
        f"(equivalent diameter below {study.settings['min_diameter_voxels']:g} voxels), "
        f"{len(synthetic)} size-matched synthetic lesion(s) "
        f"({study.settings['per_lesion']} asked per real lesion, {len(study.failures)} "
        "could not be made)."
    )
    page.paragraph(
        "Synthetic tumors go "
        + (
            "into the healthy base scans given, round-robin."
            if study.settings["base_scans"]
            else "into the same scan as the real lesion they match, with every real tumor "
            "taken out of the liver they may be placed in."
        )
    )
    if len(real) < 10 or scans < 4:
        page.paragraph(
            f"Only {len(real)} real lesion(s) from {scans} scan(s): the numbers below test the "
            "machinery; they are too few to say how real the synthetic tumors look."
        )
    clusters = real["cluster"].nunique()
    if 4 <= clusters < 8:
        page.paragraph(
            f"The distance CIs resample {clusters} {study.cluster_unit}s: a percentile "
            "bootstrap over so few units covers less often than 95 % (about 85 % at 4, "
            "DESIGN.md §7). The AUC's CI reruns the classifier in every resample and is "
            "conservative (it covered 0.5 in 98 % of null simulations with 6 real lesions)."
        )


def _classifier(page: Page, study: Study) -> None:
    result = study.classifier
    page.heading(2, "Classifier two-sample test")
    page.table(
        ("real data", "tumor model", "real", "synthetic", "AUC (95% CI)", "note"),
        [
            (
                study.real_data,
                study.tumor_model,
                str(result.n_real),
                str(result.n_synthetic),
                number(result.auc) + _interval(result.ci_low, result.ci_high),
                result.note,
            )
        ],
        caption="Cross-validated AUC of telling real from synthetic lesions by their "
        "features: 0.5 = indistinguishable, 1 = always told apart.",
        name="classifier",
    )
    page.paragraph(
        f"Method: {result.method}; {result.folds} folds x {result.repeats} repeats; CI over "
        f"{study.cluster_unit}s. Features: {', '.join(result.features) or 'none'}."
    )
    if result.dropped:
        dropped = "; ".join(f"{k} ({v})" for k, v in result.dropped.items())
        page.paragraph(f"Left out of the classifier: {dropped}.")


def _distance_table(page: Page, study: Study) -> None:
    rows = []
    for r in study.distances.itertuples(index=False):
        feature = BY_NAME[str(r.feature)]
        rows.append(
            (
                study.real_data,
                study.tumor_model,
                feature.label,
                feature.unit,
                str(r.n_real),
                str(r.n_synthetic),
                number(r.real_median),
                number(r.synthetic_median),
                number(r.smd) + _interval(float(r.smd_low), float(r.smd_high)),
                number(r.wasserstein)
                + _interval(float(r.wasserstein_low), float(r.wasserstein_high)),
                "yes" if r.feature in CLASSIFIER_FEATURES else "no",
            )
        )
    page.table(
        (
            "real data",
            "tumor model",
            "feature",
            "unit",
            "n real",
            "n synthetic",
            "real median",
            "synthetic median",
            "SMD (95% CI)",
            "W1 (95% CI)",
            "in classifier",
        ),
        rows,
        name="distances",
    )


def _regions(page: Page, study: Study) -> None:
    counts = study.table.groupby(["region", "set"]).size().unstack(fill_value=0)
    rows = [
        (str(region) or "n/a", str(int(row.get("real", 0))), str(int(row.get("synthetic", 0))))
        for region, row in counts.iterrows()
    ]
    page.heading(3, "Location: coarse liver region")
    page.table(("region", "real", "synthetic"), rows, name="regions")


def _lesions(page: Page, study: Study) -> None:
    page.heading(2, "Real lesions")
    page.table(
        ("lesion", "voxels", "equivalent radius (mm)", "status"),
        [
            (
                les.name,
                str(les.voxels),
                number(les.radius_mm),
                "measured" if les.measured else "too small",
            )
            for les in study.lesions
        ],
        caption="26-connected components of the tumor label.",
        name="lesions",
    )
    if study.failures:
        shown = "; ".join(
            f"{f['match']}~{f['replicate']}: {f['error']}" for f in study.failures[:10]
        )
        more = f" (and {len(study.failures) - 10} more)" if len(study.failures) > 10 else ""
        page.paragraph(f"Synthetic tumors not made: {shown}{more}.")


def write_report(
    study: Study,
    out: str | Path,
    extra: dict[str, Any] | None = None,
    calibrated: Calibrated | None = None,
) -> Path:
    """Write every file of `FILES` under `out` (and with a calibration those of
    `calibration_file.FILES` and its figure); returns the HTML page's path."""
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    page, figures = build_page(study, calibrated)
    for name, image in figures.items():
        (out / "figures" / name).write_bytes(image)
    if calibrated is not None:
        calibration_file.write_calibration(out, calibrated)
    (out / "fidelity.md").write_text(page.markdown(), encoding="utf-8")
    (out / "fidelity.html").write_text(page.html(), encoding="utf-8")
    study.table.to_csv(out / "lesions.csv", index=False)
    study.table.to_parquet(out / "lesions.parquet", index=False)
    study.distances.to_csv(out / "distances.csv", index=False)
    classifier = {
        "real_data": study.real_data,
        "tumor_model": study.tumor_model,
        "cluster_unit": study.cluster_unit,
        **study.classifier.to_dict(),
    }
    _write_json(out / "classifier.json", classifier)
    settings = {
        "robustbench_liver": __version__,
        "real_data": study.real_data,
        "tumor_model": study.tumor_model,
        "cluster_unit": study.cluster_unit,
        **study.settings,
        **(extra or {}),
    }
    _write_json(out / "settings.json", settings)
    return out / "fidelity.html"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(_plain(data), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
