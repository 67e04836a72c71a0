"""Runs: plan -> cases (cached) -> predictions -> metric rows, resumable, on any executor."""
