"""`turing export`: a blinded reader study of real and synthetic tumors.

Writes `study.html` (the only file readers get) and `key.json` (the answers and every detail
of each item; keep it away from readers). Every random choice comes from one seed through
`np.random.SeedSequence([seed, stream, ...])`: the same seed and inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from robustbench_liver import __version__
from robustbench_liver.synthesis import TumorConfig
from robustbench_liver.turing import crops
from robustbench_liver.turing.answers import KEY_FORMAT
from robustbench_liver.turing.errors import TuringError, TuringWarning
from robustbench_liver.turing.items import (
    Item,
    choose,
    real_candidates,
    real_items,
    synthetic_items,
)
from robustbench_liver.turing.options import (
    GAIN,
    IDS,
    NOISE,
    ORDER,
    Quiet,
    Reporter,
    StudyOptions,
    rng,
)
from robustbench_liver.turing.page import render
from robustbench_liver.turing.png import encode_gray
from robustbench_liver.types import Scan

STUDY_FILE = "study.html"
KEY_FILE = "key.json"
MIN_DETAIL_PIXELS = 8
_TOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)


@dataclass(frozen=True)
class Study:
    """What `export_study` wrote."""

    study_id: str
    page: Path
    key: Path
    n_real: int
    n_synthetic: int
    detail_pixels: int
    slab_mm: float
    notes: tuple[str, ...]


def _token(gen: np.random.Generator, length: int) -> str:
    return "".join(_TOKEN_ALPHABET[i] for i in gen.integers(0, len(_TOKEN_ALPHABET), length))


def item_order(seed: int, count: int) -> np.ndarray:
    """The page order: a permutation drawn from the seed alone (and the number of items)."""
    return rng(seed, ORDER).permutation(count)


def item_ids(seed: int, count: int) -> list[str]:
    """One id per page position: random tokens that say nothing of the item."""
    gen = rng(seed, IDS)
    ids: list[str] = []
    while len(ids) < count:
        token = _token(gen, 8)
        if token not in ids:
            ids.append(token)
    return ids


def study_id(seed: int, page_items: Sequence[tuple[str, bytes]]) -> str:
    """A token from the seed and a digest of what the page shows (ids and images, in order):
    two studies made with one seed but other inputs get other ids, so answers cannot be
    scored against the wrong key, and nothing the page does not show goes into it."""
    digest = hashlib.sha256(_token(rng(seed, IDS, 1), 16).encode())
    for item, png in page_items:
        digest.update(item.encode() + b"\0" + hashlib.sha256(png).digest())
    value = int.from_bytes(digest.digest()[:8], "big")
    chars = []
    for _ in range(12):
        value, k = divmod(value, len(_TOKEN_ALPHABET))
        chars.append(_TOKEN_ALPHABET[k])
    return "".join(chars)


def check_out(out: Path, overwrite: bool = False) -> None:
    """Refuse to replace a key: it may belong to a study already sent to readers."""
    if (Path(out) / KEY_FILE).exists() and not overwrite:
        raise TuringError(
            f"{Path(out) / KEY_FILE} already exists: it may be the key of a study sent to readers",
            hint="choose another --out folder, or pass --force to replace it",
        )


def export_study(
    real: Sequence[tuple[str | Path, str | Path]],
    bases: Sequence[Scan],
    tumors: TumorConfig,
    out: str | Path,
    options: StudyOptions | None = None,
    tumors_label: str = "",
    reporter: Reporter | None = None,
    overwrite: bool = False,
) -> Study:
    """Draw real lesions from `real` (CT, label map) pairs and synthesize tumors into `bases`;
    write `out`/study.html and `out`/key.json."""
    opts = options or StudyOptions()
    rep = reporter or Quiet()
    out = Path(out)
    check_out(out, overwrite)
    if opts.n_real and not real:
        raise TuringError("no real scans given: pass --real-scan or --real-dataset (or --n-real 0)")
    if opts.n_synthetic and not bases:
        raise TuringError("no base scans to synthesize tumors into")
    seed = int(opts.seed) if opts.seed is not None else secrets.randbits(63)
    notes: list[str] = []

    spacings = [tuple(b.spacing) for b in bases] if opts.n_synthetic else []
    candidates, real_spacing, excluded = real_candidates(real, opts, rep)
    spacings += real_spacing
    slab_mm = opts.slab_mm or max(s[2] for s in spacings)
    # the slab must lie inside the scan too (padding would mark the source)
    inside = [
        c
        for c in candidates
        if crops.slab_fits(c.lesion.slice, c.depth, crops.slab_slices(c.slice_mm, slab_mm))
    ]
    excluded["edge"] += len(candidates) - len(inside)
    chosen = choose(inside, opts.n_real, seed)
    if opts.n_real and len(chosen) < opts.n_real:
        notes.append(
            f"asked for {opts.n_real} real tumors, {len(chosen)} usable "
            f"({excluded['small']} lesions under {opts.min_diameter_mm:g} mm, "
            f"{excluded['edge']} whose crop leaves the scan)"
        )
    items = real_items(real, chosen, opts, slab_mm)
    radii = [c.lesion.radius_mm for c in chosen]
    items += synthetic_items(bases, tumors, radii, opts, seed, slab_mm, rep, notes)
    if len(items) < 2:
        raise TuringError(
            f"only {len(items)} usable tumor(s): nothing to study",
            hint="lower --min-diameter-mm or --fov-scale, or give more scans",
        )
    detail = _detail_pixels(items, opts, notes)
    rep.stage("render crops", len(items))
    pngs = _render(items, detail, opts, seed, rep)

    order = item_order(seed, len(items))
    ids = item_ids(seed, len(items))
    shown = [(ids[pos], pngs[i]) for pos, i in enumerate(order)]
    sid = study_id(seed, shown)
    page = render(sid, shown, opts.pixels, _settings_text(opts, slab_mm))
    for message in notes:
        warnings.warn(message, TuringWarning, stacklevel=2)
    out.mkdir(parents=True, exist_ok=True)
    counts = {kind: sum(i.truth == kind for i in items) for kind in ("real", "synthetic")}
    key = {
        "format": KEY_FORMAT,
        "study_id": sid,
        "seed": seed,
        "package_version": __version__,
        "tumors": tumors_label,
        "counts": counts,
        "settings": {
            **{k: v for k, v in asdict(opts).items() if k != "seed"},
            "slab_mm_used": slab_mm,
            "detail_pixels_used": detail,
        },
        "notes": notes,
        "items": [
            {"item": ids[pos], "position": pos + 1, "truth": items[i].truth, **items[i].key}
            for pos, i in enumerate(order)
        ],
    }
    key_path, page_path = out / KEY_FILE, out / STUDY_FILE
    key_path.write_text(json.dumps(key, indent=1) + "\n", encoding="utf-8")
    page_path.write_text(page, encoding="utf-8")
    return Study(
        study_id=sid,
        page=page_path,
        key=key_path,
        n_real=counts["real"],
        n_synthetic=counts["synthetic"],
        detail_pixels=detail,
        slab_mm=slab_mm,
        notes=tuple(notes),
    )


def _detail_pixels(items: list[Item], opts: StudyOptions, notes: list[str]) -> int:
    coarsest = min(crops.source_pixels(i.slab.spacing, i.fov) for i in items)
    if opts.detail_pixels is not None:
        if opts.detail_pixels > coarsest:
            notes.append(
                f"detail_pixels {opts.detail_pixels} is finer than the coarsest crop "
                f"({coarsest} source pixels across): those crops will look blurrier than the "
                "others, which can give their source away"
            )
        return opts.detail_pixels
    detail = max(min(coarsest, opts.pixels), 4)
    if detail < MIN_DETAIL_PIXELS:
        notes.append(
            f"the coarsest crop has only {coarsest} source pixels across, and every crop is "
            f"sampled to {detail}: readers will see little detail (use finer scans, a larger "
            "--fov-scale, or leave the coarsest scans out)"
        )
    return detail


def _render(
    items: list[Item], detail: int, opts: StudyOptions, seed: int, rep: Reporter
) -> list[bytes]:
    gain_rng = rng(seed, GAIN)
    noise_out: list[float] = []
    for item in items:
        sd = crops.noise_sd(item.slab)
        gain = crops.noise_gain(item.slab, item.center_mm, item.fov, detail, gain_rng)
        noise_out.append((sd or 0.0) * gain)
        item.key["noise"] = {"source_sd_hu": sd, "gain": gain, "detail_sd_hu": (sd or 0.0) * gain}
    adds = crops.matching_noise(noise_out) if opts.match_noise else [0.0] * len(items)
    pngs = []
    for k, item in enumerate(items):
        image = crops.detail(item.slab, item.center_mm, item.fov, detail)
        added = adds[k]
        if added > 0:
            image = image + rng(seed, NOISE, k).normal(0.0, added, image.shape)
        window = _window(item, opts)
        pngs.append(encode_gray(crops.to_display(image, window, opts.pixels)))
        item.key["noise"]["added_sd_hu"] = added
        item.key.update(
            source=item.source,
            lesion={
                "number_in_scan": item.lesion.number,
                "volume_mm3": item.lesion.volume_mm3,
                "radius_mm": item.lesion.radius_mm,
                "slice": item.lesion.slice,
                "cross_section_diameter_mm": item.lesion.diameter_mm,
            },
            crop={
                "center_mm": list(item.center_mm),
                "fov_mm": item.fov,
                "detail_pixel_mm": item.fov / detail,
                "display_pixel_mm": item.fov / opts.pixels,
                "slab_slices": item.slab.slices,
                "source_spacing_mm": list(item.slab.spacing),
                "window_hu": list(window),
            },
        )
        rep.advance()
    return pngs


def _window(item: Item, opts: StudyOptions) -> tuple[float, float]:
    if opts.window == "fixed":
        return (float(opts.window_hu[0]), float(opts.window_hu[1]))
    level = crops.liver_level(item.slab, item.center_mm, item.fov)
    if level is None:  # no liver in the slab: the fixed window's level
        level = sum(opts.window_hu) / 2.0 - crops.LIVER_LEVEL_OFFSET_HU
    centre = level + crops.LIVER_LEVEL_OFFSET_HU
    half = opts.window_width_hu / 2.0
    return (centre - half, centre + half)


def _settings_text(opts: StudyOptions, slab_mm: float) -> str:
    fov = (
        f"{opts.fov_mm:g} mm wide"
        if opts.fov_mm is not None
        else f"{opts.fov_scale:g} times the tumor's diameter wide (at least {opts.min_fov_mm:g} mm)"
    )
    window = (
        f"window {opts.window_hu[0]:g} to {opts.window_hu[1]:g} HU"
        if opts.window == "fixed"
        else f"window {opts.window_width_hu:g} HU wide, set on the liver around the tumor"
    )
    noise = " with matched noise" if opts.match_noise else ""
    return (
        f"Every image is made the same way: a {slab_mm:g} mm axial slab through the tumor's "
        f"largest cross-section, a square {fov}, resampled to one grid{noise}, {window}, "
        "shown in radiological orientation (patient's right on the left)."
    )
