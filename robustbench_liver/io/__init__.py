"""Scan input and output: NIfTI (nibabel) and DICOM series (SimpleITK), in RAS axes."""

from robustbench_liver.io.scan import load_scan, save_nifti
from robustbench_liver.io.volume import Volume, read_volume

__all__ = ["Volume", "load_scan", "read_volume", "save_nifti"]
