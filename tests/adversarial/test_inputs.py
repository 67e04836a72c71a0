"""Hostile inputs, each refused at once with a clear error: YAML bombs, deep nesting, long
`extends:` chains, huge sweeps, values that validate but fail every case, damaged NIfTI
headers, predictions linked to the ground truth, and HTML in Markdown pages.

Each row writes its input into tmp_path and runs the command line in-process (the same
`main()` the console script calls), then checks the exit code and a stable part of the
message. Before these fixes each one hung, ate gigabytes, ended in a raw Python traceback,
or passed silently.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from robustbench_liver.cli.main import main
from robustbench_liver.errors import DataError
from robustbench_liver.io import load_scan, read_volume
from robustbench_liver.report.document import (
    Bullets,
    Cell,
    Code,
    Document,
    Heading,
    Paragraph,
    Table,
    render_markdown,
)

PHANTOM = "base_scans: [{source: phantom, count: 1}]\n"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"


def scenario(tmp: Path, body: str, name: str = "s.yaml") -> Path:
    path = tmp / name
    path.write_text(body)
    return path


def validate(*extra: str) -> Callable[[Path], list[str]]:
    """A row's command: write `body` and validate it."""

    def command(path: Path) -> list[str]:
        return ["validate", str(path), *extra]

    return command


# --- YAML and scenario inputs: each a file body (or a builder) -> validate ---


