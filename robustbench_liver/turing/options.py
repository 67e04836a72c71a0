"""The options of a reader study: how it is drawn and how every crop is made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from robustbench_liver import display
from robustbench_liver.turing.errors import TuringError

WINDOWS = ("liver", "fixed")


@dataclass(frozen=True)
class StudyOptions:
    """How the study is drawn and how every crop is made (the same rule for all items)."""

    n_real: int = 20
    """Real tumors to show (the paper showed 20)."""
    n_synthetic: int = 30
    """Synthetic tumors to show (the paper showed 30)."""
    seed: int | None = None
    """Seed of every random choice; None draws one (kept in key.json). Keep it private: with
    the seed and the inputs, anyone can rebuild the key."""
    tumor_label: int = 2
    """Tumor value in the real scans' label maps (LiTS / MSD: 2)."""
    liver_label: int = 1
    """Liver value in the real scans' label maps (LiTS / MSD: 1)."""
    min_diameter_mm: float = 10.0
    """Real lesions whose largest axial cross-section is smaller than this are not shown."""
    fov_scale: float = 3.0
    """Crop side = this x the lesion's cross-section diameter."""
    fov_mm: float | None = None
    """A fixed crop side in mm for every item instead (same mm per pixel everywhere)."""
    min_fov_mm: float = 30.0
    """Smallest crop side (with fov_scale)."""
    pixels: int = 256
    """Side of every image, in pixels."""
    detail_pixels: int | None = None
    """Samples across every crop before display; None: as many as the coarsest crop has
    source pixels (so no crop is sharper than another)."""
    slab_mm: float | None = None
    """Slab thickness; None: the thickest slice of any real or base scan."""
    window: str = "liver"
    """'liver': level = the crop's liver parenchyma median - 70 HU, width `window_width_hu`
    (contrast phase does not show); 'fixed': `window_hu` for every image."""
    window_width_hu: float = 400.0
    window_hu: tuple[float, float] = display.SOFT_TISSUE_WINDOW
    match_noise: bool = True
    """Add white noise until every crop has the noise of the noisiest."""
    size_match: bool = True
    """Synthetic tumors sized like the real ones shown (else the tumor config's sizes)."""
    tries: int = 8
    """Attempts per synthetic tumor (a new placement each) before it is given up."""

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> TuringError:
            return TuringError(f"{name} {rule}, got {getattr(self, name)!r}")

        for name in ("n_real", "n_synthetic"):
            if int(getattr(self, name)) < 0:
                raise bad(name, "must be 0 or more")
        if self.n_real + self.n_synthetic < 2:
            raise TuringError("a study needs at least 2 items (n_real + n_synthetic)")
        if self.seed is not None and not 0 <= int(self.seed) < 2**63:
            raise bad("seed", "must lie in 0 .. 2**63 - 1")
        for name in ("fov_scale", "min_fov_mm", "window_width_hu"):
            if not float(getattr(self, name)) > 0:
                raise bad(name, "must be > 0")
        if self.fov_mm is not None and not self.fov_mm > 0:
            raise bad("fov_mm", "must be > 0")
        if self.slab_mm is not None and not self.slab_mm > 0:
            raise bad("slab_mm", "must be > 0")
        if not 32 <= self.pixels <= 2048:
            raise bad("pixels", "must lie in 32..2048")
        if self.detail_pixels is not None and not 4 <= self.detail_pixels <= self.pixels:
            raise bad("detail_pixels", f"must lie in 4..pixels ({self.pixels})")
        if self.window not in WINDOWS:
            raise bad("window", f"must be one of {WINDOWS}")
        lo, hi = self.window_hu
        if not lo < hi:
            raise bad("window_hu", "must be (low, high) with low < high")
        if self.tries < 1:
            raise bad("tries", "must be at least 1")


class Reporter(Protocol):
    """Progress of the slow stages (the CLI shows a bar)."""

    def stage(self, label: str, total: int) -> None: ...

    def advance(self) -> None: ...


class Quiet:
    """No progress shown."""

    def stage(self, label: str, total: int) -> None:
        pass

    def advance(self) -> None:
        pass


def seq(seed: int, *key: int) -> np.random.SeedSequence:
    """The seed sequence of one stream: every random choice of a study comes from one."""
    return np.random.SeedSequence([seed, *key])


def rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(seq(seed, *key))


# seed streams (the second number of every SeedSequence)
SELECT, SYNTH, GAIN, NOISE, ORDER, IDS = range(6)
