"""robustbench-liver: where does a liver-tumor segmentation model break?

A bench of controlled synthetic tumors (Hu et al., "Label-Free Liver Tumor Segmentation",
CVPR 2023) swept out of distribution, with honest statistics.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("robustbench-liver")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