def alias_bomb(levels: int = 9, width: int = 10, where: str = "") -> str:
    lines = [f"{where}a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"{where}a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def bomb_in_description() -> str:
    return "name: s\n" + PHANTOM + "description:\n" + alias_bomb(where="  ")


def sweep(axes: int, levels: int, combine: str = "grid") -> str:
    rows = []
    for a in range(axes):
        lv = ", ".join(f"l{k}: [{-60 + k}, {-50 + k}]" for k in range(levels))
        rows.append(f"    - {{name: ax{a}, param: tumors.delta_hu, levels: {{{lv}}}}}")
    return f"name: s\n{PHANTOM}sweep:\n  combine: {combine}\n  axes:\n" + "\n".join(rows) + "\n"


def one_axis(levels: str, param: str = "tumors.delta_hu") -> str:
    return (
        f"name: s\n{PHANTOM}sweep:\n  axes:\n    - {{name: x, param: {param}, levels: {levels}}}\n"
    )


def extends_chain(tmp: Path, n: int = 1500) -> Path:
    for i in range(n):
        text = f"extends: f{i + 1}.yaml\n" if i < n - 1 else f"name: s\n{PHANTOM}"
        (tmp / f"f{i}.yaml").write_text(text)
    return tmp / "f0.yaml"


@dataclass(frozen=True)
class Row:
    id: str
    body: str | Callable[[Path], Path]
    """The scenario text, or a function writing the inputs and returning the scenario."""
    message: str
    """A stable part of the error (or of the ok line)."""
    rc: int = 1
    extra: tuple[str, ...] = ()


SCENARIOS = [
    # YAML bombs and size limits
    Row(
        "alias-bomb", "name: s\n" + PHANTOM + alias_bomb(), "once YAML aliases (*name) are expanded"
    ),
    Row("alias-bomb-in-a-field", bomb_in_description(), "once YAML aliases (*name) are expanded"),
    Row("recursive-alias", f"name: s\n{PHANTOM}description: &a [1, *a]\n", "contains it"),
    Row("recursive-merge-key", f"name: s\n{PHANTOM}metrics: &m {{<<: *m}}\n", "contains it"),
    Row(
        "deep-flow-nesting",
        f"name: s\n{PHANTOM}description: " + "[" * 10_000 + "]" * 10_000 + "\n",
        "nested more than 32 deep",
    ),
    Row(
        "deep-block-nesting",
        f"name: s\n{PHANTOM}tumors:\n"
        + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(200))
        + "  " * 201
        + "x: 1\n",
        "nested more than 32 deep",
    ),
    Row("extends-chain-1500", extends_chain, "longer than 8"),
    Row("file-of-2-mb", f"name: s\n{PHANTOM}" + "# padding\n" * 200_000, "a scenario is a few kB"),
    Row("integer-of-5000-digits", f"name: s\n{PHANTOM}seed: {'9' * 5000}\n", "cannot be read"),
    # sweeps too large to build
    Row("sweep-9-axes-x-10-levels", sweep(9, 10), "makes 1,000,000,000 conditions"),
    Row("zip-of-300-levels", sweep(2, 300, "zip"), "makes 300 conditions"),
    Row(
        "sweep-over-the-cap-given",
        sweep(3, 10),
        "more than the cap of 999",
        extra=("--max-conditions", "999"),
    ),
    Row(
        "too-many-cases",
        sweep(1, 20) + "tumor_cases: 100000\n",
        "make 2,000,000 cases, more than 1,000,000",
    ),
    # values that used to validate and then fail every case
    Row("level-name-of-300-chars", one_axis(f"{{{'x' * 300}: [-60, -40]}}"), "at most 64"),
    Row(
        "condition-id-too-long",
        f"name: s\n{PHANTOM}sweep:\n  axes:\n"
        + "".join(
            f"    - {{name: axis{a}{'a' * 40}, param: tumors.delta_hu, "
            f"levels: {{level{'b' * 40}: [-60, -40]}}}}\n"
            for a in range(3)
        ),
        "condition id",
    ),
    Row(
        "phantom-spacing-nan",
        "name: s\nbase_scans: [{source: phantom, spacing: [.nan, 1.5, 2.5]}]\n",
        "finite number",
    ),
    Row(
        "phantom-spacing-zero",
        "name: s\nbase_scans: [{source: phantom, spacing: [0, 1.5, 2.5]}]\n",
        "spacing must be 3 values in 0.2-10 mm",
    ),
    Row(
        "phantom-shape-zero",
        "name: s\nbase_scans: [{source: phantom, shape: [0, 224, 96]}]\n",
        "at least 8 voxels",
    ),
    Row(
        "phantom-shape-huge",
        "name: s\nbase_scans: [{source: phantom, shape: [4096, 4096, 4096]}]\n",
        "more than 134,217,728 voxels",
    ),
    Row(
        "phantom-liver-volume-negative",
        "name: s\nbase_scans: [{source: phantom, liver_volume_ml: -5}]\n",
        "liver_volume_ml must lie in 300-4000",
    ),
    Row(
        "phantom-noise-nan",
        "name: s\nbase_scans: [{source: phantom, noise_std: .nan}]\n",
        "finite number",
    ),
    Row(
        "min-volume-inf", f"name: s\n{PHANTOM}metrics: {{min_volume_mm3: .inf}}\n", "finite number"
    ),
    Row(
        "nsd-tolerance-nan",
        f"name: s\n{PHANTOM}metrics: {{nsd_tolerance_mm: .nan}}\n",
        "finite number",
    ),
    # did-you-mean hints for the common mistakes
    Row(
        "units-in-a-level",
        one_axis("{a: [5mm, 1cm]}", "tumors.radius_mm"),
        "give numbers in mm without units: [5, 10]",
    ),
    Row(
        "units-in-metrics",
        f"name: s\n{PHANTOM}metrics: {{nsd_tolerance_mm: 2mm}}\n",
        "give numbers in mm without units: 2",
    ),
    Row(
        "units-in-phantom-spacing",
        "name: s\nbase_scans: [{source: phantom, spacing: [1.5mm, 1.5, 2.5]}]\n",
        "give numbers in mm without units: 1.5",
    ),
    Row(
        "hu-units",
        f"name: s\n{PHANTOM}tumors: {{delta_hu: [-60HU, -40HU]}}\n",
        "give numbers without units: [-60, -40]",
    ),
    Row("on-off-level-names", one_axis("{on: [-60, -40], off: [-15, -5]}"), "quote it: 'on'"),
    Row(
        "yes-as-a-reference-level",
        one_axis("{a: [-60, -40]}") + "reference: {x: yes}\n",
        "quote it: 'yes'",
    ),
    Row("numbers-as-level-names", one_axis("{5: [-60, -40], 10: [-15, -5]}"), "quote it: '5'"),
    Row(
        "number-as-a-parameter-path",
        f"name: s\n{PHANTOM}sweep: {{axes: [{{name: x, levels: {{a: {{5: 2}}}}}}]}}\n",
        "quote it: '5'",
    ),
    Row("on-as-a-tumor-level", f"name: s\n{PHANTOM}tumors: {{level: on}}\n", "quote it: 'on'"),
    Row(
        "scalar-sizes",
        f"name: s\n{PHANTOM}tumors: {{sizes: 5}}\n",
        "must be a list of size classes",
    ),
    Row("scalar-regions", f"name: s\n{PHANTOM}tumors: {{regions: 5}}\n", "a region name or a list"),
    Row(
        "scalar-radius-is-a-sphere", one_axis("{r8: 8}", "tumors.radius_mm"), "1 condition(s)", rc=0
    ),
]


