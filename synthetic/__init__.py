"""Synthetic trees of lists with ground truth, and their evaluation: for tests and benchmarks, not the pipeline."""