@pytest.mark.parametrize("row", SCENARIOS, ids=lambda r: r.id)
def test_hostile_scenarios_are_refused_clearly(row: Row, tmp_path, capsys):
    path = row.body(tmp_path) if callable(row.body) else scenario(tmp_path, row.body)
    assert main(["validate", str(path), *row.extra]) == row.rc
    printed = capsys.readouterr()
    text = printed.err + printed.out
    assert row.message in text
    assert "Traceback" not in text and str(path.name) in text


# --- NIfTI headers: a folder source checked by `validate --data-root` ---


def nifti_bytes(
    shape: tuple[int, ...] = (16, 16, 8),
    pixdim: tuple[float, float, float] | None = None,
    data: bytes | None = None,
    dtype: type = np.int16,
) -> bytes:
    """An uncompressed NIfTI-1 file whose header may lie about its shape and spacing."""
    image = nib.Nifti1Image(np.zeros((2, 2, 2), dtype), np.eye(4))
    header = image.header.copy()
    header.set_data_shape(shape)
    raw = bytearray(header.binaryblock)
    if pixdim is not None:
        struct.pack_into("<3f", raw, 80, *pixdim)  # pixdim[1:4]
        struct.pack_into("<hh", raw, 252, 0, 0)  # no qform/sform: the spacing is pixdim's
    if data is None:
        data = bytes(int(np.prod(shape)) * np.dtype(dtype).itemsize)
    return bytes(raw) + b"\0" * 4 + data


def folder_scenario(tmp: Path, image: bytes, name: str = "ct.nii") -> Path:
    """A data root with one scan (`image`, and a valid label map if the image is valid
    enough to need one) and a scenario reading it."""
    root = tmp / "data" / "case1"
    root.mkdir(parents=True)
    if name.endswith(".gz"):
        image = gzip.compress(image, compresslevel=1)
    (root / name).write_bytes(image)
    (root / "labels.nii").write_bytes(nifti_bytes(dtype=np.uint8))
    body = (
        "name: s\nbase_scans:\n  - {source: folder, images: 'case1/"
        + name
        + "', labels: '{dir}/labels.nii', liver_label: 1}\n"
    )
    return scenario(tmp, body)


BAD_SPACING = "must be finite and above 0"
HEADERS = [
    # id, file bytes, file name, message
    ("claims-1024^3-in-2-mb", nifti_bytes((1024,) * 3, data=os.urandom(2_000_000)), "ct.nii",
     "more than the limit"),
    ("claims-1024^3-in-2-mb-gz", nifti_bytes((1024,) * 3, data=bytes(2_000_000)), "ct.nii.gz",
     "more than the limit"),
    ("truncated", nifti_bytes((200, 200, 100), data=bytes(1000)), "ct.nii", "but the file has"),
    ("a-zero-dimension", nifti_bytes((16, 0, 8), data=b""), "ct.nii", "no voxels"),
    ("zero-spacing", nifti_bytes(pixdim=(0.0, 1.0, 1.0)), "ct.nii", BAD_SPACING),
    ("negative-spacing", nifti_bytes(pixdim=(1.0, -1.0, 1.0)), "ct.nii", BAD_SPACING),
    ("nan-spacing", nifti_bytes(pixdim=(float("nan"), 1.0, 1.0)), "ct.nii", BAD_SPACING),
    ("inf-spacing", nifti_bytes(pixdim=(1.0, 1.0, float("inf"))), "ct.nii", BAD_SPACING),
    ("zero-spacing-gz", nifti_bytes(pixdim=(0.0, 1.0, 1.0)), "ct.nii.gz", BAD_SPACING),
]  # fmt: skip
BY_HEADER = pytest.mark.parametrize(
    "image, name, message", [h[1:] for h in HEADERS], ids=[h[0] for h in HEADERS]
)


@BY_HEADER
def test_bad_headers_are_refused_by_validate(image, name, message, tmp_path, capsys):
    path = folder_scenario(tmp_path, image, name)
    assert main(["validate", str(path), "--data-root", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert message in err and f"case1/{name}" in err and "scan case1" in err


@BY_HEADER
def test_bad_headers_are_refused_by_the_loader(image, name, message, tmp_path):
    path = tmp_path / name
    path.write_bytes(gzip.compress(image, compresslevel=1) if name.endswith(".gz") else image)
    with pytest.raises(DataError) as caught:
        load_scan(path, liver=path)  # what `run` and `synth` read base scans with
    assert message in str(caught.value) and name in str(caught.value)


def test_a_sound_header_still_reads(tmp_path):
    path = tmp_path / "ok.nii"
    path.write_bytes(nifti_bytes(pixdim=(0.8, 0.8, 2.5)))
    assert read_volume(path).spacing == pytest.approx((0.8, 0.8, 2.5))


# --- evaluate: predictions that are the ground truth ---


@pytest.fixture
def test_set(tmp_path: Path) -> tuple[Path, Path]:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    (gt / "labelsTs").mkdir(parents=True)
    pred.mkdir()
    label = np.zeros((24, 22, 10), np.uint8)
    label[3:21, 3:19, 1:9] = 1
    label[8:14, 7:13, 3:7] = 2
    for case in ("c1", "c2"):
        nib.save(
            nib.Nifti1Image(label, np.diag([0.8, 0.8, 2.5, 1])), gt / "labelsTs" / f"{case}.nii.gz"
        )
        pred_label = label.copy()
        pred_label[8, 7:13, 3:7] = 1  # not a copy of the ground truth
        nib.save(nib.Nifti1Image(pred_label, np.diag([0.8, 0.8, 2.5, 1])), pred / f"{case}.nii.gz")
    return gt, pred


def evaluate(gt: Path, pred: Path, out: Path) -> int:
    argv = ["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(out)]
    return main([*argv, "--n-resamples", "100"])


def test_a_prediction_symlinked_to_the_ground_truth_is_refused(test_set, tmp_path, capsys):
    gt, pred = test_set
    (pred / "c1.nii.gz").unlink()
    (pred / "c1.nii.gz").symlink_to(Path("..") / "gt" / "labelsTs" / "c1.nii.gz")
    out = tmp_path / "r.parquet"
    assert evaluate(gt, pred, out) == 1
    assert "links to the ground truth" in capsys.readouterr().err and not out.exists()


def test_a_prediction_hard_linked_to_the_ground_truth_is_refused(test_set, tmp_path, capsys):
    gt, pred = test_set
    (pred / "c2.nii.gz").unlink()
    os.link(gt / "labelsTs" / "c2.nii.gz", pred / "c2.nii.gz")
    assert evaluate(gt, pred, tmp_path / "r.parquet") == 1
    assert "links to the ground truth" in capsys.readouterr().err


def test_the_ground_truth_folder_as_predictions_is_refused(test_set, tmp_path, capsys):
    gt, _ = test_set
    link = tmp_path / "looks-like-predictions"
    link.symlink_to(gt / "labelsTs")
    assert evaluate(gt, link, tmp_path / "r.parquet") == 1
    assert "is the ground truth's" in capsys.readouterr().err


def test_a_prediction_with_a_lying_header_fails_alone(test_set, tmp_path, capsys):
    gt, pred = test_set
    (pred / "c1.nii").write_bytes(nifti_bytes((1024,) * 3, data=bytes(1000)))
    (pred / "c1.nii.gz").write_bytes(gzip.compress((pred / "c1.nii").read_bytes()))
    (pred / "c1.nii").unlink()
    out = tmp_path / "r.parquet"
    assert evaluate(gt, pred, out) == 1
    rows = pd.read_parquet(out).set_index("case_id")
    assert (
        rows.loc["c1", "status"] == "unreadable"
        and "more than the limit" in rows.loc["c1", "error"]
    )
    assert rows.loc["c2", "status"] == "ok"


# --- Markdown pages: untrusted text shows as text ---


def _report_helpers():
    """The hand-made run folders of the report tests (tests/unit/report/conftest.py)."""
    path = Path(__file__).resolve().parents[1] / "unit" / "report" / "conftest.py"
    spec = importlib.util.spec_from_file_location("report_rows", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> Path:
    """A run folder whose model name is HTML and whose failure message is a script."""
    helpers = _report_helpers()
    cases, lesions = helpers.make_rows(models=(HOSTILE_NAME, "beta"))
    cases.loc[cases["status"] != "ok", "error"] = "RuntimeError: <script>alert(2)</script> | x"
    return helpers.write_run(tmp_path_factory.mktemp("hostile") / "run", cases, lesions)


@pytest.mark.parametrize("verb, page", [("report", "report.md"), ("leaderboard", "leaderboard.md")])
def test_markdown_pages_escape_model_names_and_errors(verb, page, hostile_run, tmp_path):
    out = tmp_path / verb
    fast = ["--no-montages", "--resamples", "100"] if verb == "report" else []
    assert main([verb, str(hostile_run), "--out", str(out), *fast]) == 0
    text = (out / page).read_text()
    outside_code = text.split("```")[::2]  # fenced JSON shows the name as written
    assert not any("<img" in part or "<script" in part for part in outside_code)
    assert "&lt;img src=x onerror=alert(1)>" in text
    if verb == "report":
        assert "RuntimeError: &lt;script>alert(2)&lt;/script> \\| x" in text


def test_every_markdown_block_escapes():
    doc = Document(f"Report {HOSTILE_NAME}")
    doc.add(
        Heading(2, f"Model {HOSTILE_NAME}\n# injected heading"),
        Paragraph("a < b & c; p <0.001; &amp; stays text; <!-- comment --> <http://x>"),
        Bullets(
            (
                f"`{HOSTILE_NAME}` in code stays",
                "\\`<b>`",
            )
        ),
        Table(("model",), ((Cell(f"{HOSTILE_NAME} | x\nnext"),),), caption="<i>caption</i>"),
        Code("````\n<script>\n````\n", "text"),
    )
    md = render_markdown(doc)
    assert md.startswith("# Report &lt;img src=x onerror=alert(1)>\n")
    assert "## Model &lt;img src=x onerror=alert(1)> # injected heading\n" in md
    assert "a < b & c; p <0.001; &amp;amp; stays text; &lt;!-- comment --> &lt;http://x>" in md
    assert f"- `{HOSTILE_NAME}` in code stays" in md  # inside a code span: shown as written
    assert "- \\`&lt;b>`" in md  # an escaped backtick opens no code span
    assert "| &lt;img src=x onerror=alert(1)> \\| x next |" in md
    assert "*&lt;i>caption&lt;/i>*" in md
    assert "`````text\n````\n<script>\n````\n`````" in md  # a fence no line inside can close


@pytest.mark.parametrize(
    "body, message",
    [
        (sweep(9, 10), "makes 1,000,000,000 conditions"),
        ("name: s\n" + PHANTOM + alias_bomb(), "once YAML aliases (*name) are expanded"),
    ],
    ids=["sweep-9-axes-x-10-levels", "alias-bomb"],
)
def test_run_refuses_them_before_any_work(body, message, tmp_path, capsys):
    path = scenario(tmp_path, body)
    argv = ["run", str(path), "--model", "hu-threshold", "--out", str(tmp_path / "run")]
    assert main(argv) == 1
    assert message in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_a_ground_truth_with_zero_spacing_is_a_bad_ground_truth(test_set, tmp_path, capsys):
    gt, pred = test_set
    (gt / "labelsTs" / "c1.nii.gz").write_bytes(
        gzip.compress(nifti_bytes((24, 22, 10), pixdim=(0.0, 0.8, 2.5), dtype=np.uint8))
    )
    out = tmp_path / "r.parquet"
    assert evaluate(gt, pred, out) == 1
    rows = pd.read_parquet(out).set_index("case_id")
    assert rows.loc["c1", "status"] == "bad_ground_truth"
    assert "must be finite and above 0" in rows.loc["c1", "error"]
